{#- One row per duplicate duplicate detection found (hub_deal_duplicates): the losing copy,
    the deal counted instead, and whether the marts leave the copy out (is_duplicate: only
    while the deal counted instead exists and is not deleted). -#}
with listed as (
    select * from {{ ref('stg_hub_deal_duplicates') }}
),

deals as (
    select deal_key, source_name, deal_name, is_duplicate from {{ ref('int_deals_enriched') }}
)

select
    listed.deal_key,
    copies.source_name,
    copies.deal_name as name,
    listed.duplicate_of,
    survivors.source_name as duplicate_of_source_name,
    survivors.deal_name as duplicate_of_name,
    listed.duplicate_rule as rule,
    listed.score,
    coalesce(copies.is_duplicate, false) as is_duplicate
from listed
left join deals as copies on copies.deal_key = listed.deal_key
left join deals as survivors on survivors.deal_key = listed.duplicate_of
