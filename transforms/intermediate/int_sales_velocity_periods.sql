{#- sales_velocity but what moves with as_of (is_partial_period, as_of), which the mart (a
    view) adds: per period (month and quarter) and rep (and all reps, '*'). Kept as sums
    (macro hub_group_sums): a run adds the changed deals' new int_deal_period_facts rows and
    subtracts their old ones in the groups they touch, reading no other deal; the averages
    are the kept sums over the kept counts (n_won_amount, n_won_cycle), n_facts > 0 says a
    group still has facts. A full refresh, or a dbt run without the hub's var, sums every
    row. -#}
{%- set groups = ['period_type', 'period_start', 'rep_key'] %}
{%- set measures = ['n_facts', 'opportunities', 'won_count', 'lost_count', 'won_amount_sum', 'n_won_amount', 'won_cycle_seconds', 'n_won_cycle'] %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_keep_group_sums(hub_group_delta_rows(ref('int_deal_period_facts'), 'hub_changed_deal_rows', hub_velocity_rows), "
        ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
) }}

with aggregated as (
    select
        period_type,
        period_start,
        {%- if hub_groups_incremental() %}
        rep_key,
        {%- else %}
        {{ hub_rollup('rep_key') }} as rep_key,
        {%- endif %}
        cast(sum(n_facts) as bigint) as n_facts,
        cast(sum(opportunities) as bigint) as opportunities,
        cast(sum(won_count) as bigint) as won_count,
        cast(sum(lost_count) as bigint) as lost_count,
        {{ hub_kept_sum('won_amount_sum', 'n_won_amount') }} as won_amount_sum,
        cast(sum(n_won_amount) as bigint) as n_won_amount,
        cast({{ hub_kept_sum('won_cycle_seconds', 'n_won_cycle') }} as bigint) as won_cycle_seconds,
        cast(sum(n_won_cycle) as bigint) as n_won_cycle
    {%- if hub_groups_incremental() %}
    from ({{ hub_kept_and_deltas(groups + measures) }}) as summed_rows
    group by period_type, period_start, rep_key
    {%- else %}
    from ({{ hub_velocity_rows(ref('int_deal_period_facts'), 1, 'true', rollup=false) }}) as summed_rows
    group by grouping sets ((period_type, period_start, rep_key), (period_type, period_start))
    {%- endif %}
    having sum(n_facts) > 0
),

averaged as (
    select
        aggregated.*,
        {{ hub_ratio('won_count', 'won_count + lost_count') }} as win_rate,
        case when n_won_amount = 0 then null else won_amount_sum / n_won_amount end as avg_won_amount_base,
        {{ hub_ratio('won_cycle_seconds', 'n_won_cycle * 86400.0') }} as avg_won_cycle_days
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
    {{ hub_ratio('opportunities * win_rate * avg_won_amount_base', 'avg_won_cycle_days') }} as velocity_base_per_day,
    n_facts,
    won_amount_sum,
    n_won_amount,
    won_cycle_seconds,
    n_won_cycle
from averaged
