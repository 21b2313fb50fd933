with source as (
    {{ hub_union_source('stage_observations') }}
),

renamed as (
    select
        deal_key,
        source_name,
        crm,
        observed_at,
        pipeline_id,
        source_name || ':' || pipeline_id as pipeline_key,
        stage_id,
        source_name || ':' || stage_id as stage_key
    from source
)

select * from renamed
