{#- Tables the hub's account resolution and duplicate detection write before dbt runs
    (hub_account_resolution, hub_deal_duplicates, declared in staging/_hub__sources.yml).
    Resolution may not have run (an older hub, duplicates switched off, a warehouse that has
    never been synced), so a missing table, or a missing column, reads as typed empty / NULL,
    the way hub_union_source treats a source's missing tables (both read through
    hub_typed_select, macros/hub_relation.sql). -#}
{% macro hub_optional_table(name, columns) -%}
    {%- set declared = source('hub', name) -%}
    {%- set relation = adapter.get_relation(database=declared.database, schema=declared.schema, identifier=declared.identifier) if execute else none -%}
    {{ hub_typed_select(relation, columns) }}
{%- endmacro %}
