{#- Tables the hub's account resolution and duplicate detection write before dbt runs
    (hub_account_resolution, hub_deal_duplicates, declared in staging/_hub__sources.yml).
    Resolution may not have run (an older hub, duplicates switched off, a warehouse that has
    never been synced), so a missing table, or a missing column, reads as typed empty / NULL,
    the way hub_union_source treats a source's missing tables. -#}
{% macro hub_optional_table(name, columns) -%}
    {%- set declared = source('hub', name) -%}
    {%- set relation = adapter.get_relation(database=declared.database, schema=declared.schema, identifier=declared.identifier) if execute else none -%}
    {%- set present = [] -%}
    {%- if relation is not none -%}
        {%- for col in adapter.get_columns_in_relation(relation) -%}
            {%- do present.append(col.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set cols = [] -%}
    {%- for col_name, col_type in columns -%}
        {%- if col_name in present -%}
            {%- do cols.append("cast(" ~ adapter.quote(col_name) ~ " as " ~ col_type ~ ") as " ~ col_name) -%}
        {%- else -%}
            {%- do cols.append("cast(null as " ~ col_type ~ ") as " ~ col_name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if relation is not none -%}
        select {{ cols | join(", ") }} from {{ relation }}
    {%- else -%}
        select {{ cols | join(", ") }} where 1 = 0
    {%- endif -%}
{%- endmacro %}
