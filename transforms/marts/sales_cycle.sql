{#- Days from created_at to closed_at of deals closed by as_of, per outcome and source (and all
    sources, '*'). -#}
with closed as (
    select
        deals.*,
        case when is_won then 'won' else 'lost' end as outcome,
        {{ hub_days_between('created_at', 'closed_at') }} as cycle_days
    from ({{ hub_counted_deals() }}) as deals
    where is_won or is_lost
)

select
    outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as deal_count,
    avg(cycle_days) as mean_days,
    {{ hub_percentile('cycle_days', 0.5) }} as median_days,
    {{ hub_percentile('cycle_days', 0.9) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
from closed
group by grouping sets ((outcome, source_name), (outcome))
