{#- The stage conversion and win rate marts as they were written before the PostgreSQL rewrite
    (git 73a027e, transforms/macros/marts/), kept here only as the oracle of
    tests/postgres/test_mart_rewrites.py: the rewritten marts must give the same rows. Rendered
    through `dbt compile --inline`, so the project macros they call are the current ones. -#}
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
    configured dimension (see win_rate); 'rep': per rep (stage_conversion_by_rep). -#}
{% macro oracle_stage_conversion_mart(by_dimension=false) -%}
{%- set dims = 'dimension, dimension_value, ' if by_dimension else '' -%}
{%- set per_deal_dims = 'per_deal.dimension, per_deal.dimension_value, ' if by_dimension else '' -%}
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

per_deal as (
    select
        deals.deal_key,
        {{ 'deals.dimension, deals.dimension_value,' if by_dimension }}
        deals.source_name,
        deals.pipeline_key,
        deals.cohort_month,
        max(case when coalesce(spells.outcome, '') <> 'lost' then spells.stage_order end) as furthest_order,
        max(case when spells.outcome = 'lost' then 1 else 0 end) as was_lost
    from deals
    inner join spells on spells.deal_key = deals.deal_key
    where spells.stage_order is not null
    group by deals.deal_key, {{ 'deals.dimension, deals.dimension_value,' if by_dimension }} deals.source_name, deals.pipeline_key, deals.cohort_month
),

buckets as (
    select {{ dims }}source_name, pipeline_key, cohort_month, furthest_order, was_lost, count(*) as n_deals
    from per_deal
    group by {{ dims }}source_name, pipeline_key, cohort_month, furthest_order, was_lost
),

any_order as (
    select
        'any_order' as mode,
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
        end) as reached_count,
        sum(case
            when stages.next_stage_order is null then null
            when buckets.furthest_order >= stages.next_stage_order then buckets.n_deals
            else 0
        end) as reached_next_count
    from buckets
    cross join stages
    group by {{ hub_grouping_sets([
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.source_name', 'buckets.pipeline_key', 'buckets.cohort_month'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.source_name', 'buckets.pipeline_key'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage', 'buckets.cohort_month'],
        ['stages.canonical_stage', 'stages.stage_order', 'stages.next_stage'],
    ], by_dimension, 'buckets.') }}
),

visits as (
    select
        spells.deal_key,
        spells.canonical_stage,
        min(spells.entered_at) as first_entered_at,
        max(spells.entered_at) as last_entered_at
    from spells
    where spells.stage_order is not null
    group by spells.deal_key, spells.canonical_stage
),

strict_visits as (
    select
        {{ per_deal_dims }}
        per_deal.source_name,
        per_deal.pipeline_key,
        per_deal.cohort_month,
        visits.canonical_stage,
        case
            when stages.next_stage is null then null
            when next_visits.last_entered_at > visits.first_entered_at then 1
            else 0
        end as reached_next
    from visits
    inner join per_deal on per_deal.deal_key = visits.deal_key
    inner join stages on stages.canonical_stage = visits.canonical_stage
    left join visits as next_visits
        on next_visits.deal_key = visits.deal_key and next_visits.canonical_stage = stages.next_stage
),

strict_counts as (
    select
        {{ hub_dimension_select(by_dimension) }}
        {{ hub_rollup('source_name') }} as source_name,
        {{ hub_rollup('pipeline_key') }} as pipeline_key,
        cohort_month,
        canonical_stage,
        count(*) as reached_count,
        sum(reached_next) as reached_next_count
    from strict_visits
    group by {{ hub_grouping_sets([
        ['canonical_stage', 'source_name', 'pipeline_key', 'cohort_month'],
        ['canonical_stage', 'source_name', 'pipeline_key'],
        ['canonical_stage', 'cohort_month'],
        ['canonical_stage'],
    ], by_dimension) }}
),

