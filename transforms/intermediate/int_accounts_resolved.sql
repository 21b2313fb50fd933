{#- One row per account the hub knows: every stg_accounts row, plus account keys deals point
    at that no accounts table holds (a CRM that sent deals but no accounts), with the company
    it belongs to. The company comes from hub_account_resolution; an account it does not list
    (resolution has not run, a deleted account, an account only deals name) is its own
    company: company_key = account_key, resolution_rule 'unresolved'. -#}
with accounts as (
    select * from {{ ref('stg_accounts') }}
),

resolution as (
    select * from {{ ref('stg_hub_account_resolution') }}
),

named_by_deals as (
    select
        account_key,
        min(source_name) as source_name,
        min(account_name) as account_name
    from {{ ref('stg_deals') }}
    where account_key is not null
        and account_key not in (select account_key from accounts where account_key is not null)
    group by account_key
),

known as (
    select
        account_key,
        source_name,
        name as account_name,
        domain,
        is_deleted,
        true as is_in_accounts_table
    from accounts
    union all
    select
        account_key,
        source_name,
        account_name,
        cast(null as {{ dbt.type_string() }}) as domain,
        false as is_deleted,
        false as is_in_accounts_table
    from named_by_deals
)

select
    known.account_key,
    known.source_name,
    known.account_name,
    known.domain,
    known.is_deleted,
    known.is_in_accounts_table,
    coalesce(resolution.company_key, known.account_key) as company_key,
    coalesce(resolution.company_name, known.account_name) as company_name,
    coalesce(resolution.resolution_rule, 'unresolved') as resolution_rule
from known
left join resolution on resolution.account_key = known.account_key
