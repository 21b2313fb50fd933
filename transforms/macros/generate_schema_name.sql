{#- Schemas are used literally (hub_staging, analytics, outbound), not prefixed with the
    target schema: the hub and its users query them by these names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
