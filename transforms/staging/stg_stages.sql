with source as (
    {{ hub_union_source('stages') }}
),

renamed as (
    select
        stage_key as native_stage_key,
        source_name || ':' || stage_id as stage_key,
        source_name,
        crm,
        pipeline_id,
        source_name || ':' || pipeline_id as pipeline_key,
        stage_id,
        label as stage_label,
        display_order,
        probability,
        coalesce(is_closed, false) as is_closed,
        coalesce(is_won, false) as is_won,
        coalesce(is_deleted, false) as is_deleted
    from source
)

select * from renamed
