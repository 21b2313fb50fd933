{#- A table, not a view: DuckDB cannot bind a view on schema 'hub' when the database file is
    itself named hub.duckdb (catalog and schema both 'hub' -> "ambiguous reference"). -#}
{{ config(materialized='table') }}

with source as (
    select * from {{ hub_table('hub_stage_map') }}
),

renamed as (
    select
        cast(source_name as {{ dbt.type_string() }}) as source_name,
        cast(pipeline as {{ dbt.type_string() }}) as map_pipeline,
        cast(native_stage as {{ dbt.type_string() }}) as map_native_stage,
        cast(canonical_stage as {{ dbt.type_string() }}) as canonical_stage
    from source
)

select * from renamed
