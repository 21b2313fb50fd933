{#- When the hub's loader last wrote each deal row: dlt stamps every row with its load id
    (_dlt_load_id) and keeps each load's time in _dlt_loads.inserted_at. int_deal_created reads
    it as the last resort for a deal with no dated fact and no stage observation (a deal
    without a stage is never observed). A source without those dlt columns contributes no
    rows. -#}
{%- set parts = [] -%}
{%- for name in var('sources', []) -%}
    {%- set schema = 'src_' ~ name -%}
    {%- set deals = adapter.get_relation(database=target.database, schema=schema, identifier='deals') if execute else none -%}
    {%- set loads = adapter.get_relation(database=target.database, schema=schema, identifier='_dlt_loads') if execute else none -%}
    {%- if deals is not none and loads is not none -%}
        {%- set deal_columns = adapter.get_columns_in_relation(deals) | map(attribute='name') | map('lower') | list -%}
        {%- set load_columns = adapter.get_columns_in_relation(loads) | map(attribute='name') | map('lower') | list -%}
        {%- if '_dlt_load_id' in deal_columns and 'load_id' in load_columns and 'inserted_at' in load_columns -%}
            {%- do parts.append(
                "select cast(deals.deal_key as " ~ dbt.type_string() ~ ") as deal_key, "
                ~ "cast('" ~ name ~ "' as " ~ dbt.type_string() ~ ") as source_name, "
                ~ hub_utc('loads.inserted_at') ~ " as loaded_at "
                ~ "from " ~ deals ~ " as deals inner join " ~ loads ~ " as loads "
                ~ "on loads.load_id = deals._dlt_load_id") -%}
        {%- endif -%}
    {%- endif -%}
{%- endfor -%}
{%- if parts | length == 0 -%}
select
    cast(null as {{ dbt.type_string() }}) as deal_key,
    cast(null as {{ dbt.type_string() }}) as source_name,
    cast(null as timestamp) as loaded_at
where 1 = 0
{%- else -%}
{{ parts | join("\nunion all\n") }}
{%- endif %}
