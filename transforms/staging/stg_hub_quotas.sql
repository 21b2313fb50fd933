{#- A table, not a view: DuckDB cannot bind a view on schema 'hub' when the database file is
    itself named hub.duckdb (catalog and schema both 'hub' -> "ambiguous reference"). -#}
{{ config(materialized='table') }}

with source as (
    select * from {{ hub_table('hub_quotas') }}
),

renamed as (
    select
        cast(owner_email as {{ dbt.type_string() }}) as owner_email,
        nullif(lower(trim(owner_email)), '') as email_normalized,
        cast(period_start as date) as period_start,
        lower(period_type) as period_type,
        cast(quota_base as double precision) as quota_base
    from source
)

select * from renamed
