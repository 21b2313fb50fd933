{#- Per counted deal with a dated creation (has_dated_creation): time from created_at to the
    first activity on the deal logged by an owner (owner_id set, occurred_at >= created_at and
    <= as_of), and whether it was within var response_sla_hours. within_sla is null while
    undecided (no response yet and the SLA window still open at as_of). Not measured
    (response_measured false: response_hours, has_response and within_sla NULL, never a miss)
    when the deal's source has sent no activities at all, or when its creation instant was
    inferred from its first activity. The first such activity is kept per deal, incrementally,
    in int_deal_state (first_owner_activity_at). Hours are whole seconds / 3600 (macro
    hub_seconds_between: dbt's datediff value, cheaper on PostgreSQL). -#}
with deals as (
    select * from ({{ hub_counted_deals() }}) as counted
    where has_dated_creation
),

{#- one row looked for per source on PostgreSQL, not every activity read (macro
    hub_sources_with_rows) -#}
sources_with_activities as (
    {{ hub_sources_with_rows(ref('stg_activities')) }}
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
        {{ hub_seconds_between('deals.created_at', 'first_touch.first_activity_at') }} / 3600.0 as elapsed_hours,
        {{ hub_seconds_between('deals.created_at', hub_as_of()) }} / 3600.0 as hours_open_at_as_of
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
