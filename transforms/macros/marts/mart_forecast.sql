{#- forecast and forecast_by_dimension. Open pipeline at as_of by expected-close period (month
    and quarter; period_start null = no expected close date), rep and canonical stage, with
    rollups ('*'). weighted = amount x probability, the deal's own probability else its
    canonical stage's. by_dimension: the same per configured dimension (see win_rate). -#}
{% macro hub_forecast_mart(by_dimension=false) -%}
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
    count(*) as open_count,
    sum(amount_base) as amount_base,
    sum(weighted_amount_base) as weighted_amount_base,
    sum(case when amount_base is null then 1 else 0 end) as n_without_amount_base,
    sum(case when probability is null then 1 else 0 end) as n_without_probability,
    sum(case when expected_close_date < cast({{ hub_as_of() }} as date) then 1 else 0 end) as n_overdue,
    {{ hub_as_of_tz() }} as as_of
from periods
group by {{ hub_grouping_sets([
    ['period_type', 'period_start', 'rep_key', 'canonical_stage'],
    ['period_type', 'period_start', 'canonical_stage'],
    ['period_type', 'period_start', 'rep_key'],
    ['period_type', 'period_start'],
], by_dimension, all_values=not hub_values_from_plain(by_dimension)) }}
{%- if hub_values_from_plain(by_dimension) %}
{{ hub_all_values_rows('forecast') }}
{%- endif %}
{%- endmacro %}
