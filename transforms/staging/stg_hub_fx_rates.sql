{#- A table, not a view: DuckDB cannot bind a view on schema 'hub' when the database file is
    itself named hub.duckdb (catalog and schema both 'hub' -> "ambiguous reference"). -#}
{{ config(materialized='table') }}

with source as (
    select * from {{ hub_table('hub_fx_rates') }}
),

renamed as (
    select
        upper(trim(cast(currency as {{ dbt.type_string() }}))) as currency,
        cast(rate_to_base as double precision) as rate_to_base
    from source
)

select * from renamed
