{#- sales_cycle_by_dimension (sales_cycle_by_period applies the same rules per close period:
    int_sales_cycle_periods, whose all-time, all-reps rows are the sales_cycle mart). Days from created_at to
    closed_at of deals closed by as_of, per outcome and source (and all sources, '*'). A deal
    whose creation instant was inferred from its close (created_at_source 'closed_at') has no
    cycle to measure and is left out. by_dimension: the same per configured dimension (see
    win_rate). On PostgreSQL the per-dimension percentiles are found by bucket (macro
    hub_ranked_percentiles), starting from the closed deals' counts per dimension value,
    outcome, source and whole day that int_sales_cycle_dimension_day_counts keeps as sums,
    rather than by sorting every closed deal x dimension in both grouping sets. -#}
{% macro hub_sales_cycle_mart(by_dimension=false) -%}
{%- if by_dimension is sameas true and target.type == 'postgres' %}
{{ hub_sales_cycle_dimension_ranked() }}
{%- else %}
with closed as (
    select
        deals.*,
        case when is_won then 'won' else 'lost' end as outcome,
        {{ hub_days_between('created_at', 'closed_at') }} as cycle_days
    from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where (is_won or is_lost) and created_at_source <> 'closed_at'
)

select
    {{ hub_dimension_select(by_dimension) }}
    outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as deal_count,
    avg(cycle_days) as mean_days,
    {{ hub_percentile_among('cycle_days', 0.5, [0.5, 0.9]) }} as median_days,
    {{ hub_percentile_among('cycle_days', 0.9, [0.5, 0.9]) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
from closed
group by {{ hub_grouping_sets([['outcome', 'source_name'], ['outcome']], by_dimension, all_values=not hub_values_from_plain(by_dimension)) }}
{%- if hub_values_from_plain(by_dimension) %}
{{ hub_all_values_rows('sales_cycle') }}
{%- endif %}
{%- endif %}
{%- endmacro %}

{#- sales_cycle_by_dimension's rows on PostgreSQL (grouping_id 1: source rolled up), then the
    all-values rows copied from sales_cycle. The mean is the exact sum of days over the
    count (avg() sums floats in scan order), so incremental and full builds agree. -#}
{% macro hub_sales_cycle_dimension_ranked() -%}
select
    dimension,
    dimension_value,
    outcome,
    case when grouping_id % 2 = 1 then '*' else source_name end as source_name,
    n as deal_count,
    mean_value as mean_days,
    median_days,
    p90_days,
    {{ hub_as_of_tz() }} as as_of
from (
    {{ hub_ranked_percentiles(
        '(' ~ hub_cycle_dimension_rows(ref('int_deal_dimensions')) ~ ')',
        ['dimension', 'dimension_value', 'outcome'], ['source_name'], 'cycle_days', 'cycle_days', 'cycle_day',
        [('median_days', 0.5), ('p90_days', 0.9)],
        ref('int_sales_cycle_dimension_day_counts')) }}
) as ranked
{{ hub_all_values_rows('sales_cycle') }}
{%- endmacro %}

{#- The closed counted deals of `relation` (int_deal_dimensions or its stashed old rows) with
    a cycle to measure, as the mart above selects them: dimension, value, outcome, source,
    cycle_days (double precision, as the percentiles order it) and its whole days. -#}
{% macro hub_cycle_dimension_rows(relation, where='true') -%}
    select
        dimension,
        dimension_value,
        outcome,
        source_name,
        cycle_days,
        cast(floor(cycle_days) as bigint) as cycle_day
    from (
        select
            dimension,
            dimension_value,
            case when is_won then 'won' else 'lost' end as outcome,
            source_name,
            cast({{ hub_days_between('created_at', 'closed_at') }} as double precision) as cycle_days
        from {{ relation }}
        where is_counted and (is_won or is_lost) and created_at_source <> 'closed_at' and {{ where }}
    ) as closed
{%- endmacro %}

{#- int_sales_cycle_dimension_day_counts' measures of hub_cycle_dimension_rows, times `sign`
    (macro hub_group_delta_rows; a full build sums them with sign 1). -#}
{% macro hub_cycle_dimension_day_rows(relation, sign, where) -%}
    select
        dimension,
        dimension_value,
        outcome,
        source_name,
        cycle_day,
        {{ hub_day_count_measures_of('cycle_days', 'cycle_days', sign) }}
    from ({{ hub_cycle_dimension_rows(relation, where) }}) as cycle_rows
{%- endmacro %}
