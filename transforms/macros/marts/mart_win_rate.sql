{#- win_rate and win_rate_by_dimension. Won and lost deals per close period (month and
    quarter, and period_type 'all' with period_start NULL: all time), rep, source and
    pipeline, with rollups ('*'). win_rate = won / (won + lost) by
    count; win_rate_by_value the same on amount_base, over deals with a known base amount.
    Closed deals only (closed_at <= as_of). by_dimension: the same per configured dimension
    (columns dimension, dimension_value first; every grouping set also with the value '*'),
    from the months kept by int_win_rate_dimension_months (the same counting step, per
    dimension value, kept as sums). -#}
{% macro hub_win_rate_mart(by_dimension=false) -%}
{%- set dims = 'dimension, dimension_value, ' if by_dimension else '' -%}
{%- if by_dimension == true %}
{#- per dimension: the months are kept as sums, updated by the changed deals alone -#}
with months as (
    select
        dimension,
        dimension_value,
        rep_key,
        source_name,
        pipeline_key,
        month_start,
        quarter_start,
        won_count,
        lost_count,
        n_rows as closed_count,
        won_amount_base,
        lost_amount_base,
        n_closed_without_amount_base
    from {{ ref('int_win_rate_dimension_months') }}
),
{%- else %}
with closed as (
    select * from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where is_won or is_lost
),

{#- Closed deals counted once per month and grouping columns, before the periods and the
    grouping sets multiply the rows (a quarter and all time are sums of months). -#}
months as (
    select
        {{ dims }}
        rep_key,
        source_name,
        pipeline_key,
        {{ hub_period_start('month', 'closed_at') }} as month_start,
        {{ hub_period_start('quarter', 'closed_at') }} as quarter_start,
        sum(case when is_won then 1 else 0 end) as won_count,
        sum(case when is_lost then 1 else 0 end) as lost_count,
        count(*) as closed_count,
        sum(case when is_won then amount_base end) as won_amount_base,
        sum(case when is_lost then amount_base end) as lost_amount_base,
        sum(case when amount_base is null then 1 else 0 end) as n_closed_without_amount_base
    from closed
    group by {{ dims }}rep_key, source_name, pipeline_key, month_start, quarter_start
),
{%- endif %}

periods as (
    select 'month' as period_type, month_start as period_start, months.*
    from months
    union all
    select 'quarter' as period_type, quarter_start as period_start, months.*
    from months
    union all
    select 'all' as period_type, cast(null as date) as period_start, months.*
    from months
),

aggregated as (
    select
        {{ hub_dimension_select(by_dimension) }}
        period_type,
        period_start,
        {{ hub_rollup('rep_key') }} as rep_key,
        {{ hub_rollup('source_name') }} as source_name,
        {{ hub_rollup('pipeline_key') }} as pipeline_key,
        cast(sum(won_count) as bigint) as won_count,
        cast(sum(lost_count) as bigint) as lost_count,
        cast(sum(closed_count) as bigint) as closed_count,
        sum(won_amount_base) as won_amount_base,
        sum(lost_amount_base) as lost_amount_base,
        cast(sum(n_closed_without_amount_base) as bigint) as n_closed_without_amount_base
    from periods
    group by {{ hub_grouping_sets([
        ['period_type', 'period_start', 'rep_key', 'source_name', 'pipeline_key'],
        ['period_type', 'period_start', 'rep_key'],
        ['period_type', 'period_start', 'source_name', 'pipeline_key'],
        ['period_type', 'period_start', 'source_name'],
        ['period_type', 'period_start'],
    ], by_dimension) }}
)

select
    {{ hub_dimension_passthrough(by_dimension) }}
    period_type,
    period_start,
    rep_key,
    source_name,
    pipeline_key,
    won_count,
    lost_count,
    closed_count,
    {{ hub_ratio('won_count', 'won_count + lost_count') }} as win_rate,
    won_amount_base,
    lost_amount_base,
    {{ hub_ratio('coalesce(won_amount_base, 0)', 'coalesce(won_amount_base, 0) + coalesce(lost_amount_base, 0)') }} as win_rate_by_value,
    n_closed_without_amount_base,
    {{ hub_as_of_tz() }} as as_of
from aggregated
{%- endmacro %}
