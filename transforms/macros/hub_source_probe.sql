{#- The configured sources (var `sources`) that have at least one row in `relation`, a staging
    view unioning each source's table with a constant source_name (macro hub_union_source).
    On PostgreSQL each source is probed for one row (a lateral LIMIT 1: the source_name
    condition prunes every other source's branch and the scan stops at the first row), where
    `select distinct source_name` read every row (every activity, for lead_response_time). -#}
{% macro hub_sources_with_rows(relation) -%}
    {{ return(adapter.dispatch('hub_sources_with_rows', 'hub')(relation)) }}
{%- endmacro %}

{% macro default__hub_sources_with_rows(relation) -%}
    select distinct source_name from {{ relation }}
{%- endmacro %}

{% macro postgres__hub_sources_with_rows(relation) -%}
    {%- set names = var('sources', []) or [] -%}
    {%- if names | length == 0 -%}
    select distinct source_name from {{ relation }}
    {%- else -%}
    select sources.source_name
    from (
        select distinct source_name
        from (values {% for name in names %}(cast('{{ name }}' as {{ dbt.type_string() }})){{ ', ' if not loop.last }}{% endfor %}) as listed (source_name)
    ) as sources
    cross join lateral (
        select 1 as found from {{ relation }} as probed
        where probed.source_name = sources.source_name
        limit 1
    ) as probe
    {%- endif %}
{%- endmacro %}
