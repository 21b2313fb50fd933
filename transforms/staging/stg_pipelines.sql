with source as (
    {{ hub_union_source('pipelines') }}
),

renamed as (
    select
        source_name || ':' || pipeline_id as pipeline_key,
        pipeline_key as native_pipeline_key,
        source_name,
        crm,
        pipeline_id,
        label as pipeline_label,
        display_order,
        coalesce(is_deleted, false) as is_deleted
    from source
)

select * from renamed
