{#- The custom-field catalog, read at compile time: which typed columns deal_fields and
    account_fields have. docs/metrics.md "Custom fields" states the rules. -#}

{#- SQL type of a field's data_type (stg_field_definitions.data_type). -#}
{% macro hub_field_sql_type(data_type) -%}
    {%- set types = {
        'number': 'double precision',
        'date': 'date',
        'datetime': 'timestamp with time zone',
        'bool': 'boolean',
    } -%}
    {{ return(types.get(data_type, dbt.type_string())) }}
{%- endmacro %}

{#- Key columns of the typed field tables; a custom field of the same name is renamed. -#}
{% macro hub_field_key_columns(entity) -%}
    {{ return({'deal': ['deal_key', 'source_name'], 'account': ['account_key', 'source_name']}[entity]) }}
{%- endmacro %}

{#- One entry per distinct column_name of `entity` ('deal' / 'account') across the configured
    sources, in name order: {column_name, output_name, sql_type, sources}. A name whose sources
    disagree on the SQL type is text (enum and text agree: both are text). The catalog is read
    from the sources' field_definitions tables directly (not the staging view), so it is
    right whether or not staging has been built yet. Empty while parsing. -#}
{% macro hub_field_catalog(entity) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select column_name, lower(data_type) as data_type, source_name
        from ({{ hub_union_source('field_definitions') }}) as definitions
        where entity = '{{ entity }}' and column_name is not null
        order by column_name, source_name
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- set by_name = {} -%}
    {%- set names = [] -%}
    {%- for row in rows -%}
        {%- if row[0] not in by_name -%}
            {%- do names.append(row[0]) -%}
            {%- do by_name.update({row[0]: {'types': [], 'sources': []}}) -%}
        {%- endif -%}
        {%- set sql_type = hub_field_sql_type(row[1]) -%}
        {%- if sql_type not in by_name[row[0]]['types'] -%}
            {%- do by_name[row[0]]['types'].append(sql_type) -%}
        {%- endif -%}
        {%- if row[2] not in by_name[row[0]]['sources'] -%}
            {%- do by_name[row[0]]['sources'].append(row[2]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set keys = hub_field_key_columns(entity) -%}
    {%- set catalog = [] -%}
    {%- for name in names -%}
        {%- set types = by_name[name]['types'] -%}
        {%- do catalog.append({
            'column_name': name,
            'output_name': 'field_' ~ name if name in keys else name,
            'sql_type': types[0] if types | length == 1 else dbt.type_string(),
            'sources': by_name[name]['sources'],
        }) -%}
    {%- endfor -%}
    {{ return(catalog) }}
{%- endmacro %}

{#- The body of deal_fields / account_fields: the key columns plus one typed column per
    catalog entry, read from custom_fields of the sources that define the field. -#}
{% macro hub_typed_fields(entity, relation, key) -%}
    {%- set catalog = hub_field_catalog(entity) -%}
    {%- set configured = var('sources', []) -%}
    select
        {{ key }},
        source_name
        {%- for field in catalog %},
        {%- set value = hub_json_typed('custom_fields', field.column_name, field.sql_type) %}
        {%- if field.sources | length < configured | length %}
        case when source_name in ('{{ field.sources | join("', '") }}') then {{ value }} end as {{ adapter.quote(field.output_name) }}
        {%- else %}
        {{ value }} as {{ adapter.quote(field.output_name) }}
        {%- endif %}
        {%- endfor %}
    from {{ relation }}
{%- endmacro %}
