with source as (
    {{ hub_union_source('stage_changes') }}
),

renamed as (
    select
        deal_key,
        source_name,
        crm,
        changed_at,
        stage_id,
        source_name || ':' || stage_id as stage_key,
        from_stage_id,
        pipeline_id,
        source_name || ':' || pipeline_id as pipeline_key,
        changed_by,
        coalesce(origin, 'crm_history') as origin
    from source
)

select * from renamed
