{#- Column contract of every src_<name> table: models/canonical.py. custom_fields (deals and
    accounts) is the warehouse's JSON type (hub_json_type). tests/transforms/test_foundation.py
    checks every pydantic field reaches staging. -#}
{% macro hub_canonical_columns(table) -%}
    {%- set text = dbt.type_string() -%}
    {%- set ts = 'timestamp' -%}
    {%- set common = [('source_name', text), ('crm', text)] -%}
    {%- set columns = {
        'deals': common + [
            ('deal_key', text), ('source_deal_id', text), ('name', text), ('pipeline_id', text),
            ('stage_id', text), ('status', text), ('amount', 'decimal(38,9)'), ('currency', text),
            ('probability', 'double precision'), ('owner_id', text), ('account_id', text),
            ('account_name', text), ('account_key', text), ('created_at', ts), ('expected_close_date', 'date'),
            ('closed_at', ts), ('lost_reason', text), ('updated_at', ts), ('stage_changed_at', ts),
            ('is_deleted', 'boolean'), ('custom_fields', hub_json_type())],
        'pipelines': common + [
            ('pipeline_key', text), ('pipeline_id', text), ('label', text),
            ('display_order', 'bigint'), ('is_deleted', 'boolean')],
        'stages': common + [
            ('stage_key', text), ('pipeline_id', text), ('stage_id', text), ('label', text),
            ('display_order', 'bigint'), ('probability', 'double precision'),
            ('is_closed', 'boolean'), ('is_won', 'boolean'), ('is_deleted', 'boolean')],
        'stage_changes': common + [
            ('deal_key', text), ('changed_at', ts), ('stage_id', text), ('from_stage_id', text),
            ('pipeline_id', text), ('changed_by', text), ('origin', text)],
        'activities': common + [
            ('activity_key', text), ('source_activity_id', text), ('type', text), ('subject', text),
            ('occurred_at', ts), ('completed', 'boolean'), ('owner_id', text), ('deal_key', text),
            ('duration_s', 'bigint'), ('direction', text), ('outcome', text), ('updated_at', ts),
            ('is_deleted', 'boolean')],
        'owners': common + [
            ('owner_key', text), ('source_owner_id', text), ('name', text), ('email', text),
            ('team', text), ('is_active', 'boolean')],
        'accounts': common + [
            ('account_key', text), ('source_account_id', text), ('name', text), ('website', text),
            ('domain', text), ('industry', text), ('country', text), ('owner_id', text),
            ('created_at', ts), ('updated_at', ts), ('is_deleted', 'boolean'),
            ('custom_fields', hub_json_type())],
        'deal_accounts': common + [
            ('deal_key', text), ('account_key', text), ('is_primary', 'boolean'), ('label', text)],
        'field_definitions': common + [
            ('field_key', text), ('entity', text), ('column_name', text), ('source_field', text),
            ('label', text), ('data_type', text)],
        'stage_observations': common + [
            ('deal_key', text), ('pipeline_id', text), ('stage_id', text), ('observed_at', ts)],
    } -%}
    {{ return(columns[table]) }}
{%- endmacro %}

{#- One typed SELECT per configured source, UNION ALL'd. A missing table (or a missing column,
    e.g. one dlt never created) becomes typed NULLs, so a source that has sent no activities
    yet still builds (hub_typed_select, macros/hub_relation.sql). source_name is the configured
    name (the schema is per source). -#}
{% macro hub_union_source(table) -%}
    {%- set columns = hub_canonical_columns(table) -%}
    {%- set parts = [] -%}
    {%- for name in var('sources', []) -%}
        {%- set relation = adapter.get_relation(database=target.database, schema='src_' ~ name, identifier=table) if execute else none -%}
        {%- set configured_name = "cast('" ~ name ~ "' as " ~ dbt.type_string() ~ ")" -%}
        {%- do parts.append(hub_typed_select(relation, columns, {'source_name': configured_name})) -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%}
        {%- do parts.append(hub_typed_select(none, columns)) -%}
    {%- endif -%}
    {{ parts | join("\n    union all\n    ") }}
{%- endmacro %}
