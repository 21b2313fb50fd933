{#- The open pipeline as it stood at the end of each day (snapshot_date d = the instant d+1
    00:00 UTC), rebuilt from deal_stage_history: a deal counts on d in the open spell with
    entered_at < d+1 <= exited_at. Days: from the earliest created_at, at most var snapshot_days
    (180) back, to the last day that has ended by as_of. Amounts are today's (no amount history):
    amount_base and amount_base x (the deal's own probability else the spell stage's); deals
    without a base amount count in open_count and n_without_amount_base, not in the sums.
    var snapshot_step_days (default 1; 7 = weekly) thins the spine to every n-th day counted
    back from the last day. Built from +/- deltas and a running sum: the deltas per (source,
    stage, day) are int_pipeline_daily_deltas, kept by day touched (macro hub_groups), so a
    run costs O(days x stages) plus the changed deals' spells. -#}
{%- set step = var('snapshot_step_days', 1) | int -%}
with deals as (
    select * from ({{ hub_counted_deals() }}) as counted
),

bounds as (
    select
        greatest(
            (select cast(min(created_at) as date) from deals),
            cast({{ dbt.dateadd('day', -1 * var('snapshot_days', 180), hub_as_of()) }} as date)
        ) as first_day,
        cast({{ dbt.dateadd('day', -1, hub_as_of()) }} as date) as last_day
),

days as (
    select series.d as snapshot_date
    from ({{ hub_date_series('(select first_day from bounds)', '(select last_day from bounds)', 1) }}) as series
    where {{ dbt.datediff('series.d', '(select last_day from bounds)', 'day') }} % {{ step }} = 0
),

{#- a spell starting after last_day adds nothing to a day of the spine (its end is later
    still), and a (source, stage) with none before it gets no rows -#}
deltas as (
    select
        source_name,
        canonical_stage,
        greatest(delta_day, (select first_day from bounds)) as delta_day,
        delta_count,
        delta_missing,
        delta_amount,
        delta_weighted
    from {{ ref('int_pipeline_daily_deltas') }}
),

daily_deltas as (
    select
        source_name,
        canonical_stage,
        {% if step > 1 -%}
        {#- a change on day x shows in the first spine day on or after x -#}
        cast({{ dbt.dateadd('day', '-' ~ step ~ ' * cast(floor(' ~ dbt.datediff('delta_day', '(select last_day from bounds)', 'day') ~ ' / ' ~ step ~ '.0) as integer)', '(select last_day from bounds)') }} as date) as delta_day,
        {%- else -%}
        delta_day,
        {%- endif %}
        sum(delta_count) as delta_count,
        sum(delta_missing) as delta_missing,
        sum(delta_amount) as delta_amount,
        sum(delta_weighted) as delta_weighted
    from deltas
    group by 1, 2, 3
),

grid as (
    select groups.source_name, groups.canonical_stage, days.snapshot_date
    from (
        select distinct source_name, canonical_stage from {{ ref('int_pipeline_daily_deltas') }}
        where delta_day <= (select last_day from bounds)
    ) as groups
    cross join days
),

running as (
    select
        grid.snapshot_date,
        grid.source_name,
        grid.canonical_stage,
        sum(coalesce(daily_deltas.delta_count, 0)) over w as open_count,
        sum(coalesce(daily_deltas.delta_missing, 0)) over w as n_without_amount_base,
        sum(coalesce(daily_deltas.delta_amount, 0)) over w as amount_base,
        sum(coalesce(daily_deltas.delta_weighted, 0)) over w as weighted_amount_base
    from grid
    left join daily_deltas
        on daily_deltas.source_name = grid.source_name
        and daily_deltas.canonical_stage = grid.canonical_stage
        and daily_deltas.delta_day = grid.snapshot_date
    window w as (
        partition by grid.source_name, grid.canonical_stage order by grid.snapshot_date
        rows between unbounded preceding and current row
    )
)

select
    snapshot_date,
    {{ hub_rollup('source_name') }} as source_name,
    {{ hub_rollup('canonical_stage') }} as canonical_stage,
    sum(open_count) as open_count,
    sum(n_without_amount_base) as n_without_amount_base,
    sum(amount_base) as amount_base,
    sum(weighted_amount_base) as weighted_amount_base,
    {{ hub_as_of_tz() }} as as_of
from running
group by grouping sets (
    (snapshot_date, source_name, canonical_stage),
    (snapshot_date, canonical_stage),
    (snapshot_date)
)