funnel_groups as (
    select
        {{ hub_dimension_select(by_dimension) }}
        {{ hub_rollup('source_name') }} as source_name,
        {{ hub_rollup('pipeline_key') }} as pipeline_key,
        cohort_month,
        count(*) as funnel_deals
    from per_deal
    group by {{ hub_grouping_sets([
        ['source_name', 'pipeline_key', 'cohort_month'],
        ['source_name', 'pipeline_key'],
        ['cohort_month'],
        [],
    ], by_dimension) }}
),

strict_order as (
    select
        'strict_order' as mode,
        {{ hub_dimension_passthrough(by_dimension, 'funnel_groups.') }}
        funnel_groups.source_name,
        funnel_groups.pipeline_key,
        funnel_groups.cohort_month,
        stages.canonical_stage,
        stages.stage_order,
        stages.next_stage,
        funnel_groups.funnel_deals,
        coalesce(strict_counts.reached_count, 0) as reached_count,
        case
            when stages.next_stage is not null then coalesce(strict_counts.reached_next_count, 0)
        end as reached_next_count
    from funnel_groups
    cross join stages
    left join strict_counts
        on strict_counts.source_name = funnel_groups.source_name
        and strict_counts.pipeline_key = funnel_groups.pipeline_key
        and strict_counts.cohort_month is not distinct from funnel_groups.cohort_month
        and strict_counts.canonical_stage = stages.canonical_stage
        {%- if by_dimension %}
        and strict_counts.dimension = funnel_groups.dimension
        and strict_counts.dimension_value is not distinct from funnel_groups.dimension_value
        {%- endif %}
),

