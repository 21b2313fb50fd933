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
    Plan: the spells are reduced to one row per deal (furthest stage, ever lost, the stages
    visited with their next-stage flag) once, in the per-deal incremental model
    int_deal_funnel, so a run rebuilds that reduction only for the deals that changed. Here the
    counted deals of this run (is_counted and the cohort depend on as_of) take their row, deals
    with the same row are counted together (buckets), and only the buckets meet the
    dimensions, the stages and the grouping sets, so neither a deal's spells nor its stage
    pairs are repeated per dimension (on PostgreSQL the older per-spell joins spilled
    gigabytes at 1M deals). -#}
{% macro hub_stage_conversion_mart(by_dimension=false) -%}
{%- set dims = 'dimension, dimension_value, ' if by_dimension else '' -%}
{#- PostgreSQL keeps the by-dimension buckets as sums between runs
    (int_stage_conversion_dimension_buckets, the same rows as the buckets below). -#}
{%- set kept_buckets = by_dimension is sameas true and target.type == 'postgres' -%}
with {% if kept_buckets -%}
stages as (
    {{ hub_funnel_stages() }}
),

buckets as{{ hub_planned_alone() }} (
    select dimension, dimension_value, source_name, pipeline_key, cohort_month,
        furthest_order, was_lost, visited, n_deals
    from {{ ref('int_stage_conversion_dimension_buckets') }}
),
{%- else -%}
deals as (
    select
        deal_key,
        {{ dims }}
        source_name,
        pipeline_key,
        {{ hub_period_start('month', 'created_at') }} as cohort_month
    from ({{ hub_counted_deals_by(by_dimension) }}) as counted
    where has_dated_creation
),

stages as (
    {{ hub_funnel_stages() }}
),

buckets as{{ hub_planned_alone() }} (
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
    inner join {{ ref('int_deal_funnel') }} as deal_funnels on deal_funnels.deal_key = deals.deal_key
    group by
        {{ 'deals.dimension, deals.dimension_value,' if by_dimension }}
        deals.source_name, deals.pipeline_key, deals.cohort_month,
        deal_funnels.furthest_order, deal_funnels.was_lost, deal_funnels.visited
),
{%- endif %}

{%- if kept_buckets %}

{#- The buckets meet the stages and are summed per dimension value, source, pipeline, cohort
    and stage first (a hash aggregate), so the grouping sets sort these few narrow rows, not
    every bucket x stage with its visited list (which spilled to disk). Sums of sums: the
    same counts, NULL where the stage has no next stage. -#}
staged as{{ hub_planned_alone() }} (
    select
        buckets.dimension,
        buckets.dimension_value,
        buckets.source_name,
        buckets.pipeline_key,
        buckets.cohort_month,
        stages.canonical_stage,
        stages.stage_order,
        stages.next_stage,
        {{ hub_stage_conversion_sums() }}
    from buckets
    cross join stages
    group by
        buckets.dimension, buckets.dimension_value, buckets.source_name, buckets.pipeline_key,
        buckets.cohort_month, stages.canonical_stage, stages.stage_order, stages.next_stage
),

counts as (
    select
        {{ hub_dimension_select(by_dimension, 'staged.') }}
        {{ hub_rollup('staged.source_name') }} as source_name,
        {{ hub_rollup('staged.pipeline_key') }} as pipeline_key,
        staged.cohort_month,
        staged.canonical_stage,
        staged.stage_order,
        staged.next_stage,
        sum(staged.funnel_deals) as funnel_deals,
        sum(staged.any_reached_count) as any_reached_count,
        sum(staged.any_reached_next_count) as any_reached_next_count,
        sum(staged.strict_reached_count) as strict_reached_count,
        sum(staged.strict_reached_next_count) as strict_reached_next_count
    from staged
    group by {{ hub_grouping_sets([
        ['staged.canonical_stage', 'staged.stage_order', 'staged.next_stage', 'staged.source_name', 'staged.pipeline_key', 'staged.cohort_month'],
        ['staged.canonical_stage', 'staged.stage_order', 'staged.next_stage', 'staged.source_name', 'staged.pipeline_key'],
        ['staged.canonical_stage', 'staged.stage_order', 'staged.next_stage', 'staged.cohort_month'],
        ['staged.canonical_stage', 'staged.stage_order', 'staged.next_stage'],
    ], by_dimension, 'staged.', all_values=false) }}
),
{%- else %}

counts as (
    select
        {{ hub_dimension_select(by_dimension, 'buckets.') }}
        {{ hub_rollup('buckets.source_name') }} as source_name,
        {{ hub_rollup('buckets.pipeline_key') }} as pipeline_key,
        buckets.cohort_month,
        stages.canonical_stage,
        stages.stage_order,
        stages.next_stage,
        {{ hub_stage_conversion_sums() }}
    from buckets
    cross join stages
    group by {{ hub_grouping_sets([
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.source_name', 'buckets.pipeline_key', 'buckets.cohort_month'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.source_name', 'buckets.pipeline_key'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.cohort_month'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage'],
    ], by_dimension, 'buckets.', all_values=not hub_values_from_plain(by_dimension)) }}
),
{%- endif %}

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
{%- if hub_values_from_plain(by_dimension) %}
{{ hub_all_values_rows('stage_conversion', leading=['mode'], rest='plain.source_name, plain.pipeline_key, '
    ~ 'plain.cohort_month, plain.canonical_stage, plain.stage_order, plain.next_stage, plain.funnel_deals, '
    ~ 'plain.reached_count, plain.reached_next_count, plain.next_step_conversion, '
    ~ 'plain.cumulative_conversion, plain.as_of') }}
{%- endif %}
{%- endmacro %}

{#- The counts of buckets x stages (in a query over `buckets` cross join `stages`).
    any_order: reached = furthest non-lost stage at or past this one (lost: ever lost);
    strict_order: reached = a spell in this stage, reached_next = its token's flag. -#}
{% macro hub_stage_conversion_sums() -%}
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
{%- endmacro %}

{#- The start of a stage's token in int_deal_funnel.visited: '|<stage_order>:'. -#}
{% macro hub_stage_token(stage_order) -%}
    ('|' || cast({{ stage_order }} as {{ dbt.type_string() }}) || ':')
{%- endmacro %}

{#- The canonical stages of the funnel, each with its next stage (the next canonical stage in
    order that is not a lost outcome; none after a terminal stage, none for a lost one) and
    that stage's order. Shared by int_deal_funnel (the tokens' flags) and the marts. -#}
{% macro hub_funnel_stages() -%}
    select
        funnel_stages.canonical_stage,
        funnel_stages.stage_order,
        funnel_stages.outcome,
        funnel_stages.next_stage,
        next_stages.stage_order as next_stage_order
    from (
        select
            canonical_stage,
            stage_order,
            outcome,
            case
                when outcome is null then lead(canonical_stage) over (order by stage_order)
            end as next_stage
        from {{ ref('stg_hub_canonical_stages') }}
        where coalesce(outcome, '') <> 'lost'
        union all
        select canonical_stage, stage_order, outcome, cast(null as {{ dbt.type_string() }}) as next_stage
        from {{ ref('stg_hub_canonical_stages') }}
        where outcome = 'lost'
    ) as funnel_stages
    left join {{ ref('stg_hub_canonical_stages') }} as next_stages
        on next_stages.canonical_stage = funnel_stages.next_stage
{%- endmacro %}
