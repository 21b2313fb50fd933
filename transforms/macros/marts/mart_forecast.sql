{#- forecast and forecast_by_dimension. Open pipeline at as_of by expected-close period (month
    and quarter; period_start null = no expected close date), rep and canonical stage, with
    rollups ('*'). weighted = amount x probability, the deal's own probability else its
    canonical stage's. by_dimension: the same per configured dimension (see win_rate); on
    PostgreSQL its open deals are first counted per dimension value, rep, stage, month and
    quarter (macro hub_forecast_dimension_mart). -#}
{% macro hub_forecast_mart(by_dimension=false) -%}
{%- if by_dimension is sameas true and target.type == 'postgres' %}
{{ hub_forecast_dimension_mart() }}
{%- else %}
with open_deals as (
    select * from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where is_open
),

periods as (
    select 'month' as period_type, {{ hub_period_start('month', 'expected_close_date') }} as period_start, open_deals.*
    from open_deals
    union all
    select 'quarter' as period_type, {{ hub_period_start('quarter', 'expected_close_date') }} as period_start, open_deals.*
    from open_deals
)

select
    {{ hub_dimension_select(by_dimension) }}
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    {{ hub_rollup('canonical_stage') }} as canonical_stage,
    {{ hub_forecast_figures() }},
    {{ hub_as_of_tz() }} as as_of
from periods
group by {{ hub_grouping_sets(hub_forecast_sets(), by_dimension, all_values=not hub_values_from_plain(by_dimension)) }}
{%- if hub_values_from_plain(by_dimension) %}
{{ hub_all_values_rows('forecast') }}
{%- endif %}
{%- endif %}
{%- endmacro %}

{#- forecast_by_dimension on PostgreSQL: the open deals x dimensions (about a tenth of
    int_deal_dimensions' rows) are counted and summed per dimension value, rep, stage and
    expected-close month (with its quarter) in one hash aggregate, planned alone, so the
    grouping sets sort those groups, not every deal row twice (once per period type). Every
    figure is a sum or count, so sums of these sums are the same numbers; overdue is a
    deal's own test against as_of, counted in the first step. -#}
{% macro hub_forecast_dimension_mart() -%}
with months as{{ hub_planned_alone() }} (
    select
        dimension,
        dimension_value,
        rep_key,
        canonical_stage,
        {{ hub_period_start('month', 'expected_close_date') }} as month_start,
        {{ hub_period_start('quarter', 'expected_close_date') }} as quarter_start,
        {{ hub_forecast_figures() }}
    from ({{ hub_counted_deals_by(true) }}) as deals
    where is_open
    group by dimension, dimension_value, rep_key, canonical_stage, month_start, quarter_start
),

periods as (
    select 'month' as period_type, month_start as period_start, months.*
    from months
    union all
    select 'quarter' as period_type, quarter_start as period_start, months.*
    from months
)

select
    {{ hub_dimension_select(true) }}
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    {{ hub_rollup('canonical_stage') }} as canonical_stage,
    cast(sum(open_count) as bigint) as open_count,
    sum(amount_base) as amount_base,
    sum(weighted_amount_base) as weighted_amount_base,
    cast(sum(n_without_amount_base) as bigint) as n_without_amount_base,
    cast(sum(n_without_probability) as bigint) as n_without_probability,
    cast(sum(n_overdue) as bigint) as n_overdue,
    {{ hub_as_of_tz() }} as as_of
from periods
group by {{ hub_grouping_sets(hub_forecast_sets(), true, all_values=false) }}
{{ hub_all_values_rows('forecast') }}
{%- endmacro %}

{#- The forecast's figures per open deal (or per group of them: the PostgreSQL path sums them
    again), and its rollups, shared by both paths. -#}
{% macro hub_forecast_figures() -%}
count(*) as open_count,
    sum(amount_base) as amount_base,
    sum(weighted_amount_base) as weighted_amount_base,
    sum(case when amount_base is null then 1 else 0 end) as n_without_amount_base,
    sum(case when probability is null then 1 else 0 end) as n_without_probability,
    sum(case when expected_close_date < cast({{ hub_as_of() }} as date) then 1 else 0 end) as n_overdue
{%- endmacro %}

{% macro hub_forecast_sets() -%}
{{ return([
    ['period_type', 'period_start', 'rep_key', 'canonical_stage'],
    ['period_type', 'period_start', 'canonical_stage'],
    ['period_type', 'period_start', 'rep_key'],
    ['period_type', 'period_start'],
]) }}
{%- endmacro %}
