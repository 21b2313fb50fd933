{#- sales_cycle_by_dimension (sales_cycle_by_period applies the same rules per close period:
    int_sales_cycle_periods, whose all-time, all-reps rows are the sales_cycle mart). Days from created_at to
    closed_at of deals closed by as_of, per outcome and source (and all sources, '*'). A deal
    whose creation instant was inferred from its close (created_at_source 'closed_at') has no
    cycle to measure and is left out. by_dimension: the same per configured dimension (see
    win_rate). -#}
{% macro hub_sales_cycle_mart(by_dimension=false) -%}
with closed as (
    select
        deals.*,
        case when is_won then 'won' else 'lost' end as outcome,
        {{ hub_days_between('created_at', 'closed_at') }} as cycle_days
    from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where (is_won or is_lost) and created_at_source <> 'closed_at'
)

select
    {{ hub_dimension_select(by_dimension) }}
    outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as deal_count,
    avg(cycle_days) as mean_days,
    {{ hub_percentile_among('cycle_days', 0.5, [0.5, 0.9]) }} as median_days,
    {{ hub_percentile_among('cycle_days', 0.9, [0.5, 0.9]) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
from closed
group by {{ hub_grouping_sets([['outcome', 'source_name'], ['outcome']], by_dimension, all_values=not hub_values_from_plain(by_dimension)) }}
{%- if hub_values_from_plain(by_dimension) %}
{{ hub_all_values_rows('sales_cycle') }}
{%- endif %}
{%- endmacro %}
