{#- sales_cycle, sales_cycle_by_dimension and sales_cycle_by_period. Days from created_at to
    closed_at of deals closed by as_of, per outcome and source (and all sources, '*'). A deal
    whose creation instant was inferred from its close (created_at_source 'closed_at') has no
    cycle to measure and is left out. by_dimension: the same per configured dimension (see
    win_rate). by_period: also per close period (month, quarter, and 'all' with period_start
    NULL) and rep (and all reps, '*'). -#}
{% macro hub_sales_cycle_mart(by_dimension=false, by_period=false) -%}
with closed as (
    select
        deals.*,
        case when is_won then 'won' else 'lost' end as outcome,
        {{ hub_days_between('created_at', 'closed_at') }} as cycle_days
    from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where (is_won or is_lost) and created_at_source <> 'closed_at'
)
{%- if by_period %},

periods as (
    select 'month' as period_type, {{ hub_period_start('month', 'closed_at') }} as period_start, closed.*
    from closed
    union all
    select 'quarter' as period_type, {{ hub_period_start('quarter', 'closed_at') }} as period_start, closed.*
    from closed
    union all
    select 'all' as period_type, cast(null as date) as period_start, closed.*
    from closed
)
{%- endif %}

select
    {{ hub_dimension_select(by_dimension) }}
    {%- if by_period %}
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    {%- endif %}
    outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as deal_count,
    avg(cycle_days) as mean_days,
    {{ hub_percentile_among('cycle_days', 0.5, [0.5, 0.9]) }} as median_days,
    {{ hub_percentile_among('cycle_days', 0.9, [0.5, 0.9]) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
{%- if by_period %}
from periods
group by {{ hub_grouping_sets([
    ['period_type', 'period_start', 'rep_key', 'outcome', 'source_name'],
    ['period_type', 'period_start', 'rep_key', 'outcome'],
    ['period_type', 'period_start', 'outcome', 'source_name'],
    ['period_type', 'period_start', 'outcome'],
], by_dimension) }}
{%- else %}
from closed
group by {{ hub_grouping_sets([['outcome', 'source_name'], ['outcome']], by_dimension) }}
{%- endif %}
{%- endmacro %}
