{#- One row per deal x stage spell: int_deal_stage_spells with timestamptz (UTC) timestamps.
    A view, like int_deal_stage_spells: a projection of the per-deal table int_deal_spells
    plus days, which moves with as_of; a table would copy every spell on every transform. -#}
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
    {{ hub_tz('entered_at') }} as entered_at,
    {{ hub_tz('exited_at') }} as exited_at,
    days,
    is_current,
    is_backward,
    skipped_stages,
    previous_stage,
    origin
from {{ ref('int_deal_stage_spells') }}
