with source as (
    {{ hub_union_source('accounts') }}
)

select
    account_key,
    source_name,
    crm,
    source_account_id,
    name,
    website,
    lower(domain) as domain,
    industry,
    country,
    owner_id,
    source_name || ':' || owner_id as owner_key,
    created_at,
    updated_at,
    coalesce(is_deleted, false) as is_deleted,
    custom_fields
from source
