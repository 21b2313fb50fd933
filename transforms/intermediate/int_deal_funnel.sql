{#- One row per deal with at least one mapped spell: what the stage conversion marts need of
    its spells, reduced once (macro hub_stage_conversion_mart counts these rows). Per deal and
    incremental (macro hub_incremental): the row is a function of the deal's spells in
    int_deal_spells, rebuilt with them, and of the canonical stages, whose change rebuilds
    everything. Nothing here moves with as_of between a deal's own instants (the spells are
    already cut at as_of); the marts apply is_counted and the cohort at every run.
      furthest_order  the highest stage_order among its non-lost spells (null: only lost ones)
      was_lost        1 when it was ever in a lost stage, else 0
      visited         its visited stages in canonical order, each '|<stage_order>:<flag>',
                      flag 1 when it entered the next canonical stage after first entering
                      this one, 0 when not, '-' when the stage has no next stage
    On PostgreSQL its pre-hook keeps the listed deals' rows as they were (macro
    hub_stash_changed_deals), from which int_stage_conversion_dimension_buckets takes its
    deltas. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_stash_changed_deals('hub_changed_deals') if target.type == 'postgres' else hub_delete_changed_deals() }}",
) }}

with spells as (
    select deal_key, canonical_stage, stage_order, outcome, entered_at
    from {{ ref('int_deal_spells') }}
    where stage_order is not null {{ hub_only_changed_deals() }}
),

stages as (
    {{ hub_funnel_stages() }}
),

{#- Each visited stage once, with the next canonical stage's order. Joined to the stages
    before grouping, and grouped by the window's keys first: PostgreSQL then sorted the spells
    once for the grouping and the window; grouped first, it hashed them into groups, joined
    the groups and sorted them again (at 100,000 deals 0.99 -> 0.75 server CPU-seconds). -#}
visits as (
    select
        spells.deal_key,
        coalesce(spells.outcome, '') = 'lost' as is_lost,
        spells.stage_order,
        spells.canonical_stage,
        spells.outcome,
        stages.next_stage_order,
        min(spells.entered_at) as first_entered_at,
        max(spells.entered_at) as last_entered_at
    from spells
    inner join stages on stages.canonical_stage = spells.canonical_stage
    group by
        spells.deal_key, coalesce(spells.outcome, '') = 'lost', spells.stage_order,
        spells.canonical_stage, spells.outcome, stages.next_stage_order
),

{#- The next stage in canonical order is never a lost one, so it is the deal's next visited
    non-lost stage or it was not visited. -#}
visit_tokens as (
    select
        deal_key,
        stage_order,
        outcome,
        {{ hub_stage_token('stage_order') }} || case
            when next_stage_order is null then '-'
            when lead(stage_order) over next_visit = next_stage_order
                and lead(last_entered_at) over next_visit > first_entered_at then '1'
            else '0'
        end as token
    from visits
    window next_visit as (partition by deal_key, is_lost order by stage_order)
)

select
    deal_key,
    max(case when coalesce(outcome, '') <> 'lost' then stage_order end) as furthest_order,
    max(case when outcome = 'lost' then 1 else 0 end) as was_lost,
    string_agg(token, '' order by stage_order) as visited
from visit_tokens
group by deal_key