unioned as (
    select * from any_order
    union all
    select * from strict_order
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

{#- win_rate and win_rate_by_dimension. Won and lost deals per close period (month and
    quarter, and period_type 'all' with period_start NULL: all time), rep, source and
    pipeline, with rollups ('*'). win_rate = won / (won + lost) by
    count; win_rate_by_value the same on amount_base, over deals with a known base amount.
    Closed deals only (closed_at <= as_of). by_dimension: the same per configured dimension
    (columns dimension, dimension_value first; every grouping set also with the value '*'). -#}
{% macro oracle_win_rate_mart(by_dimension=false) -%}
with closed as (
    select * from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where is_won or is_lost
),

periods as (
    select 'month' as period_type, {{ hub_period_start('month', 'closed_at') }} as period_start, closed.*
    from closed
    union all
    select 'quarter' as period_type, {{ hub_period_start('quarter', 'closed_at') }} as period_start, closed.*
    from closed
    union all
    select 'all' as period_type, cast(null as date) as period_start, closed.*
    from closed
),

aggregated as (
    select
        {{ hub_dimension_select(by_dimension) }}
        period_type,
        period_start,
        {{ hub_rollup('rep_key') }} as rep_key,
        {{ hub_rollup('source_name') }} as source_name,
        {{ hub_rollup('pipeline_key') }} as pipeline_key,
        sum(case when is_won then 1 else 0 end) as won_count,
        sum(case when is_lost then 1 else 0 end) as lost_count,
        count(*) as closed_count,
        sum(case when is_won then amount_base end) as won_amount_base,
        sum(case when is_lost then amount_base end) as lost_amount_base,
        sum(case when amount_base is null then 1 else 0 end) as n_closed_without_amount_base
    from periods
    group by {{ hub_grouping_sets([
        ['period_type', 'period_start', 'rep_key', 'source_name', 'pipeline_key'],
        ['period_type', 'period_start', 'rep_key'],
        ['period_type', 'period_start', 'source_name', 'pipeline_key'],
        ['period_type', 'period_start', 'source_name'],
        ['period_type', 'period_start'],
    ], by_dimension) }}
)

select
    {{ hub_dimension_passthrough(by_dimension) }}
    period_type,
    period_start,
    rep_key,
    source_name,
    pipeline_key,
    won_count,
    lost_count,
    closed_count,
    {{ hub_ratio('won_count', 'won_count + lost_count') }} as win_rate,
    won_amount_base,
    lost_amount_base,
    {{ hub_ratio('coalesce(won_amount_base, 0)', 'coalesce(won_amount_base, 0) + coalesce(lost_amount_base, 0)') }} as win_rate_by_value,
    n_closed_without_amount_base,
    {{ hub_as_of_tz() }} as as_of
from aggregated
{%- endmacro %}


{#- deal_size, sales_cycle and forecast by dimension as they were before their all-values rows
    ('*') were copied from the plain marts (git e1ab509, transforms/macros/marts/). -#}

{% macro oracle_deal_size_mart(by_dimension=false) -%}
with won as (
    select * from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where is_won
),

periods as (
    select 'month' as period_type, {{ hub_period_start('month', 'closed_at') }} as period_start, won.*
    from won
    union all
    select 'quarter' as period_type, {{ hub_period_start('quarter', 'closed_at') }} as period_start, won.*
    from won
    union all
    select 'all' as period_type, cast(null as date) as period_start, won.*
    from won
)

select
    {{ hub_dimension_select(by_dimension) }}
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as won_count,
    sum(amount_base) as bookings_base,
    avg(amount_base) as mean_won_amount_base,
    {{ hub_percentile('amount_base', 0.5) }} as median_won_amount_base,
    max(amount_base) as largest_won_amount_base,
    sum(case when amount_base is null then 1 else 0 end) as n_won_without_amount_base,
    {{ hub_as_of_tz() }} as as_of
from periods
group by {{ hub_grouping_sets([
    ['period_type', 'period_start', 'rep_key', 'source_name'],
    ['period_type', 'period_start', 'rep_key'],
    ['period_type', 'period_start', 'source_name'],
    ['period_type', 'period_start'],
], by_dimension) }}
{%- endmacro %}

{% macro oracle_sales_cycle_mart(by_dimension=false) -%}
with closed as (
    select
        deals.*,
        case when is_won then 'won' else 'lost' end as outcome,
        {{ hub_days_between('created_at', 'closed_at') }} as cycle_days
    from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where (is_won or is_lost) and created_at_source <> 'closed_at'
)

select
    {{ hub_dimension_select(by_dimension) }}
    outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as deal_count,
    avg(cycle_days) as mean_days,
    {{ hub_percentile_among('cycle_days', 0.5, [0.5, 0.9]) }} as median_days,
    {{ hub_percentile_among('cycle_days', 0.9, [0.5, 0.9]) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
from closed
group by {{ hub_grouping_sets([['outcome', 'source_name'], ['outcome']], by_dimension) }}
{%- endmacro %}

{% macro oracle_forecast_mart(by_dimension=false) -%}
with open_deals as (
    select * from ({{ hub_counted_deals_by(by_dimension) }}) as deals
    where is_open
),

periods as (
    select 'month' as period_type, {{ hub_period_start('month', 'expected_close_date') }} as period_start, open_deals.*
    from open_deals
    union all
    select 'quarter' as period_type, {{ hub_period_start('quarter', 'expected_close_date') }} as period_start, open_deals.*
    from open_deals
)

select
    {{ hub_dimension_select(by_dimension) }}
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    {{ hub_rollup('canonical_stage') }} as canonical_stage,
    count(*) as open_count,
    sum(amount_base) as amount_base,
    sum(weighted_amount_base) as weighted_amount_base,
    sum(case when amount_base is null then 1 else 0 end) as n_without_amount_base,
    sum(case when probability is null then 1 else 0 end) as n_without_probability,
    sum(case when expected_close_date < cast({{ hub_as_of() }} as date) then 1 else 0 end) as n_overdue,
    {{ hub_as_of_tz() }} as as_of
from periods
group by {{ hub_grouping_sets([
    ['period_type', 'period_start', 'rep_key', 'canonical_stage'],
    ['period_type', 'period_start', 'canonical_stage'],
    ['period_type', 'period_start', 'rep_key'],
    ['period_type', 'period_start'],
], by_dimension) }}
{%- endmacro %}

{#- lead_response_time as it was before PostgreSQL probed each source for one activity (git
    e1ab509, transforms/marts/lead_response_time.sql); by_dimension is unused. -#}
{% macro oracle_lead_response_time_mart(by_dimension=false) -%}
with deals as (
    select * from ({{ hub_counted_deals() }}) as counted
    where has_dated_creation
),

sources_with_activities as (
    select distinct source_name from {{ ref('stg_activities') }}
),

first_touch as (
    select deal_key, first_owner_activity_at as first_activity_at
    from {{ ref('int_deal_state') }}
    where first_owner_activity_at is not null
),

timed as (
    select
        deals.deal_key,
        deals.source_name,
        deals.rep_key,
        deals.created_at,
        {{ hub_period_start('week', 'deals.created_at') }} as created_week,
        first_touch.first_activity_at,
        (sources_with_activities.source_name is not null
            and deals.created_at_source <> 'first_activity') as response_measured,
        {{ dbt.datediff('deals.created_at', 'first_touch.first_activity_at', 'second') }} / 3600.0 as elapsed_hours,
        {{ dbt.datediff('deals.created_at', hub_as_of(), 'second') }} / 3600.0 as hours_open_at_as_of
    from deals
    left join first_touch on first_touch.deal_key = deals.deal_key
    left join sources_with_activities on sources_with_activities.source_name = deals.source_name
)

select
    timed.deal_key,
    timed.source_name,
    timed.rep_key,
    {{ hub_tz('timed.created_at') }} as created_at,
    timed.created_week,
    {{ hub_tz('timed.first_activity_at') }} as first_activity_at,
    case when timed.response_measured then timed.elapsed_hours end as response_hours,
    case when timed.response_measured then timed.first_activity_at is not null end as has_response,
    case
        when not timed.response_measured then null
        when timed.elapsed_hours <= {{ var('response_sla_hours', 24) }} then true
        when timed.hours_open_at_as_of > {{ var('response_sla_hours', 24) }} then false
    end as within_sla,
    timed.response_measured,
    {{ var('response_sla_hours', 24) }} as sla_hours,
    {{ hub_as_of_tz() }} as as_of
from timed
{%- endmacro %}

{#- time_in_stage_by_rep before its spells came from int_closed_spell_facts and, on PostgreSQL,
    its percentiles from macro hub_ranked_percentiles (git b3a2ac2,
    transforms/macros/marts/mart_time_in_stage.sql). -#}
{% macro oracle_time_in_stage_mart(by_dimension=false) -%}
{%- set by_rep = by_dimension == "rep" -%}
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

{#- sales_cycle_by_period as it was before int_sales_cycle_periods kept its periods (rebuilt
    by touched period from int_deal_period_facts): every closed counted deal with a measured
    cycle, per close month, quarter and all time, from the enriched deals, percentiles by
    percentile_cont over the grouping sets. -#}
{% macro oracle_sales_cycle_by_period_mart(by_dimension=false) -%}
with closed as (
    select
        deals.*,
        case when is_won then 'won' else 'lost' end as outcome,
        {{ hub_days_between('created_at', 'closed_at') }} as cycle_days
    from ({{ hub_counted_deals_by(false) }}) as deals
    where (is_won or is_lost) and created_at_source <> 'closed_at'
),

periods as (
    select 'month' as period_type, {{ hub_period_start('month', 'closed_at') }} as period_start, closed.*
    from closed
    union all
    select 'quarter' as period_type, {{ hub_period_start('quarter', 'closed_at') }} as period_start, closed.*
    from closed
    union all
    select 'all' as period_type, cast(null as date) as period_start, closed.*
    from closed
)

select
    period_type,
    period_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    outcome,
    {{ hub_rollup('source_name') }} as source_name,
    count(*) as deal_count,
    avg(cycle_days) as mean_days,
    {{ hub_percentile('cycle_days', 0.5) }} as median_days,
    {{ hub_percentile('cycle_days', 0.9) }} as p90_days,
    {{ hub_as_of_tz() }} as as_of
from periods
group by grouping sets (
    (period_type, period_start, rep_key, outcome, source_name),
    (period_type, period_start, rep_key, outcome),
    (period_type, period_start, outcome, source_name),
    (period_type, period_start, outcome)
)
{%- endmacro %}
