{#- A table, not a view: DuckDB cannot bind a view on schema 'hub' when the database file is
    itself named hub.duckdb (catalog and schema both 'hub' -> "ambiguous reference"). -#}
{{ config(materialized='table') }}

with source as (
    select * from {{ hub_table('hub_canonical_stages') }}
),

renamed as (
    select
        cast(stage_name as {{ dbt.type_string() }}) as canonical_stage,
        cast(display_order as bigint) as stage_order,
        cast(lower(outcome) as {{ dbt.type_string() }}) as outcome,
        cast(probability as double precision) as stage_probability,
        cast(stall_days as double precision) as stall_days,
        lower(outcome) is null as is_open_stage
    from source
)

select * from renamed
