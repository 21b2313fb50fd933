with source as (
    {{ hub_union_source('deals') }}
),

renamed as (
    select
        deal_key,
        source_name,
        crm,
        source_deal_id,
        name,
        pipeline_id,
        stage_id,
        source_name || ':' || pipeline_id as pipeline_key,
        source_name || ':' || stage_id as stage_key,
        lower(status) as status,
        amount,
        upper(trim(currency)) as currency,
        probability,
        owner_id,
        source_name || ':' || owner_id as owner_key,
        account_id,
        account_name,
        account_key,
        created_at,
        expected_close_date,
        closed_at,
        lost_reason,
        updated_at,
        stage_changed_at,
        coalesce(is_deleted, false) as is_deleted,
        custom_fields
    from source
)

select * from renamed
