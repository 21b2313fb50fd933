{#- time_in_stage and time_in_stage_by_rep. Days spent in each canonical stage, over closed
    spells (the deal has left the stage by as_of), split by the deal's outcome at as_of (won /
    lost / open, and 'all') and by source (and all sources, '*'); counted deals only. by_rep:
    also per rep (the deal's current owner; '*' = all reps, those rows equal time_in_stage,
    which the project reads from time_in_stage_by_rep rather than rendering by_rep=false).
    The spells, with outcome, rep and days, are int_closed_spell_facts' (per deal,
    incremental). On PostgreSQL the percentiles are found by bucket (macro
    hub_ranked_percentiles) rather than by sorting every spell in every grouping set,
    starting for by_rep from the spells' counts per finest group and day that
    int_closed_spell_day_counts keeps as sums, not from a count of every spell. -#}
{% macro hub_time_in_stage_mart(by_rep=false) -%}
{%- set rep = ['rep_key'] if by_rep else [] -%}
{%- if target.type == 'postgres' %}
{{ hub_time_in_stage_ranked(by_rep) }}
{%- else %}
with spells as (
    select * from {{ ref('int_closed_spell_facts') }}
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
{%- endif %}
{%- endmacro %}

{#- The same rows on PostgreSQL, through macro hub_ranked_percentiles (grouping_id bits:
    final_outcome 4, rep_key 2, source_name 1; without by_rep, only the sets keeping rep
    are left out: rep_key is then no dim at all). -#}
{% macro hub_time_in_stage_ranked(by_rep) -%}
{%- set dims = ['final_outcome', 'rep_key', 'source_name'] if by_rep else ['final_outcome', 'source_name'] -%}
{%- set bits = {'final_outcome': 4, 'rep_key': 2, 'source_name': 1} if by_rep else {'final_outcome': 2, 'source_name': 1} -%}
select
    canonical_stage,
    case when (grouping_id / {{ bits['final_outcome'] }}) % 2 = 1 then 'all' else final_outcome end as final_outcome,
    {%- if by_rep %}
    case when (grouping_id / {{ bits['rep_key'] }}) % 2 = 1 then '*' else rep_key end as rep_key,
    {%- endif %}
    case when (grouping_id / {{ bits['source_name'] }}) % 2 = 1 then '*' else source_name end as source_name,
    n as spell_count,
    mean_value as mean_days,
    median_days,
    p75_days,
    p90_days,
    {{ hub_as_of_tz() }} as as_of
from (
    {{ hub_ranked_percentiles(
        ref('int_closed_spell_facts'), ['canonical_stage'], dims, 'days', 'days_key', 'day_bucket',
        [('median_days', 0.5), ('p75_days', 0.75), ('p90_days', 0.9)],
        ref('int_closed_spell_day_counts') if by_rep else none) }}
) as ranked
{%- endmacro %}
