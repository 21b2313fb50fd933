{#- sales_velocity but what moves with as_of (is_partial_period, as_of), which the mart (a
    view) adds: per period (month and quarter) and rep (and all reps, '*'). Incremental by
    period (macro hub_groups): a run rebuilds only the periods where a fact of
    int_deal_period_facts appeared or disappeared; a full refresh, or a dbt run without the
    hub's var, rebuilds every period. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_touched_groups(ref('int_deal_period_facts'), 'hub_changed_deal_rows', ['period_type', 'period_start']) }}",
) }}

with facts as (
    select
        period_type,
        period_start,
        rep_key,
        case when is_creation then 1 else 0 end as created,
        case when not is_creation and is_won then 1 else 0 end as won,
        case when not is_creation and is_lost then 1 else 0 end as lost,
        case when not is_creation and is_won then amount_base end as won_amount_base,
        case when not is_creation and is_won and has_cycle then cycle_days end as won_cycle_days
    from {{ ref('int_deal_period_facts') }}
    where period_type in ('month', 'quarter') {{ hub_only_touched_groups(['period_type', 'period_start']) }}
),

aggregated as (
    select
        period_type,
        period_start,
        {{ hub_rollup('rep_key') }} as rep_key,
        sum(created) as opportunities,
        sum(won) as won_count,
        sum(lost) as lost_count,
        avg(won_amount_base) as avg_won_amount_base,
        avg(cast(won_cycle_days as double precision)) as avg_won_cycle_days
    from facts
    group by grouping sets ((period_type, period_start, rep_key), (period_type, period_start))
),

rated as (
    select
        aggregated.*,
        {{ hub_ratio('won_count', 'won_count + lost_count') }} as win_rate
    from aggregated
)

select
    period_type,
    period_start,
    rep_key,
    opportunities,
    won_count,
    lost_count,
    win_rate,
    avg_won_amount_base,
    avg_won_cycle_days,
    {{ hub_ratio('opportunities * win_rate * avg_won_amount_base', 'avg_won_cycle_days') }} as velocity_base_per_day
from rated
