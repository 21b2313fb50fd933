{#- Reading a table the hub may not have written yet (a source never synced, resolution never
    run, a column dlt never created). hub_union_source and hub_optional_table both go through
    these two macros, so a missing table or column reads the same way everywhere. -#}

{#- The lower-cased column names of `relation`, or none when there is no relation (it does not
    exist, or dbt is only parsing). -#}
{% macro hub_relation_columns(relation) -%}
    {%- if relation is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}

{#- SELECT of `columns` ([(name, type)]) from `relation`, which may be none: a present column
    is cast to its type (a timestamp read as naive UTC, hub_utc), a missing one is a typed
    NULL, a missing relation gives no rows. `fixed` maps a column to the expression it is
    instead (a source's configured name). -#}
{% macro hub_typed_select(relation, columns, fixed={}) -%}
    {%- set present = hub_relation_columns(relation) or [] -%}
    {%- set cols = [] -%}
    {%- for col_name, col_type in columns -%}
        {%- if col_name in fixed -%}
            {%- do cols.append(fixed[col_name] ~ " as " ~ col_name) -%}
        {%- elif col_name in present and col_type == 'timestamp' -%}
            {%- do cols.append(hub_utc(adapter.quote(col_name)) ~ " as " ~ col_name) -%}
        {%- elif col_name in present -%}
            {%- do cols.append("cast(" ~ adapter.quote(col_name) ~ " as " ~ col_type ~ ") as " ~ col_name) -%}
        {%- else -%}
            {%- do cols.append("cast(null as " ~ col_type ~ ") as " ~ col_name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if relation is not none -%}
        {{ return("select " ~ cols | join(", ") ~ " from " ~ relation) }}
    {%- endif -%}
    {{ return("select " ~ cols | join(", ") ~ " where 1 = 0") }}
{%- endmacro %}
