{#- One row per deal x stage spell (a stay in one canonical stage), up to as_of, naive UTC
    timestamps. Per deal and incremental (macro hub_incremental): nothing here moves with
    as_of between a deal's own instants, so the current spell stays open (exited_at NULL);
    int_deal_stage_spells adds its days at as_of. See docs/metrics.md "Stage history". -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals() }}",
) }}

with events as (
    select * from {{ ref('int_stage_events_unioned') }}
    where true {{ hub_only_changed_deals() }}
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
),

spells as (
    select
        events.*,
        lead(event_at) over (partition by deal_key order by event_index) as exited_at,
        lag(canonical_stage) over (partition by deal_key order by event_index) as previous_stage,
        lag(stage_order) over (partition by deal_key order by event_index) as previous_stage_order
    from events
),

skips as (
    select
        spells.event_key,
        {{ dbt.listagg('canonical.canonical_stage', "','", 'order by canonical.stage_order') }} as skipped_stages
    from spells
    inner join canonical
        on canonical.is_open_stage
        and canonical.stage_order > spells.previous_stage_order
        and canonical.stage_order < spells.stage_order
    where spells.stage_order > spells.previous_stage_order
        and coalesce(spells.outcome, '') <> 'lost'
    group by spells.event_key
)

select
    spells.event_key as spell_key,
    spells.deal_key,
    spells.source_name,
    spells.event_index as spell_index,
    spells.canonical_stage,
    spells.stage_order,
    spells.outcome,
    spells.is_open_stage,
    spells.pipeline_id,
    spells.stage_id,
    spells.entered_at,
    spells.exited_at,
    spells.exited_at is null as is_current,
    coalesce(spells.stage_order < spells.previous_stage_order, false) as is_backward,
    coalesce(skips.skipped_stages, '') as skipped_stages,
    spells.previous_stage,
    spells.origin
from (select spells.*, spells.event_at as entered_at from spells) as spells
left join skips on skips.event_key = spells.event_key
