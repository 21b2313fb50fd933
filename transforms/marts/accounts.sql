{#- One row per resolved company (int_accounts_resolved.company_key): its member accounts
    across CRMs and its counted deals (hub_counted_deals, so a duplicate copy is counted once),
    by the company of each deal's primary account. Members are the accounts that are not
    deleted, plus deleted ones that still carry a counted deal. docs/metrics.md "accounts". -#}
with counted as (
    select * from ({{ hub_counted_deals() }}) as deals
    where company_key is not null
),

resolved as (
    select * from {{ ref('int_accounts_resolved') }}
),

members as (
    select resolved.*
    from resolved
    where not resolved.is_deleted
        or resolved.account_key in (select account_key from counted)
),

company_names as (
    select company_key, min(company_name) as company_name
    from members
    group by company_key
),

ranked_domains as (
    select
        company_key,
        domain,
        row_number() over (partition by company_key order by count(*) desc, domain) as domain_rank
    from members
    where domain is not null
    group by company_key, domain
),

member_lists as (
    select
        company_key,
        {{ dbt.listagg('account_key', "','", 'order by account_key') }} as member_account_keys,
        count(*) as n_accounts
    from members
    group by company_key
),

company_sources as (
    select
        company_key,
        {{ dbt.listagg('source_name', "','", 'order by source_name') }} as source_names,
        count(*) as n_sources
    from (select distinct company_key, source_name from members) as distinct_sources
    group by company_key
),

deal_figures as (
    select
        company_key,
        sum(case when is_open then 1 else 0 end) as open_count,
        sum(case when is_open then amount_base end) as open_amount_base,
        sum(case when is_won then 1 else 0 end) as won_count,
        sum(case when is_won then amount_base end) as won_amount_base,
        sum(case when is_lost then 1 else 0 end) as lost_count,
        sum(case when (is_open or is_won) and amount_base is null then 1 else 0 end) as n_without_amount_base
    from counted
    group by company_key
)

select
    member_lists.company_key,
    company_names.company_name,
    ranked_domains.domain,
    member_lists.member_account_keys,
    member_lists.n_accounts,
    company_sources.n_sources,
    company_sources.source_names,
    coalesce(deal_figures.open_count, 0) as open_count,
    deal_figures.open_amount_base,
    coalesce(deal_figures.won_count, 0) as won_count,
    deal_figures.won_amount_base,
    coalesce(deal_figures.lost_count, 0) as lost_count,
    {{ hub_ratio('deal_figures.won_count', 'deal_figures.won_count + deal_figures.lost_count') }} as win_rate,
    coalesce(deal_figures.n_without_amount_base, 0) as n_without_amount_base,
    {{ hub_as_of_tz() }} as as_of
from member_lists
inner join company_names on company_names.company_key = member_lists.company_key
inner join company_sources on company_sources.company_key = member_lists.company_key
left join ranked_domains
    on ranked_domains.company_key = member_lists.company_key and ranked_domains.domain_rank = 1
left join deal_figures on deal_figures.company_key = member_lists.company_key
