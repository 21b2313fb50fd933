with source as (
    {{ hub_union_source('activities') }}
),

renamed as (
    select
        activity_key,
        source_name,
        crm,
        source_activity_id,
        lower(coalesce(type, 'other')) as activity_type,
        subject,
        occurred_at,
        completed,
        owner_id,
        source_name || ':' || owner_id as owner_key,
        deal_key,
        duration_s,
        direction,
        outcome,
        updated_at,
        coalesce(is_deleted, false) as is_deleted
    from source
)

select * from renamed
