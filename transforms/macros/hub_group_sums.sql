{#- Group tables kept as sums, updated by the changed deals' deltas (docs/architecture.md
    "Aggregates kept by period or day").

    A group table whose every column is a sum or count of its facts rows (or computed from
    such sums) need not read a touched group's other rows at all: its new sums are its kept
    sums plus the listed deals' new facts rows minus their old ones (hub_before_<facts>, kept
    by the facts model's pre-hook, macro hub_stash_changed_deals). The bench's hourly change
    set deletes deals from every month, so nearly every group is touched, each by a few deals;
    rebuilding a touched group read all of its deals, a delta reads only the changed ones.

    A model using this keeps, for every summed column that may be NULL, the count of its
    non-NULL values (a sum over no value is NULL in a full build, 0 after deltas cancel), and
    a count of facts rows telling whether the group still exists. Its select renders
    hub_group_sums_source(): the facts on a full build, the kept rows of the touched groups
    and the signed deltas on an incremental one, which the model then sums per group.
    Medians and percentiles cannot be updated this way: int_sales_cycle_periods rebuilds
    its touched groups (macro hub_groups), on PostgreSQL from day counts kept as sums
    (macro hub_cycle_percentiles). -#}

{#- Pre-hook (statements joined by ';') of a group table kept as sums. `deltas_sql` renders
    the signed rows of the listed deals (macro hub_group_delta_rows); they are summed per
    group (`columns`) into hub_meta.hub_delta_<model>, the touched groups' rows are copied
    to hub_meta.hub_kept_<model> and deleted. Every row is deleted without the hub's var. -#}
{% macro hub_keep_group_sums(deltas_sql, columns, measures) -%}
    {%- set delta = hub_groups_scratch('hub_delta_', this.identifier) -%}
    {%- set kept = hub_groups_scratch('hub_kept_', this.identifier) -%}
    {%- set sums = [] -%}
    {%- for measure in measures -%}
        {%- do sums.append('sum(' ~ measure ~ ') as ' ~ measure) -%}
    {%- endfor -%}
    {%- do return(hub_kept_table_pre_hook([
        "drop table if exists " ~ delta,
        "create table " ~ delta ~ " as select " ~ columns | join(', ') ~ ", " ~ sums | join(', ')
            ~ " from (" ~ deltas_sql ~ ") as deltas group by " ~ columns | join(', '),
        "drop table if exists " ~ kept,
        "create table " ~ kept ~ " as select * from " ~ this ~ " where " ~ hub_group_key(columns)
            ~ " in (select " ~ hub_group_key(columns) ~ " from " ~ delta ~ ")",
        "delete from " ~ this ~ " where " ~ hub_group_key(columns)
            ~ " in (select " ~ hub_group_key(columns) ~ " from " ~ delta ~ ")",
    ])) -%}
{%- endmacro %}

{#- The listed deals' facts rows as deltas: their rows now (+) and as they were before this
    run (-), through `rows_macro(relation, sign, where)`, which returns the group columns and
    each measure multiplied by sign. -#}
{% macro hub_group_delta_rows(facts, list, rows_macro) -%}
    {%- set before = hub_groups_scratch('hub_before_', facts.identifier) -%}
    {{ rows_macro(facts, 1, "deal_key in (select deal_key from " ~ hub_table(list) ~ ")") }}
    union all
    {{ rows_macro(before, -1, "true") }}
{%- endmacro %}

{#- The listed deals' facts rows as deltas when every measure is a plain column of the facts
    (counts, never NULL): `columns` and `measures` as they are now (+) and as they were (-). -#}
{% macro hub_group_delta_columns(facts, list, columns, measures) -%}
    {%- set before = hub_groups_scratch('hub_before_', facts.identifier) -%}
    select {{ columns | join(', ') }}, {{ measures | join(', ') }} from {{ facts }}
    where deal_key in (select deal_key from {{ hub_table(list) }})
    union all
    select {{ columns | join(', ') }}{% for measure in measures %}, -{{ measure }} as {{ measure }}{% endfor %}
    from {{ before }}
{%- endmacro %}

{#- The body of a group table of plain counts kept as sums: per group (`columns`), each
    measure summed (bigint on both warehouses) from the facts on a full build, from the
    touched groups' kept rows and deltas on an incremental one; a group is written while
    `exists` (a sum over the measures) is above 0. -#}
{% macro hub_group_counts(facts, columns, measures, exists) -%}
    select {{ columns | join(', ') }}
    {%- for measure in measures %}, cast(sum({{ measure }}) as {{ dbt.type_bigint() }}) as {{ measure }}{% endfor %}
    from (
        {%- if hub_groups_incremental() %}
        {{ hub_kept_and_deltas(columns + measures) }}
        {%- else %}
        select {{ columns | join(', ') }}, {{ measures | join(', ') }} from {{ facts }}
        {%- endif %}
    ) as summed_rows
    group by {{ columns | join(', ') }}
    having sum({{ exists }}) > 0
{%- endmacro %}

{#- A kept sum, NULL where the group has no non-NULL value (as sum() over them gives). -#}
{% macro hub_kept_sum(measure, count) -%}
    case when sum({{ count }}) = 0 then null else sum({{ measure }}) end
{%- endmacro %}

{#- An incremental run's rows to sum per group: the touched groups' kept rows and their
    deltas (`columns`: the group columns and measures, as stored). -#}
{% macro hub_kept_and_deltas(columns) -%}
    select {{ columns | join(', ') }} from {{ hub_groups_scratch('hub_kept_', this.identifier) }}
    union all
    select {{ columns | join(', ') }} from {{ hub_groups_scratch('hub_delta_', this.identifier) }}
{%- endmacro %}

{#- int_pipeline_daily_deltas' measures of int_deal_snapshot_deltas rows, times `sign`. -#}
{% macro hub_pipeline_delta_rows(relation, sign, where) -%}
    select
        source_name,
        canonical_stage,
        delta_day,
        {{ sign }} * n_deltas as n_deltas,
        {{ sign }} * delta_count as delta_count,
        {{ sign }} * delta_missing as delta_missing,
        {{ sign }} * delta_amount as delta_amount,
        {{ sign }} * delta_weighted as delta_weighted,
        case when delta_amount is null then 0 else {{ sign }} end as n_amount,
        case when delta_weighted is null then 0 else {{ sign }} end as n_weighted
    from {{ relation }}
    where {{ where }}
{%- endmacro %}

{#- int_sales_velocity_periods' measures of int_deal_period_facts rows (month and quarter),
    times `sign`, per rep; with `rollup`, each row also for all reps ('*'), as the deltas
    need (a full build rolls up by grouping sets instead). The won deals' cycle is summed in
    whole seconds (days x 86400, exact), so the kept sums add up exactly. -#}
{% macro hub_velocity_rows(relation, sign, where, rollup=true) -%}
    {%- for rep in (['rep_key', "'*'"] if rollup else ['rep_key']) %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        period_type,
        period_start,
        {{ rep }} as rep_key,
        {{ sign }} as n_facts,
        case when is_creation then {{ sign }} else 0 end as opportunities,
        case when not is_creation and is_won then {{ sign }} else 0 end as won_count,
        case when not is_creation and is_lost then {{ sign }} else 0 end as lost_count,
        {{ sign }} * case when not is_creation and is_won then amount_base end as won_amount_sum,
        case when not is_creation and is_won and amount_base is not null then {{ sign }} else 0 end as n_won_amount,
        {{ sign }} * case
            when not is_creation and is_won and has_cycle then cast(round(cycle_days * 86400) as bigint)
        end as won_cycle_seconds,
        case when not is_creation and is_won and has_cycle and cycle_days is not null then {{ sign }} else 0 end as n_won_cycle
    from {{ relation }}
    where period_type in ('month', 'quarter') and {{ where }}
    {%- endfor %}
{%- endmacro %}

{#- int_win_rate_dimension_months' measures of int_deal_dimensions rows (closed counted
    deals), times `sign`. -#}
{% macro hub_win_rate_dimension_rows(relation, sign, where) -%}
    select
        dimension,
        dimension_value,
        rep_key,
        source_name,
        pipeline_key,
        {{ hub_period_start('month', 'closed_at') }} as month_start,
        {{ hub_period_start('quarter', 'closed_at') }} as quarter_start,
        {{ sign }} as n_rows,
        case when is_won then {{ sign }} else 0 end as won_count,
        case when is_lost then {{ sign }} else 0 end as lost_count,
        {{ sign }} * case when is_won then amount_base end as won_amount_base,
        case when is_won and amount_base is not null then {{ sign }} else 0 end as n_won_amount,
        {{ sign }} * case when is_lost then amount_base end as lost_amount_base,
        case when is_lost and amount_base is not null then {{ sign }} else 0 end as n_lost_amount,
        case when amount_base is null then {{ sign }} else 0 end as n_closed_without_amount_base
    from {{ relation }}
    where is_counted and (is_won or is_lost) and {{ where }}
{%- endmacro %}
