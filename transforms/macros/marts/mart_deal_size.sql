{#- deal_size and deal_size_by_dimension. Won deals per close period (month and quarter, and
    period_type 'all' with period_start NULL: all time), rep and source, with rollups ('*'): bookings, mean / median / largest won amount, in base
    currency. by_dimension: the same per configured dimension (see win_rate). -#}
{% macro hub_deal_size_mart(by_dimension=false) -%}
with won as (
    select * from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where is_won
),

periods as (
    select 'month' as period_type, {{ hub_period_start('month', 'closed_at') }} as period_start, won.*
    from won
    union all
    select 'quarter' as period_type, {{ hub_period_start('quarter', 'closed_at') }} as period_start, won.*
    from won
    union all
    select 'all' as period_type, cast(null as date) as period_start, won.*
    from won
)

select
    {{ hub_dimension_select(by_dimension) }}
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as won_count,
    sum(amount_base) as bookings_base,
    avg(amount_base) as mean_won_amount_base,
    {{ hub_percentile('amount_base', 0.5) }} as median_won_amount_base,
    max(amount_base) as largest_won_amount_base,
    sum(case when amount_base is null then 1 else 0 end) as n_won_without_amount_base,
    {{ hub_as_of_tz() }} as as_of
from periods
group by {{ hub_grouping_sets([
    ['period_type', 'period_start', 'rep_key', 'source_name'],
    ['period_type', 'period_start', 'rep_key'],
    ['period_type', 'period_start', 'source_name'],
    ['period_type', 'period_start'],
], by_dimension, all_values=not hub_values_from_plain(by_dimension)) }}
{%- if hub_values_from_plain(by_dimension) %}
{{ hub_all_values_rows('deal_size') }}
{%- endif %}
{%- endmacro %}
