{#- time_in_stage and time_in_stage_by_rep. Days spent in each canonical stage, over closed
    spells (the deal has left the stage by as_of), split by the deal's outcome at as_of (won /
    lost / open, and 'all') and by source (and all sources, '*'); counted deals only. by_rep:
    also per rep (the deal's current owner; '*' = all reps, those rows equal time_in_stage,
    which the project reads from time_in_stage_by_rep rather than rendering by_rep=false). -#}
{% macro hub_time_in_stage_mart(by_rep=false) -%}
{%- set rep = ['rep_key'] if by_rep else [] -%}
with deals as (
    select
        deal_key,
        rep_key,
        case when is_won then 'won' when is_lost then 'lost' else 'open' end as final_outcome
    from ({{ hub_counted_deals() }}) as counted
),

spells as (
    select spells.*, deals.final_outcome, deals.rep_key
    from {{ ref('int_deal_stage_spells') }} as spells
    inner join deals on deals.deal_key = spells.deal_key
    where spells.exited_at is not null
)

select
    canonical_stage,
    case when grouping(final_outcome) = 1 then 'all' else final_outcome end as final_outcome,
    {%- if by_rep %}
    {{ hub_rollup('rep_key') }} as rep_key,
    {%- endif %}
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as spell_count,
    avg(days) as mean_days,
    {{ hub_percentile_among('days', 0.5, [0.5, 0.75, 0.9]) }} as median_days,
    {{ hub_percentile_among('days', 0.75, [0.5, 0.75, 0.9]) }} as p75_days,
    {{ hub_percentile_among('days', 0.9, [0.5, 0.75, 0.9]) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
from spells
group by grouping sets (
    {%- set sets = [] -%}
    {%- for columns in [['final_outcome', 'source_name'], ['final_outcome'], ['source_name'], []] -%}
        {%- do sets.append('(' ~ (['canonical_stage'] + columns) | join(', ') ~ ')') -%}
        {%- if by_rep -%}
            {%- do sets.append('(' ~ (['canonical_stage'] + columns + rep) | join(', ') ~ ')') -%}
        {%- endif -%}
    {%- endfor %}
    {{ sets | join(',\n    ') }}
)
{%- endmacro %}
