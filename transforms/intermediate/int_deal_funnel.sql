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
                      this one, 0 when not, '-' when the stage has no next stage -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals() }}",
) }}

with spells as (
    select deal_key, canonical_stage, stage_order, outcome, entered_at
    from {{ ref('int_deal_spells') }}
    where stage_order is not null {{ hub_only_changed_deals() }}
),

stages as (
    {{ hub_funnel_stages() }}
),

visits as (
    select
        deal_key,
        canonical_stage,
        stage_order,
        outcome,
        min(entered_at) as first_entered_at,
        max(entered_at) as last_entered_at
    from spells
    group by deal_key, canonical_stage, stage_order, outcome
),

{#- The next stage in canonical order is never a lost one, so it is the deal's next visited
    non-lost stage or it was not visited. -#}
visit_tokens as (
    select
        visits.deal_key,
        visits.stage_order,
        visits.outcome,
        {{ hub_stage_token('visits.stage_order') }} || case
            when stages.next_stage_order is null then '-'
            when lead(visits.stage_order) over next_visit = stages.next_stage_order
                and lead(visits.last_entered_at) over next_visit > visits.first_entered_at then '1'
            else '0'
        end as token
    from visits
    inner join stages on stages.canonical_stage = visits.canonical_stage
    window next_visit as (
        partition by visits.deal_key, coalesce(visits.outcome, '') = 'lost'
        order by visits.stage_order
    )
)

select
    deal_key,
    max(case when coalesce(outcome, '') <> 'lost' then stage_order end) as furthest_order,
    max(case when outcome = 'lost' then 1 else 0 end) as was_lost,
    string_agg(token, '' order by stage_order) as visited
from visit_tokens
group by deal_key
