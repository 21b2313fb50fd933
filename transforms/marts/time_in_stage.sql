{#- Days spent in each canonical stage, over closed spells (the deal has left the stage by
    as_of), split by the deal's outcome at as_of (won / lost / open, and 'all') and by source
    (and all sources, '*'). Deleted deals and deals created after as_of are left out. -#}
with deals as (
    select
        deal_key,
        case when is_won then 'won' when is_lost then 'lost' else 'open' end as final_outcome
    from ({{ hub_counted_deals() }}) as counted
),

spells as (
    select spells.*, deals.final_outcome
    from {{ ref('int_deal_stage_spells') }} as spells
    inner join deals on deals.deal_key = spells.deal_key
    where spells.exited_at is not null
)

select
    canonical_stage,
    case when grouping(final_outcome) = 1 then 'all' else final_outcome end as final_outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as spell_count,
    avg(days) as mean_days,
    {{ hub_percentile('days', 0.5) }} as median_days,
    {{ hub_percentile('days', 0.75) }} as p75_days,
    {{ hub_percentile('days', 0.9) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
from spells
group by grouping sets (
    (canonical_stage, final_outcome, source_name),
    (canonical_stage, final_outcome),
    (canonical_stage, source_name),
    (canonical_stage)
)
