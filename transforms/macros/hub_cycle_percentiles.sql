{#- int_sales_cycle_periods on PostgreSQL: its groups' counts, means, medians and p90s from
    the cycles counted per whole day (int_sales_cycle_day_counts, kept as sums), reading
    only the cycles of the days that hold a wanted rank (docs/architecture.md "Percentiles
    from kept day counts").

    percentile_cont(p) of n values is the value at 0-based rank floor(p * (n - 1)), moved
    towards the one at rank ceil(p * (n - 1)) by the fraction between them. PostgreSQL's
    ordered-set aggregate sorts every value of every group, and under the model's four
    grouping sets each closed deal lies in four groups of each of its three periods; a
    changed sync touches most periods, the all-time one always. Two ranks per percentile are
    read, though: a running count over a group's kept day counts tells which day holds each,
    and the rank within it; those days' cycles are then read from int_deal_period_facts
    (one scan, no sort of the period) and ranked. Ranks and the interpolation are in double
    precision as percentile_cont computes them, and the day is the floor of the same double
    the ranks order by, so the percentiles are the aggregate's exactly. The mean is the
    exact sum of whole seconds over the count (avg summed floats in scan order), so
    incremental and full builds agree to the bit. -#}

{#- The closed deals' cycle rows of `relation` (int_deal_period_facts or its stashed old
    rows) where `where`, once per grouping set (`rolled`: 2 = rep rolled up, 1 = source),
    with n and the cycle in whole seconds times `sign` (the deltas of
    int_sales_cycle_day_counts; a full build sums them with sign 1). -#}
{% macro hub_cycle_day_rows(relation, sign, where) -%}
    select
        cycle_rows.period_type,
        cycle_rows.period_start,
        sets.rolled,
        case when sets.rolled >= 2 then null else cycle_rows.rep_key end as rep_key,
        case when cycle_rows.is_won then 'won' else 'lost' end as outcome,
        case when sets.rolled % 2 = 1 then null else cycle_rows.source_name end as source_name,
        cast(floor(cycle_rows.cycle_days) as bigint) as cycle_day,
        {{ sign }} as n,
        {{ sign }} * coalesce(cast(round(cycle_rows.cycle_days * 86400) as bigint), 0) as cycle_seconds
    from {{ relation }} as cycle_rows
    cross join (values (0), (1), (2), (3)) as sets (rolled)
    where not cycle_rows.is_creation and cycle_rows.has_cycle and {{ where }}
{%- endmacro %}

{#- int_sales_cycle_day_counts built whole: the cycles of `facts` counted per finest group
    and day in one pass, then rolled up into the four sets (`rolled` as grouping() numbers
    them: 2 = rep, 1 = source); what the deltas of hub_cycle_day_rows add up to. -#}
{% macro hub_cycle_day_counts(facts) -%}
with finest as {{ hub_planned_alone() }} (
    select
        period_type,
        period_start,
        rep_key,
        case when is_won then 'won' else 'lost' end as outcome,
        source_name,
        cast(floor(cycle_days) as bigint) as cycle_day,
        count(*) as n,
        sum(coalesce(cast(round(cycle_days * 86400) as bigint), 0)) as cycle_seconds
    from {{ facts }}
    where not is_creation and has_cycle
    group by period_type, period_start, rep_key, outcome, source_name, cycle_day
)

select
    period_type,
    period_start,
    grouping(rep_key, source_name) as rolled,
    rep_key,
    outcome,
    source_name,
    cycle_day,
    cast(sum(n) as {{ dbt.type_bigint() }}) as n,
    cast(sum(cycle_seconds) as {{ dbt.type_bigint() }}) as cycle_seconds
from finest
group by grouping sets (
    (period_type, period_start, rep_key, outcome, source_name, cycle_day),
    (period_type, period_start, rep_key, outcome, cycle_day),
    (period_type, period_start, outcome, source_name, cycle_day),
    (period_type, period_start, outcome, cycle_day)
)
{%- endmacro %}

{#- Two columns equal or both NULL, as equalities PostgreSQL can hash (IS NOT DISTINCT FROM
    it cannot); `empty` is a value of their type. -#}
{% macro hub_cycle_same(a, b, empty="''") -%}
    coalesce({{ a }}, {{ empty }}) = coalesce({{ b }}, {{ empty }}) and ({{ a }} is null) = ({{ b }} is null)
{%- endmacro %}

{#- The model's select: the groups of `counts` (int_sales_cycle_day_counts) where
    hub_only_touched_groups by period, their percentiles from the cycles of `facts`. -#}
{% macro hub_cycle_percentiles(counts, facts) -%}
{%- set percentiles = [0.5, 0.9] -%}
{%- set group_columns = ['period_type', 'period_start', 'rolled', 'rep_key', 'outcome', 'source_name'] -%}
with counted as materialized (
    select {{ group_columns | join(', ') }}, cycle_day, n, cycle_seconds
    from {{ counts }}
    where true {{ hub_only_touched_groups(['period_type', 'period_start']) }}
),

{#- per group and day, in one sort: the group's number (the steps below join on it, not on
    six columns), its totals and the cycles counted through the day (a NULL day, rows
    without a cycle, last) -#}
running as materialized (
    select
        dense_rank() over (order by {{ group_columns | join(', ') }}) as group_no,
        {{ group_columns | join(', ') }},
        cycle_day,
        n,
        row_number() over (partition by {{ group_columns | join(', ') }} order by cycle_day nulls last) as day_no,
        sum(n) over (partition by {{ group_columns | join(', ') }}) as deal_count,
        sum(case when cycle_day is not null then n else 0 end) over (partition by {{ group_columns | join(', ') }}) as n_cycles,
        sum(cycle_seconds) over (partition by {{ group_columns | join(', ') }}) as cycle_seconds,
        sum(n) over (partition by {{ group_columns | join(', ') }} order by cycle_day nulls last rows unbounded preceding) as n_through
    from counted
),

groups as materialized (
    select group_no, {{ group_columns | join(', ') }}, deal_count, n_cycles, cycle_seconds
    from running
    where day_no = 1
),

{#- per group, each percentile's two ranks (as percentile_cont: pos = p * (n - 1)) -#}
wanted as materialized (
    select groups.group_no, ranks.percentile_no, ranks.side, cast(ranks.rank_no as bigint) as rank_no
    from groups
    cross join lateral (
        {{ hub_percentile_rank_rows(percentiles, 'groups.n_cycles') }}
    ) as ranks
    where groups.n_cycles > 0
),

{#- the day of each wanted rank and the rank within it -#}
needed as materialized (
    select
        running.group_no,
        running.cycle_day,
        wanted.percentile_no,
        wanted.side,
        wanted.rank_no - (running.n_through - running.n) as rank_in_day
    from running
    inner join wanted
        on wanted.group_no = running.group_no
        and wanted.rank_no >= running.n_through - running.n
        and wanted.rank_no < running.n_through
    where running.cycle_day is not null
),

{#- each needed group and day with the finest groups (rolled = 0) it is made of -#}
needed_finest as materialized (
    select distinct
        needed_days.group_no,
        counted.period_type,
        counted.period_start,
        counted.rep_key,
        counted.outcome,
        counted.source_name,
        counted.cycle_day
    from (
        select distinct groups.group_no, groups.period_type, groups.period_start, groups.rolled, groups.rep_key, groups.outcome, groups.source_name, needed.cycle_day
        from needed
        inner join groups on groups.group_no = needed.group_no
    ) as needed_days
    inner join running as counted
        on counted.rolled = 0
        and counted.cycle_day = needed_days.cycle_day
        and counted.period_type = needed_days.period_type
        and {{ hub_cycle_same('counted.period_start', 'needed_days.period_start', "date '0001-01-01'") }}
        and counted.outcome = needed_days.outcome
        and (needed_days.rolled >= 2 or {{ hub_cycle_same('counted.rep_key', 'needed_days.rep_key') }})
        and (needed_days.rolled % 2 = 1 or {{ hub_cycle_same('counted.source_name', 'needed_days.source_name') }})
),

{#- the cycles of the needed days, once per group needing them, ranked within group and day -#}
day_cycles as (
    select
        needed_finest.group_no,
        needed_finest.cycle_day,
        row_number() over (partition by needed_finest.group_no, needed_finest.cycle_day order by facts.cycle_days) - 1 as rank_in_day,
        facts.cycle_days
    from {{ facts }} as facts
    inner join needed_finest
        on cast(floor(facts.cycle_days) as bigint) = needed_finest.cycle_day
        and facts.period_type = needed_finest.period_type
        and {{ hub_cycle_same('facts.period_start', 'needed_finest.period_start', "date '0001-01-01'") }}
        and {{ hub_cycle_same('facts.rep_key', 'needed_finest.rep_key') }}
        and (case when facts.is_won then 'won' else 'lost' end) = needed_finest.outcome
        and {{ hub_cycle_same('facts.source_name', 'needed_finest.source_name') }}
    where not facts.is_creation and facts.has_cycle
),

picked as (
    select
        needed.group_no,
        {%- for p in percentiles %}
        max(case when needed.percentile_no = {{ loop.index }} and needed.side = 'lo' then day_cycles.cycle_days end) as lo_{{ loop.index }},
        max(case when needed.percentile_no = {{ loop.index }} and needed.side = 'hi' then day_cycles.cycle_days end) as hi_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from needed
    inner join day_cycles
        on day_cycles.group_no = needed.group_no
        and day_cycles.cycle_day = needed.cycle_day
        and day_cycles.rank_in_day = needed.rank_in_day
    group by needed.group_no
)

select
    groups.period_type,
    groups.period_start,
    case when groups.rolled >= 2 then '*' else groups.rep_key end as rep_key,
    groups.outcome,
    case when groups.rolled % 2 = 1 then '*' else groups.source_name end as source_name,
    cast(groups.deal_count as bigint) as deal_count,
    case when groups.n_cycles > 0 then cast(groups.cycle_seconds as double precision) / cast(groups.n_cycles as double precision) / 86400.0 end as mean_days
    {%- for p in percentiles %}
    {%- set pos = 'cast(' ~ p ~ ' as double precision) * cast(groups.n_cycles - 1 as double precision)' %},
    picked.lo_{{ loop.index }} + (({{ pos }} - floor({{ pos }})) * (picked.hi_{{ loop.index }} - picked.lo_{{ loop.index }})) as {{ 'median_days' if p == 0.5 else 'p90_days' }}
    {%- endfor %}
from groups
left join picked on picked.group_no = groups.group_no
{%- endmacro %}
