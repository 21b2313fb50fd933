{#- stage_conversion and stage_conversion_by_dimension. Funnel per source x pipeline (and all
    sources, '*'/'*') x creation cohort month (and all cohorts, cohort_month null) x canonical
    stage, in two modes:
      any_order    a deal reached a stage if it was ever in it or in any later non-lost stage
                   (reaching a later stage counts as passing it); reached_next likewise.
      strict_order a deal reached a stage only if it had a spell in it; it reached the next
                   stage if it entered the next stage after first entering this one.
    The 'lost' stage counts deals that were ever in it (no next stage). next stage = the next
    canonical stage in order that is not a lost outcome (none after a terminal stage).
    cumulative_conversion = reached / funnel_deals (deals of the group with at least one
    mapped spell). Deals whose creation instant is only when the hub first saw them
    (has_dated_creation false) have no cohort and are left out. by_dimension: the same per
    configured dimension (see win_rate); 'rep': per rep (stage_conversion_by_rep).
    Plan: the spells are reduced to one row per deal first (furthest stage, ever lost, the
    stages visited with their next-stage flag), deals with the same row are counted together
    (buckets), and only the buckets meet the dimensions, the stages and the grouping sets, so
    neither a deal's spells nor its stage pairs are repeated per dimension (on PostgreSQL the
    older per-spell joins spilled gigabytes at 1M deals). -#}
{% macro hub_stage_conversion_mart(by_dimension=false) -%}
{%- set dims = 'dimension, dimension_value, ' if by_dimension else '' -%}
with deals as (
    select
        deal_key,
        {{ dims }}
        source_name,
        pipeline_key,
        {{ hub_period_start('month', 'created_at') }} as cohort_month
    from ({{ hub_counted_deals_by(by_dimension) }}) as counted
    where has_dated_creation
),

spells as (
    select * from {{ ref('int_deal_stage_spells') }}
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
),

funnel_stages as (
    select
        canonical_stage,
        stage_order,
        outcome,
        case
            when outcome is null then lead(canonical_stage) over (order by stage_order)
        end as next_stage
    from canonical
    where coalesce(outcome, '') <> 'lost'
    union all
    select canonical_stage, stage_order, outcome, cast(null as {{ dbt.type_string() }}) as next_stage
    from canonical
    where outcome = 'lost'
),

stages as (
    select
        funnel_stages.*,
        next_stages.stage_order as next_stage_order
    from funnel_stages
    left join canonical as next_stages on next_stages.canonical_stage = funnel_stages.next_stage
),

visits as (
    select
        spells.deal_key,
        spells.canonical_stage,
        spells.stage_order,
        spells.outcome,
        min(spells.entered_at) as first_entered_at,
        max(spells.entered_at) as last_entered_at
    from spells
    where spells.stage_order is not null
    group by spells.deal_key, spells.canonical_stage, spells.stage_order, spells.outcome
),

