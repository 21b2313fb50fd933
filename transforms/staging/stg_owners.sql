with source as (
    {{ hub_union_source('owners') }}
),

renamed as (
    select
        owner_key as native_owner_key,
        source_name || ':' || source_owner_id as owner_key,
        source_name,
        crm,
        source_owner_id,
        name as owner_name,
        email,
        nullif(lower(trim(email)), '') as email_normalized,
        team,
        coalesce(is_active, true) as is_active
    from source
)

select * from renamed
