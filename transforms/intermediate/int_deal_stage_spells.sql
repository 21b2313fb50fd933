{#- One row per deal x stage spell, naive UTC timestamps: int_deal_spells plus what moves with
    as_of (days; a current spell is counted up to as_of). A view, rebuilt on every transform;
    the deal_stage_history mart exposes it. See docs/metrics.md "Stage history". -#}
{{ config(materialized='view') }}

select
    spell_key,
    deal_key,
    source_name,
    spell_index,
    canonical_stage,
    stage_order,
    outcome,
    is_open_stage,
    pipeline_id,
    stage_id,
    entered_at,
    exited_at,
    {{ hub_days_between('entered_at', 'coalesce(exited_at, ' ~ hub_as_of() ~ ')') }} as days,
    is_current,
    is_backward,
    skipped_stages,
    previous_stage,
    origin
from {{ ref('int_deal_spells') }}
