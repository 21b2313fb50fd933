{#- Exact percentile_cont per group of grouping sets, on PostgreSQL without sorting every row
    of every group (time_in_stage_by_rep, docs/architecture.md "Percentiles found by bucket").

    percentile_cont(p) of a group of n rows is the value at rank floor(p * (n - 1)) (0-based,
    ascending), moved towards the value at rank ceil(p * (n - 1)) by the fraction between
    them. PostgreSQL's ordered-set aggregates sort every row of every group, and under
    grouping sets each row lies in every set's group: at 1M deals, 4M closed spells sorted
    eight times over, on every sync. Only two ranks per percentile are read, though. So the
    rows are counted per group and bucket (`bucket`: a whole number that never decreases as
    `key` grows, here a spell's whole days): one hash aggregate of the finest groups, rolled
    up into the grouping sets. A running count over each group's buckets tells which bucket
    holds each wanted rank and its rank within that bucket; only the rows of those buckets
    are read again and sorted, each in the groups needing it. Lerp and ranks are computed in
    double precision as PostgreSQL's percentile_cont computes them, so percentiles and
    counts are those of the plain aggregates. The mean is a numeric (exact) sum over the
    count, as double precision: the same whatever order the rows come in (a float sum is
    not; incremental and full builds must agree), within float rounding of avg()'s.

    `relation` holds `fixed` (text columns in every set), `dims` (text columns each set keeps
    or rolls up: every subset of them is a set), `value` (averaged, double precision), `key`
    (`value` as ranked, double precision) and `bucket`. `percentiles` maps output names to p.
    `counts`, when given, is a table holding those finest counts already (per fixed and dim
    columns and `bucket`: n, n_key, n_value, value_sum; int_closed_spell_day_counts, kept as
    sums), so the relation is read only for the needed buckets' rows. The
    select yields the fixed and dim columns (NULL where rolled up), grouping_id (bit i set
    where dims[i] is rolled up, the first dim the highest bit), n, mean_value and the
    percentiles. -#}
{% macro hub_ranked_percentiles(relation, fixed, dims, value, key, bucket, percentiles, counts=none) -%}
{%- set columns = fixed + dims -%}
{%- set nd = dims | length -%}
{%- set sets = [] -%}
{%- for set_id in range(2 ** nd) -%}
    {%- set kept = [] -%}
    {%- for dim in dims -%}
        {%- if (set_id // (2 ** (nd - 1 - loop.index0))) % 2 == 0 -%}{%- do kept.append(dim) -%}{%- endif -%}
    {%- endfor -%}
    {%- do sets.append('(' ~ (fixed + kept + ['hub_bucket']) | join(', ') ~ ')') -%}
{%- endfor -%}
with finest as materialized (
    {%- if counts is not none %}
    select {{ columns | join(', ') }}, {{ bucket }} as hub_bucket, n, n_key, n_value, value_sum
    from {{ counts }}
    {%- else %}
    select {{ columns | join(', ') }}, {{ bucket }} as hub_bucket, count(*) as n, count({{ key }}) as n_key, count({{ value }}) as n_value, sum(cast({{ value }} as numeric)) as value_sum
    from {{ relation }}
    group by {{ columns | join(', ') }}, {{ bucket }}
    {%- endif %}
),

bucket_counts as materialized (
    select
        grouping({{ dims | join(', ') }}) as grouping_id,
        {{ columns | join(', ') }},
        hub_bucket,
        sum(n) as n,
        sum(n_key) as n_key,
        sum(n_value) as n_value,
        sum(value_sum) as value_sum
    from finest
    group by grouping sets ({{ sets | join(', ') }})
),

keyed as (
    select
        {{ hub_ranked_group_key(columns) }} as group_key,
        bucket_counts.*,
        sum(n_key) over (partition by grouping_id, {{ columns | join(', ') }} order by hub_bucket rows unbounded preceding) as n_through,
        sum(n_key) over (partition by grouping_id, {{ columns | join(', ') }}) as n_group
    from bucket_counts
),

{#- per group, each percentile's two ranks and the fraction between them (double precision,
    as percentile_cont: pos = p * (n - 1)) -#}
wanted as (
    select
        keyed.group_key,
        ranks.percentile_no,
        ranks.side,
        cast(ranks.rank_no as bigint) as rank_no
    from (select distinct group_key, n_group from keyed) as keyed
    cross join lateral (
        {{ hub_percentile_rank_rows(percentiles | map(attribute=1) | list, 'keyed.n_group') }}
    ) as ranks
),

{#- the bucket of each wanted rank and the rank within it -#}
needed as materialized (
    select
        keyed.group_key,
        keyed.grouping_id,
        keyed.{{ columns | join(', keyed.') }},
        keyed.hub_bucket,
        wanted.percentile_no,
        wanted.side,
        wanted.rank_no - (keyed.n_through - keyed.n_key) as rank_in_bucket
    from keyed
    inner join wanted
        on wanted.group_key = keyed.group_key
        and wanted.rank_no >= keyed.n_through - keyed.n_key
        and wanted.rank_no < keyed.n_through
),

{#- each needed group and bucket with the finest groups it is made of (a group keeps or rolls
    up each dim) -#}
needed_finest as materialized (
    select needed_groups.group_key, finest.{{ columns | join(', finest.') }}, finest.hub_bucket
    from (select distinct group_key, grouping_id, {{ columns | join(', ') }}, hub_bucket from needed) as needed_groups
    inner join finest
        on finest.hub_bucket = needed_groups.hub_bucket
        {%- for column in fixed %}
        and {{ hub_ranked_same('finest.' ~ column, 'needed_groups.' ~ column) }}
        {%- endfor %}
        {%- for dim in dims %}
        and ((needed_groups.grouping_id / {{ 2 ** (nd - 1 - loop.index0) }}) % 2 = 1 or {{ hub_ranked_same('finest.' ~ dim, 'needed_groups.' ~ dim) }})
        {%- endfor %}
),

{#- the rows of the needed buckets, once per group needing them, ranked in group and bucket -#}
bucket_rows as (
    select
        needed_finest.group_key,
        needed_finest.hub_bucket,
        row_number() over (partition by needed_finest.group_key, needed_finest.hub_bucket order by rows_read.{{ key }}) - 1 as rank_in_bucket,
        rows_read.{{ key }} as hub_key
    from {{ relation }} as rows_read
    inner join needed_finest
        on needed_finest.hub_bucket = rows_read.{{ bucket }}
        {%- for column in columns %}
        and {{ hub_ranked_same('rows_read.' ~ column, 'needed_finest.' ~ column) }}
        {%- endfor %}
),

picked as (
    select
        needed.group_key,
        {%- for name, p in percentiles %}
        max(case when needed.percentile_no = {{ loop.index }} and needed.side = 'lo' then bucket_rows.hub_key end) as lo_{{ loop.index }},
        max(case when needed.percentile_no = {{ loop.index }} and needed.side = 'hi' then bucket_rows.hub_key end) as hi_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from needed
    inner join bucket_rows
        on bucket_rows.group_key = needed.group_key
        and bucket_rows.hub_bucket = needed.hub_bucket
        and bucket_rows.rank_in_bucket = needed.rank_in_bucket
    group by needed.group_key
),

groups as (
    select
        group_key,
        grouping_id,
        {{ columns | join(', ') }},
        sum(n) as n,
        sum(n_key) as n_key,
        sum(n_value) as n_value,
        sum(value_sum) as value_sum
    from keyed
    group by group_key, grouping_id, {{ columns | join(', ') }}
)

select
    groups.grouping_id,
    groups.{{ columns | join(', groups.') }},
    cast(groups.n as bigint) as n,
    cast(case when groups.n_value > 0 then groups.value_sum / groups.n_value end as double precision) as mean_value
    {%- for name, p in percentiles %}
    {%- set pos = 'cast(' ~ p ~ ' as double precision) * cast(groups.n_key - 1 as double precision)' %},
    picked.lo_{{ loop.index }} + (({{ pos }} - floor({{ pos }})) * (picked.hi_{{ loop.index }} - picked.lo_{{ loop.index }})) as {{ name }}
    {%- endfor %}
from groups
left join picked on picked.group_key = groups.group_key
{%- endmacro %}

{#- A text key naming one group of one grouping set without ambiguity: the set's id, then
    each column as 'n' (NULL) or its length, ':' and its text. -#}
{% macro hub_ranked_group_key(columns) -%}
    {%- set parts = ["cast(grouping_id as text)"] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(length(" ~ column ~ ") || ':' || " ~ column ~ ", 'n')") -%}
    {%- endfor -%}
    ({{ parts | join(" || '/' || ") }})
{%- endmacro %}

{#- Two text columns equal or both NULL, as equalities PostgreSQL can hash (IS NOT DISTINCT
    FROM it cannot). -#}
{% macro hub_ranked_same(a, b) -%}
    coalesce({{ a }}, '') = coalesce({{ b }}, '') and ({{ a }} is null) = ({{ b }} is null)
{%- endmacro %}

{#- Pre-hook of a model using hub_ranked_percentiles, PostgreSQL only: its small CTEs are
    estimated at a row or two, and the planner then scanned the whole relation once per
    needed bucket in a nested loop (at 100,000 deals: 435 s instead of under 2). Inside the
    model's transaction, so for its create statement alone. -#}
{% macro hub_ranked_percentiles_plan() -%}
    {%- if target.type == 'postgres' -%}
        set local enable_nestloop = off
    {%- endif -%}
{%- endmacro %}

{#- The two 0-based ranks percentile_cont reads for each of `percentiles` (fractions) in a
    group of `n` rows (an expression), as rows (percentile_no from 1, side 'lo' | 'hi',
    rank_no): pos = p * (n - 1) in double precision, its floor and its ceiling. For a
    lateral join (hub_ranked_percentiles, hub_cycle_percentiles). -#}
{% macro hub_percentile_rank_rows(percentiles, n) -%}
    {%- for p in percentiles %}
    {%- set pos = 'cast(' ~ p ~ ' as double precision) * cast(' ~ n ~ ' - 1 as double precision)' %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select {{ loop.index }} as percentile_no, 'lo' as side, floor({{ pos }}) as rank_no
    union all
    select {{ loop.index }}, 'hi', ceil({{ pos }})
    {%- endfor %}
{%- endmacro %}

{#- int_closed_spell_day_counts' measures of int_closed_spell_facts rows (or their stashed
    old rows), times `sign`: the counts and numeric sum hub_ranked_percentiles' finest step
    takes per group and bucket. -#}
{% macro hub_spell_day_rows(relation, sign, where) -%}
    select
        canonical_stage,
        final_outcome,
        rep_key,
        source_name,
        day_bucket,
        {{ hub_day_count_measures_of('days_key', 'days', sign) }}
    from {{ relation }}
    where {{ where }}
{%- endmacro %}

{#- The finest counts a day-count table keeps per group (hub_ranked_percentiles' finest step
    reads them): rows, rows with a key, rows with a value, and the exact (numeric) sum. -#}
{% macro hub_day_count_measures() -%}
    {{ return(['n', 'n_key', 'n_value', 'value_sum']) }}
{%- endmacro %}

{#- One row's share of those counts, times `sign` (-1 for a stashed old row), given its
    `key` (what ranks it) and `value` (what is summed) expressions. -#}
{% macro hub_day_count_measures_of(key, value, sign) -%}
    {{ sign }} as n,
        case when {{ key }} is null then 0 else {{ sign }} end as n_key,
        case when {{ value }} is null then 0 else {{ sign }} end as n_value,
        {{ sign }} * cast({{ value }} as numeric) as value_sum
{%- endmacro %}

{#- The body of a day-count table kept as sums (int_closed_spell_day_counts,
    int_sales_cycle_dimension_day_counts): per group (`groups`), the counts summed from
    `full_rows` (the rows' measures, sign 1) on a full build, from the touched groups' kept
    rows and deltas on an incremental one; a group whose last row left is dropped. -#}
{% macro hub_day_counts(groups, full_rows) -%}
select
    {{ groups | join(',\n    ') }},
    cast(sum(n) as bigint) as n,
    cast(sum(n_key) as bigint) as n_key,
    cast(sum(n_value) as bigint) as n_value,
    sum(value_sum) as value_sum
from (
    {%- if hub_groups_incremental() %}
    {{ hub_kept_and_deltas(groups + hub_day_count_measures()) }}
    {%- else %}
    {{ full_rows }}
    {%- endif %}
) as summed_rows
group by {{ groups | join(', ') }}
having sum(n) > 0
{%- endmacro %}
