{#- int_deals_enriched but what moves continuously with as_of (days in the current stage,
    days since the last activity, as_of itself), which that view adds: one row per deal, per
    deal and incremental (macro hub_incremental), rebuilt for the deals in
    hub_changed_deal_rows (hub/warehouse/deal_rows.py): those whose per-deal state changed
    or whose instants as_of crossed (is_won, is_lost, is_open and is_counted compare the
    deal's own instants with as_of), whose deals row changed in any column, the copies of
    those listed as duplicates, and every deal when owners, accounts, resolution,
    duplicates, pipelines, stages, FX rates or field definitions changed. What comes from
    the per-deal models (creation, current spell, activities) is read from int_deal_state. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals('hub_changed_deal_rows') }}",
    meta={'hub_changed_list': 'hub_changed_deal_rows'},
) }}

with deals as (
    select * from {{ ref('stg_deals') }}
    where true {{ hub_only_changed_deals('deal_key', 'hub_changed_deal_rows') }}
),

state as (
    select * from {{ ref('int_deal_state') }}
    where true {{ hub_only_changed_deals('deal_key', 'hub_changed_deal_rows') }}
),

mapped as (
    select * from {{ ref('int_stages_mapped') }}
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
),

fx as (
    select * from {{ ref('stg_hub_fx_rates') }}
),

owners as (
    select * from {{ ref('int_owners_unified') }}
),

pipelines as (
    select source_name, pipeline_id, min(pipeline_label) as pipeline_label
    from {{ ref('stg_pipelines') }}
    group by source_name, pipeline_id
),

companies as (
    select account_key, company_key, company_name from {{ ref('int_accounts_resolved') }}
),

{#- A listed copy is left out only while the deal counted instead exists and is not deleted:
    otherwise leaving it out would lose the deal altogether. -#}
duplicates as (
    select
        listed.deal_key,
        listed.duplicate_of,
        listed.duplicate_rule,
        (survivor.deal_key is not null and not survivor.is_deleted) as is_duplicate
    from {{ ref('stg_hub_deal_duplicates') }} as listed
    left join {{ ref('stg_deals') }} as survivor on survivor.deal_key = listed.duplicate_of
),

terminal as (
    select outcome, canonical_stage
    from (
        select outcome, canonical_stage,
            row_number() over (partition by outcome order by stage_order, canonical_stage) as outcome_rank
        from canonical where outcome is not null
    ) as ranked
    where outcome_rank = 1
),

joined as (
    select
        deals.deal_key,
        deals.source_name,
        deals.crm,
        deals.source_deal_id,
        deals.name as deal_name,
        deals.pipeline_id,
        deals.pipeline_key,
        pipelines.pipeline_label,
        deals.stage_id,
        deals.stage_key,
        mapped.stage_label,
        coalesce(mapped.canonical_stage, 'unmapped') as mapped_stage,
        coalesce(
            state.current_stage,
            terminal.canonical_stage,
            mapped.canonical_stage,
            'unmapped'
        ) as canonical_stage,
        deals.status,
        deals.amount,
        deals.currency,
        fx.rate_to_base as fx_rate,
        cast(deals.amount * fx.rate_to_base as decimal(38, 6)) as amount_base,
        (deals.amount is not null and fx.rate_to_base is null) as is_fx_missing,
        deals.probability as deal_probability,
        deals.owner_id,
        deals.owner_key,
        coalesce(owners.rep_key, case when deals.owner_id is null then 'unassigned' end) as rep_key,
        deals.account_id,
        deals.account_name,
        deals.account_key,
        companies.company_key,
        companies.company_name,
        duplicates.duplicate_of,
        duplicates.duplicate_rule,
        coalesce(duplicates.is_duplicate, false) as is_duplicate,
        state.created_at,
        state.created_at_source,
        coalesce(state.has_dated_creation, false) as has_dated_creation,
        deals.expected_close_date,
        deals.closed_at,
        deals.lost_reason,
        deals.updated_at,
        deals.stage_changed_at,
        deals.is_deleted,
        coalesce(state.n_spells, 0) as n_spells,
        state.current_spell_entered_at,
        state.last_activity_at,
        coalesce(state.n_activities, 0) as n_activities
    from deals
    left join state on state.deal_key = deals.deal_key
    left join mapped
        on mapped.source_name = deals.source_name
        and coalesce(mapped.pipeline_id, '') = coalesce(deals.pipeline_id, '')
        and mapped.stage_id = deals.stage_id
    left join pipelines
        on pipelines.source_name = deals.source_name and pipelines.pipeline_id = deals.pipeline_id
    left join fx on fx.currency = deals.currency
    left join owners on owners.owner_key = deals.owner_key
    left join companies on companies.account_key = deals.account_key
    left join duplicates on duplicates.deal_key = deals.deal_key
    left join terminal on terminal.outcome = deals.status
)

select
    joined.*,
    canonical.stage_order as canonical_stage_order,
    coalesce(joined.deal_probability, canonical.stage_probability) as probability,
    case
        when joined.deal_probability is not null then 'deal'
        when canonical.stage_probability is not null then 'stage'
    end as probability_source,
    cast(joined.amount * coalesce(joined.deal_probability, canonical.stage_probability) as decimal(38, 6)) as weighted_amount,
    cast(joined.amount_base * coalesce(joined.deal_probability, canonical.stage_probability) as decimal(38, 6)) as weighted_amount_base,
    coalesce(joined.status = 'won' and joined.closed_at <= {{ hub_as_of() }}, false) as is_won,
    coalesce(joined.status = 'lost' and joined.closed_at <= {{ hub_as_of() }}, false) as is_lost,
    coalesce(
        not joined.is_deleted
        and joined.created_at <= {{ hub_as_of() }}
        and (joined.status = 'open' or joined.closed_at > {{ hub_as_of() }}),
        false
    ) as is_open,
    coalesce(
        not joined.is_deleted
        and joined.created_at <= {{ hub_as_of() }}
        and not joined.is_duplicate,
        false
    ) as is_counted
from joined
left join canonical on canonical.canonical_stage = joined.canonical_stage