{#- Each visited stage as a token '|<stage_order>:<flag>', flag 1 when the deal entered the
    next stage after first entering this one, 0 when not, '-' when the stage has no next stage.
    The next stage in canonical order is never a lost one, so it is the deal's next visited
    non-lost stage or it was not visited. -#}
visit_tokens as (
    select
        visits.deal_key,
        visits.stage_order,
        visits.outcome,
        '|' || cast(visits.stage_order as {{ dbt.type_string() }}) || ':' || case
            when stages.next_stage_order is null then '-'
            when lead(visits.stage_order) over next_visit = stages.next_stage_order
                and lead(visits.last_entered_at) over next_visit > visits.first_entered_at then '1'
            else '0'
        end as token
    from visits
    inner join stages on stages.canonical_stage = visits.canonical_stage
    window next_visit as (
        partition by visits.deal_key, coalesce(visits.outcome, '') = 'lost'
        order by visits.stage_order
    )
),

{#- One row per deal with mapped spells: everything both modes need, so the deal's
    dimensions are joined once, after the spells are reduced. -#}
deal_funnels as (
    select
        deal_key,
        max(case when coalesce(outcome, '') <> 'lost' then stage_order end) as furthest_order,
        max(case when outcome = 'lost' then 1 else 0 end) as was_lost,
        string_agg(token, '' order by stage_order) as visited
    from visit_tokens
    group by deal_key
),

buckets as (
    select
        {{ 'deals.dimension, deals.dimension_value,' if by_dimension }}
        deals.source_name,
        deals.pipeline_key,
        deals.cohort_month,
        deal_funnels.furthest_order,
        deal_funnels.was_lost,
        deal_funnels.visited,
        count(*) as n_deals
    from deals
    inner join deal_funnels on deal_funnels.deal_key = deals.deal_key
    group by
        {{ 'deals.dimension, deals.dimension_value,' if by_dimension }}
        deals.source_name, deals.pipeline_key, deals.cohort_month,
        deal_funnels.furthest_order, deal_funnels.was_lost, deal_funnels.visited
),

{#- any_order: reached = furthest non-lost stage at or past this one (lost: ever lost);
    strict_order: reached = a spell in this stage, reached_next = its token's flag. -#}
counts as (
    select
        {{ hub_dimension_select(by_dimension, 'buckets.') }}
        {{ hub_rollup('buckets.source_name') }} as source_name,
        {{ hub_rollup('buckets.pipeline_key') }} as pipeline_key,
        buckets.cohort_month,
        stages.canonical_stage,
        stages.stage_order,
        stages.next_stage,
        sum(buckets.n_deals) as funnel_deals,
        sum(case
            when stages.outcome = 'lost' then buckets.was_lost * buckets.n_deals
            when buckets.furthest_order >= stages.stage_order then buckets.n_deals
            else 0
        end) as any_reached_count,
        sum(case
            when stages.next_stage_order is null then null
            when buckets.furthest_order >= stages.next_stage_order then buckets.n_deals
            else 0
        end) as any_reached_next_count,
        sum(case
            when position({{ hub_stage_token('stages.stage_order') }} in buckets.visited) > 0
                then buckets.n_deals
            else 0
        end) as strict_reached_count,
        sum(case
            when stages.next_stage_order is null then null
            when position({{ hub_stage_token('stages.stage_order') }} || '1' in buckets.visited) > 0
                then buckets.n_deals
            else 0
        end) as strict_reached_next_count
    from buckets
    cross join stages
    group by {{ hub_grouping_sets([
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.source_name', 'buckets.pipeline_key', 'buckets.cohort_month'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.source_name', 'buckets.pipeline_key'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.cohort_month'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage'],
    ], by_dimension, 'buckets.') }}
),

unioned as (
    {%- for mode in ['any', 'strict'] %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        '{{ mode }}_order' as mode,
        {{ hub_dimension_passthrough(by_dimension) }}
        source_name,
        pipeline_key,
        cohort_month,
        canonical_stage,
        stage_order,
        next_stage,
        funnel_deals,
        {{ mode }}_reached_count as reached_count,
        {{ mode }}_reached_next_count as reached_next_count
    from counts
    {%- endfor %}
)

select
    mode,
    {{ hub_dimension_output(by_dimension) }}
    source_name,
    pipeline_key,
    cohort_month,
    canonical_stage,
    stage_order,
    next_stage,
    funnel_deals,
    reached_count,
    reached_next_count,
    {{ hub_ratio('reached_next_count', 'reached_count') }} as next_step_conversion,
    {{ hub_ratio('reached_count', 'funnel_deals') }} as cumulative_conversion,
    {{ hub_as_of_tz() }} as as_of
from unioned
{%- endmacro %}

{#- The start of a stage's token in deal_funnels.visited: '|<stage_order>:'. -#}
{% macro hub_stage_token(stage_order) -%}
    ('|' || cast({{ stage_order }} as {{ dbt.type_string() }}) || ':')
{%- endmacro %}
