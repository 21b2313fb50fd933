{#- One row per owner account (source_name:owner id) with the person it belongs to: owners
    sharing an email (case-insensitive) in different CRMs are one rep (rep_key 'email:<email>');
    an owner without an email, or referenced by deals/activities but absent from the owners
    table, is its own rep ('owner:<owner_key>'). -#}
with owners as (
    select * from {{ ref('stg_owners') }}
),

deals as (
    select * from {{ ref('stg_deals') }}
),

activities as (
    select * from {{ ref('stg_activities') }}
),

{#- Owner accounts referenced but absent from the owners table. The owners filter comes
    before the distinct: a handful of owners (a hashed NOT IN on both warehouses; DuckDB ran a
    NOT EXISTS per row 3x slower) filter millions of deal and activity rows in one pass, where
    a distinct over them all first hashed every row (PostgreSQL spilled it to disk). owner_key
    is never null here: source_name and owner_id are not. -#}
referenced as (
    select source_name, crm, owner_id, owner_key from deals
    where owner_id is not null
        and owner_key not in (select owner_key from owners where owner_key is not null)
    union
    select source_name, crm, owner_id, owner_key from activities
    where owner_id is not null
        and owner_key not in (select owner_key from owners where owner_key is not null)
),

all_owners as (
    select
        owner_key,
        source_name,
        crm,
        source_owner_id,
        owner_name,
        email,
        email_normalized,
        team,
        is_active,
        true as is_in_owners_table
    from owners
    union all
    select
        referenced.owner_key,
        referenced.source_name,
        referenced.crm,
        referenced.owner_id,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as boolean),
        false
    from referenced
)

select
    all_owners.*,
    case
        when email_normalized is not null then 'email:' || email_normalized
        else 'owner:' || owner_key
    end as rep_key
from all_owners
