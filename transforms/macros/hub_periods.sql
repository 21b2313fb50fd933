{#- First day (a date) of the month / quarter / week containing a timestamp or date. -#}
{% macro hub_period_start(period, expr) -%}
    cast({{ dbt.date_trunc(period, expr) }} as date)
{%- endmacro %}

{#- Rows d (date) from start to end inclusive, every step_days; works on DuckDB and PostgreSQL. -#}
{% macro hub_date_series(start_expr, end_expr, step_days=1) -%}
    select cast(series.d as date) as d
    from generate_series(
        cast({{ start_expr }} as timestamp),
        cast({{ end_expr }} as timestamp),
        interval '{{ step_days }} day'
    ) as series(d)
{%- endmacro %}

{#- The deals the metric marts count (int_deals_enriched.is_counted): not deleted, created by
    as_of, and not a duplicate copy of a deal counted instead. -#}
{% macro hub_counted_deals() -%}
    select * from {{ ref('int_deals_enriched') }}
    where is_counted
{%- endmacro %}

{#- '*' where a grouping set rolled a text dimension up. -#}
{% macro hub_rollup(column) -%}
    case when grouping({{ column }}) = 1 then '*' else {{ column }} end
{%- endmacro %}

{#- Text for a number rounded to one decimal (reason strings). -#}
{% macro hub_fmt1(expr) -%}
    cast(round(cast({{ expr }} as decimal(18, 4)), 1) as {{ dbt.type_string() }})
{%- endmacro %}
