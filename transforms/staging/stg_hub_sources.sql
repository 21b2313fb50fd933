{#- A table, not a view: DuckDB cannot bind a view on schema 'hub' when the database file is
    itself named hub.duckdb (catalog and schema both 'hub' -> "ambiguous reference"). -#}
{{ config(materialized='table') }}

with source as (
    select * from {{ hub_table('hub_sources') }}
),

renamed as (
    select
        cast(source_name as {{ dbt.type_string() }}) as source_name,
        cast(crm as {{ dbt.type_string() }}) as crm
    from source
)

select * from renamed
