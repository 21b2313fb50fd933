{#- Per counted deal, its closed spells (left their stage by as_of) with what time_in_stage_by_rep
    groups and ranks them by: stage, the deal's outcome and current rep, source, and the days
    spent (as int_deal_stage_spells computes them; a closed spell's days do not move with
    as_of). Per deal and incremental on hub_changed_deal_rows, as int_deal_facts (outcome and
    rep are its columns; int_deal_spells' list is part of that one), so a changed sync
    rewrites the listed deals' spells only, and the mart reads this narrow table instead of
    joining every spell to every deal. `days_key` is `days` as the percentiles order it
    (double precision) and `day_bucket` its whole days: the mart's ranks are found by bucket
    (macro hub_ranked_percentiles). On PostgreSQL the pre-hook keeps the listed deals' old
    rows aside (hub_before_int_closed_spell_facts), from which int_closed_spell_day_counts
    takes its deltas. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_stash_changed_deals('hub_changed_deal_rows') if target.type == 'postgres' else hub_delete_changed_deals('hub_changed_deal_rows') }}",
    meta={'hub_changed_list': 'hub_changed_deal_rows'},
) }}

with deals as (
    select
        deal_key,
        rep_key,
        case when is_won then 'won' when is_lost then 'lost' else 'open' end as final_outcome
    from {{ ref('int_deal_facts') }}
    where is_counted {{ hub_only_changed_deals('deal_key', 'hub_changed_deal_rows') }}
),

spells as (
    select
        spells.deal_key,
        spells.canonical_stage,
        spells.source_name,
        {{ hub_days_between('spells.entered_at', 'spells.exited_at') }} as days
    from {{ ref('int_deal_spells') }} as spells
    where spells.exited_at is not null {{ hub_only_changed_deals('spells.deal_key', 'hub_changed_deal_rows') }}
)

select
    spells.deal_key,
    spells.canonical_stage,
    deals.final_outcome,
    deals.rep_key,
    spells.source_name,
    spells.days,
    cast(spells.days as double precision) as days_key,
    cast(floor(cast(spells.days as double precision)) as integer) as day_bucket
from spells
inner join deals on deals.deal_key = spells.deal_key
