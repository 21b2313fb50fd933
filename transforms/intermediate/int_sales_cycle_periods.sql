{#- sales_cycle_by_period but as_of, which the mart (a view) adds: per close period (month,
    quarter, and 'all' = all time), rep and outcome, with rollups ('*'); the rules are those of
    macro hub_sales_cycle_mart, computed from int_deal_period_facts. Incremental by period
    (macro hub_groups): a run rebuilds only the periods where a fact appeared or disappeared
    (the all-time period whenever any closed deal's did); a full refresh, or a dbt run without
    the hub's var, rebuilds every period. On PostgreSQL the groups come from the cycles kept
    counted per day (int_sales_cycle_day_counts), the percentiles from the cycles of the days
    holding their ranks alone (macro hub_cycle_percentiles); DuckDB sorts each group once and
    keeps quantile_cont. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ hub_delete_touched_groups(ref('int_deal_period_facts'), 'hub_changed_deal_rows', ['period_type', 'period_start']) }}",
        "{{ hub_ranked_percentiles_plan() }}",
    ],
) }}

{%- if target.type == 'postgres' %}
{{ hub_cycle_percentiles(ref('int_sales_cycle_day_counts'), ref('int_deal_period_facts')) }}
{%- else %}

with closed as (
    select
        period_type,
        period_start,
        rep_key,
        case when is_won then 'won' else 'lost' end as outcome,
        source_name,
        cycle_days
    from {{ ref('int_deal_period_facts') }}
    where not is_creation and has_cycle {{ hub_only_touched_groups(['period_type', 'period_start']) }}
)

select
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as deal_count,
    avg(cycle_days) as mean_days,
    {{ hub_percentile_among('cycle_days', 0.5, [0.5, 0.9]) }} as median_days,
    {{ hub_percentile_among('cycle_days', 0.9, [0.5, 0.9]) }} as p90_days
from closed
group by grouping sets (
    (period_type, period_start, rep_key, outcome, source_name),
    (period_type, period_start, rep_key, outcome),
    (period_type, period_start, outcome, source_name),
    (period_type, period_start, outcome)
)
{%- endif %}
