{#- The open pipeline as it stood at the end of each day (snapshot_date d = the instant d+1
    00:00 UTC), rebuilt from deal_stage_history: a deal counts on d in the open spell with
    entered_at < d+1 <= exited_at. Days: from the earliest created_at, at most var snapshot_days
    (180) back, to the last day that has ended by as_of. Amounts are today's (no amount history):
    amount_base and amount_base x (the deal's own probability else the spell stage's); deals
    without a base amount count in open_count and n_without_amount_base, not in the sums.
    var snapshot_step_days (default 1; 7 = weekly) thins the spine to every n-th day counted
    back from the last day. Built from +/- deltas and a running sum, so its cost is
    O(spells + days x stages). -#}
{%- set step = var('snapshot_step_days', 1) | int -%}
with deals as (
    select * from ({{ hub_counted_deals() }}) as counted
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
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

spells as (
    select
        spells.deal_key,
        spells.source_name,
        spells.canonical_stage,
        cast(spells.entered_at as date) as start_day,
        cast(spells.exited_at as date) as end_day,
        deals.amount_base,
        cast(deals.amount_base * coalesce(deals.deal_probability, canonical.stage_probability) as decimal(38, 6)) as weighted_amount_base
    from {{ ref('int_deal_stage_spells') }} as spells
    inner join deals on deals.deal_key = spells.deal_key
    left join canonical on canonical.canonical_stage = spells.canonical_stage
    where spells.is_open_stage
),

deltas as (
    select
        source_name,
        canonical_stage,
        greatest(start_day, (select first_day from bounds)) as delta_day,
        1 as delta_count,
        case when amount_base is null then 1 else 0 end as delta_missing,
        amount_base as delta_amount,
        weighted_amount_base as delta_weighted
    from spells
    where start_day <= (select last_day from bounds)
    union all
    select
        source_name,
        canonical_stage,
        greatest(end_day, (select first_day from bounds)) as delta_day,
        -1 as delta_count,
        case when amount_base is null then -1 else 0 end as delta_missing,
        -amount_base as delta_amount,
        -weighted_amount_base as delta_weighted
    from spells
    where end_day is not null and start_day <= (select last_day from bounds)
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
    from (select distinct source_name, canonical_stage from deltas) as groups
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
