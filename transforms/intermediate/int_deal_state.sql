{#- One row per deal: what int_deals_enriched and lead_response_time need of the per-deal
    models, joined once per changed deal instead of over every deal on every run. Per deal and
    incremental (macro hub_incremental): every input is a per-deal model, filtered to the
    changed deals, and nothing here moves with as_of between
    a deal's own instants (activities count once at or before as_of; the current spell stays
    open). What does move with as_of, and what reads FX rates, owners, accounts or
    duplicates, stays in int_deals_enriched, rebuilt on every run.
      created_at, created_at_source, has_dated_creation   int_deal_created
      current_stage, current_spell_entered_at, n_spells   the current spell (int_deal_spells)
      last_activity_at, n_activities                      int_deal_activity_stats
      first_owner_activity_at  int_deal_activity_stats: the first activity logged by an
                               owner (owner_id set, not deleted) at or after created_at and
                               at or before as_of: lead_response_time's first response -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals() }}",
) }}

with created as (
    select deal_key, created_at, created_at_source, has_dated_creation
    from {{ ref('int_deal_created') }}
    where true {{ hub_only_changed_deals() }}
),

current_spell as (
    select deal_key, canonical_stage, entered_at, spell_index
    from {{ ref('int_deal_spells') }}
    where is_current {{ hub_only_changed_deals() }}
),

activities as (
    select deal_key, last_activity_at, n_activities, first_owner_activity_at
    from {{ ref('int_deal_activity_stats') }}
    where true {{ hub_only_changed_deals() }}
)

select
    created.deal_key,
    created.created_at,
    created.created_at_source,
    created.has_dated_creation,
    current_spell.canonical_stage as current_stage,
    current_spell.entered_at as current_spell_entered_at,
    current_spell.spell_index as n_spells,
    activities.last_activity_at,
    activities.n_activities,
    activities.first_owner_activity_at
from created
left join current_spell on current_spell.deal_key = created.deal_key
left join activities on activities.deal_key = created.deal_key
