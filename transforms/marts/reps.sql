{#- One row per person selling: owner accounts with the same email in different CRMs are one
    rep. 'unassigned' stands for deals and activities with no owner. -#}
with owners as (
    select * from {{ ref('int_owners_unified') }}
),

reps as (
    select
        rep_key,
        max(email_normalized) as email,
        min(owner_name) as rep_name,
        min(team) as team,
        count(*) as n_owner_accounts,
        count(distinct source_name) as n_sources,
        {{ dbt.listagg('owner_key', "','", 'order by owner_key') }} as owner_keys,
        {{ dbt.bool_or('coalesce(is_active, false)') }} as is_active
    from owners
    group by rep_key
)

select * from reps
union all
select
    'unassigned' as rep_key,
    cast(null as {{ dbt.type_string() }}) as email,
    'Unassigned' as rep_name,
    cast(null as {{ dbt.type_string() }}) as team,
    0 as n_owner_accounts,
    0 as n_sources,
    '' as owner_keys,
    false as is_active
