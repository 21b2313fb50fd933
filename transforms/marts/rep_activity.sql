{#- Activities per ISO week (Monday start) and rep, with the rep's open deals at the end of the
    week (deals owned now, created before the week ended and not closed by then; the current
    week ends at as_of) and activities per open deal. Reps with the same email in several CRMs
    are one rep_key. Weeks: from the first activity or deal, at most var activity_weeks (104)
    back from as_of.
    On PostgreSQL the counts come from tables kept by difference (int_rep_activity_weeks per
    owner and week for activities on deals, int_rep_open_weeks per rep and week; macro
    hub_group_sums), plus the activities without a deal, on no deal's list, counted here on
    every run. DuckDB counts every activity and deal here, in one pass each: the four more
    models cost it more than they save (docs/benchmarks.md). What moves with as_of (the week
    spine, the folding of earlier weeks) is computed here on both. -#}
{%- set by_difference = target.type == 'postgres' %}
with owner_weeks as (
    {%- if by_difference %}
    select owner_key, week_start, calls, emails, meetings, tasks, notes, other_activities, activities
    from {{ ref('int_rep_activity_weeks') }}
    union all
    {%- endif %}
    select
        owner_key,
        {{ hub_period_start('week', 'occurred_at') }} as week_start,
        {{ hub_activity_type_counts() }}
    from {{ ref('stg_activities') }}
    where not is_deleted
        {% if by_difference %}and deal_key is null{% endif %}
        and occurred_at <= {{ hub_as_of() }}
    group by owner_key, {{ hub_period_start('week', 'occurred_at') }}
),

activities as (
    select
        coalesce(owners.rep_key, 'unassigned') as rep_key,
        owner_weeks.*
    from owner_weeks
    left join {{ ref('int_owners_unified') }} as owners on owners.owner_key = owner_weeks.owner_key
),

{#- per rep and week: deals opened (created), deals closed (won or lost) -#}
opened as (
    {%- if by_difference %}
    select rep_key, week_start, opened, closed from {{ ref('int_rep_open_weeks') }}
    {%- else %}
    select rep_key, {{ hub_period_start('week', 'created_at') }} as week_start, 1 as opened, 0 as closed
    from ({{ hub_counted_deals() }}) as counted
    union all
    select rep_key, {{ hub_period_start('week', 'closed_at') }} as week_start, 0 as opened, 1 as closed
    from ({{ hub_counted_deals() }}) as counted
    where is_won or is_lost
    {%- endif %}
),

bounds as (
    select
        greatest(
            least(
                coalesce((select min(week_start) from activities), {{ hub_period_start('week', hub_as_of()) }}),
                coalesce((select min(week_start) from opened where opened > 0), {{ hub_period_start('week', hub_as_of()) }})
            ),
            {{ hub_period_start('week', dbt.dateadd('day', -7 * var('activity_weeks', 104), hub_as_of())) }}
        ) as first_week,
        {{ hub_period_start('week', hub_as_of()) }} as last_week
),

weeks as (
    select series.d as week_start
    from ({{ hub_date_series('(select first_week from bounds)', '(select last_week from bounds)', 7) }}) as series
),

{#- +1 in the week a deal was created, -1 in the week it closed (closed within the week = not
    open at its end); earlier weeks fold into the first week of the spine. -#}
deltas as (
    select
        rep_key,
        greatest(week_start, (select first_week from bounds)) as week_start,
        opened - closed as delta
    from opened
),

rep_weeks as (
    select reps.rep_key, weeks.week_start
    from (select distinct rep_key from opened union select distinct rep_key from activities) as reps
    cross join weeks
),

open_counts as (
    select
        rep_weeks.rep_key,
        rep_weeks.week_start,
        sum(coalesce(week_deltas.delta, 0)) over (
            partition by rep_weeks.rep_key order by rep_weeks.week_start
            rows between unbounded preceding and current row
        ) as open_deals
    from rep_weeks
    left join (
        select rep_key, week_start, sum(delta) as delta from deltas group by rep_key, week_start
    ) as week_deltas
        on week_deltas.rep_key = rep_weeks.rep_key and week_deltas.week_start = rep_weeks.week_start
),

{#- the types a count over activities had (bigint; a sum of 1s is hugeint on DuckDB) -#}
counts as (
    select
        rep_key,
        week_start,
        {%- for column in ['calls', 'emails', 'meetings', 'tasks', 'notes', 'other_activities'] %}
        {% if by_difference %}cast(sum({{ column }}) as bigint){% else %}sum({{ column }}){% endif %} as {{ column }},
        {%- endfor %}
        cast(sum(activities) as {{ dbt.type_bigint() }}) as activities
    from activities
    where week_start >= (select first_week from bounds)
    group by rep_key, week_start
)

select
    open_counts.week_start,
    open_counts.rep_key,
    coalesce(counts.calls, 0) as calls,
    coalesce(counts.emails, 0) as emails,
    coalesce(counts.meetings, 0) as meetings,
    coalesce(counts.tasks, 0) as tasks,
    coalesce(counts.notes, 0) as notes,
    coalesce(counts.other_activities, 0) as other_activities,
    coalesce(counts.activities, 0) as activities,
    open_counts.open_deals,
    {{ hub_ratio('coalesce(counts.activities, 0)', 'open_counts.open_deals') }} as activities_per_open_deal,
    {{ hub_as_of_tz() }} as as_of
from open_counts
left join counts
    on counts.rep_key = open_counts.rep_key and counts.week_start = open_counts.week_start
where counts.activities is not null or open_counts.open_deals <> 0
