{{ config(alias='deal_scores') }}
{#- The score and its reason for every open deal, as `hub push` writes them: one row per deal
    and hub field (hub_score, hub_score_reason), values as text. The score is the
    win_probability of the deal_scores mart rounded to two decimals, so a rebuild that
    moves it by less than 0.005 writes nothing. The CRM does not send these fields back on
    pull, so current_value is null: `hub push` diffs them against its journal and a live
    read of the CRM. -#}
with scores as (
    select * from {{ ref('deal_scores') }}
),

deals as (
    select * from {{ ref('deals') }}
),

scored as (
    select
        scores.source_name,
        scores.crm,
        scores.deal_key,
        scores.source_deal_id,
        deals.pipeline_id,
        deals.updated_at as crm_updated_at,
        cast(cast(scores.win_probability as decimal(5, 2)) as {{ dbt.type_string() }}) as score_text,
        substr(scores.reason, 1, 250) as reason_text
    from scores
    inner join deals on deals.deal_key = scores.deal_key
    where deals.is_open
        and not deals.is_deleted
        and scores.win_probability is not null
),

fields as (
    select
        source_name, crm, deal_key, source_deal_id, pipeline_id, crm_updated_at,
        'hub_score' as field,
        score_text as value
    from scored
    union all
    select
        source_name, crm, deal_key, source_deal_id, pipeline_id, crm_updated_at,
        'hub_score_reason' as field,
        reason_text as value
    from scored
)

select
    deal_key || '|' || field as outbound_key,
    source_name,
    crm,
    deal_key,
    source_deal_id,
    pipeline_id,
    field,
    value,
    cast(null as {{ dbt.type_string() }}) as current_value,
    crm_updated_at,
    cast('deal_scores' as {{ dbt.type_string() }}) as reason
from fields
