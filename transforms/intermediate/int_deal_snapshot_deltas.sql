{#- Per counted deal, what its open spells add to pipeline_snapshot_daily: +1 (and its amounts)
    on the day a spell starts, -1 on the day it ends, summed per (source, canonical stage,
    day), so a deal has one row per key and any change to its rows shows in them. Per deal
    and incremental on hub_changed_deal_rows (the spells change only for deals in
    hub_changed_deals, which that list holds; amounts and probabilities are int_deal_facts
    columns); its pre-hook keeps the listed deals' rows as they were, so
    int_pipeline_daily_deltas rebuilds only the days whose deltas changed (macro hub_groups).
    Unclamped and for every day: the window, which moves with as_of, is the mart's. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_stash_changed_deals('hub_changed_deal_rows') }}",
    meta={'hub_changed_list': 'hub_changed_deal_rows'},
) }}

with deals as (
    select deal_key, amount_base, deal_probability
    from {{ ref('int_deal_facts') }}
    where is_counted {{ hub_only_changed_deals('deal_key', 'hub_changed_deal_rows') }}
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
),

spells as (
    select
        spells.deal_key,
        spells.source_name,
        spells.canonical_stage,
        cast(spells.entered_at as date) as start_day,
        cast(spells.exited_at as date) as end_day,
        deals.amount_base,
        cast(deals.amount_base * coalesce(deals.deal_probability, canonical.stage_probability) as decimal(38, 6)) as weighted_amount_base
    from {{ ref('int_deal_spells') }} as spells
    inner join deals on deals.deal_key = spells.deal_key
    left join canonical on canonical.canonical_stage = spells.canonical_stage
    where spells.is_open_stage {{ hub_only_changed_deals('spells.deal_key', 'hub_changed_deal_rows') }}
),

deltas as (
    select
        deal_key,
        source_name,
        canonical_stage,
        start_day as delta_day,
        1 as delta_count,
        case when amount_base is null then 1 else 0 end as delta_missing,
        amount_base as delta_amount,
        weighted_amount_base as delta_weighted
    from spells
    union all
    select
        deal_key,
        source_name,
        canonical_stage,
        end_day as delta_day,
        -1 as delta_count,
        case when amount_base is null then -1 else 0 end as delta_missing,
        -amount_base as delta_amount,
        -weighted_amount_base as delta_weighted
    from spells
    where end_day is not null
)

select
    deal_key,
    source_name,
    canonical_stage,
    delta_day,
    count(*) as n_deltas,
    sum(delta_count) as delta_count,
    sum(delta_missing) as delta_missing,
    sum(delta_amount) as delta_amount,
    sum(delta_weighted) as delta_weighted
from deltas
group by deal_key, source_name, canonical_stage, delta_day
