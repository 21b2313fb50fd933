{#- custom_fields (JSON objects keyed by column name) on DuckDB and PostgreSQL. Staging keeps
    the column as the warehouse's JSON type; the typed field marts read one key at a time. -#}

{#- The JSON type staging casts custom_fields to (DuckDB json, PostgreSQL jsonb). -#}
{% macro hub_json_type() -%}
    {{ return(adapter.dispatch('hub_json_type', 'hub')()) }}
{%- endmacro %}

{% macro default__hub_json_type() -%}jsonb{%- endmacro %}

{% macro duckdb__hub_json_type() -%}json{%- endmacro %}

{#- The value under `key` as text (a JSON string unquoted, a number or boolean as written,
    NULL for a missing key or JSON null). -#}
{% macro hub_json_text(expr, key) -%}
    {{ return(adapter.dispatch('hub_json_text', 'hub')(expr, key)) }}
{%- endmacro %}

{% macro default__hub_json_text(expr, key) -%}
    ({{ expr }} ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__hub_json_text(expr, key) -%}
    json_extract_string({{ expr }}, '$."{{ key }}"')
{%- endmacro %}

{#- A custom field's text value in the field's SQL type (hub_field_sql_type). Values were typed
    by the connectors (connectors/values.py custom_value); the patterns below only keep a
    value that does not fit from failing the whole build: it reads as NULL. -#}
{% macro hub_json_typed(expr, key, sql_type) -%}
    {%- set raw = hub_json_text(expr, key) -%}
    {%- if sql_type == 'double precision' -%}
        case when {{ raw }} ~ '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$' then cast({{ raw }} as double precision) end
    {%- elif sql_type == 'boolean' -%}
        case lower({{ raw }}) when 'true' then true when 'false' then false end
    {%- elif sql_type == 'date' -%}
        case when {{ raw }} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then cast({{ raw }} as date) end
    {%- elif sql_type == 'timestamp with time zone' -%}
        case when {{ raw }} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}' then {{ hub_tz(hub_utc(raw)) }} end
    {%- else -%}
        cast({{ raw }} as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}
