with source as (
    {{ hub_union_source('deal_accounts') }}
)

select
    deal_key,
    account_key,
    source_name,
    crm,
    coalesce(is_primary, false) as is_primary,
    label
from source
