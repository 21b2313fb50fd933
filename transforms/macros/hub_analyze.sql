{#- Post-hook of every model (dbt_project.yml): on PostgreSQL, ANALYZE a table dbt just built
    (or an incremental model it just changed), so the models built next are planned with
    statistics. Without them the planner guessed a 7-row table at 690 rows and chose plans
    that spilled tens of gigabytes at 1M deals; autovacuum analyzes only later. Nothing on
    other warehouses (DuckDB keeps its statistics as it writes) and nothing for views. -#}
{% macro hub_analyze() -%}
    {%- if target.type == 'postgres' and model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
