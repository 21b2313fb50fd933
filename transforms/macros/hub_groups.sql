{#- Aggregates rebuilt by touched group (docs/architecture.md "Aggregates kept by period or
    day").

    A per-deal facts model (int_deal_period_facts, int_deal_snapshot_deltas) holds, for every
    counted deal, its rows keyed by the groups it counts in (a period; a source, stage and
    day). It is incremental on a deal list like the other per-deal models, but its pre-hook
    first copies the listed deals' rows as they were into hub_meta (hub_before_<model>). A
    group model holding medians (int_sales_cycle_periods) then rebuilds only the groups
    where a facts row appeared or disappeared: the symmetric difference of those old rows
    and the same deals' new rows,
    written to hub_meta (hub_touched_<model>). A deal that changed in a way no group reads (a
    stage move of an open deal, for the period marts) touches none; one that changes owner,
    is re-dated or deleted touches the groups it leaves too. Every other group keeps its
    rows. What moves with as_of is the marts' (views, or a small table over the groups).
    Group models of sums and counts alone apply the changed deals' deltas instead, reading no
    other deal (macro hub_group_sums).

    Without the hub's var (dbt run by hand, a test) or on a full refresh, both models are
    built whole, as the per-deal ones are. -#}

{#- True when this run may rebuild only what changed: an incremental model and the hub's list
    of changed deals is current. -#}
{% macro hub_groups_incremental() -%}
    {{ return(is_incremental() and hub_run_var('hub_changed_deals', false)) }}
{%- endmacro %}

{#- hub_meta.<prefix><model>: the scratch tables of a facts or period model. -#}
{% macro hub_groups_scratch(prefix, model_name) -%}
    {%- set hub = source('hub', 'hub_changed_deals') -%}
    {{ return(api.Relation.create(database=hub.database, schema=hub.schema, identifier=prefix ~ model_name)) }}
{%- endmacro %}

{#- Pre-hook (statements joined by ';') of a per-deal facts model: keep the listed deals'
    rows as they were (hub_meta.hub_before_<model>, read by the group tables kept by touched
    group or by difference), then drop them (every row without the hub's var: a full
    rebuild). On PostgreSQL one pass: an empty copy of the table's columns, then a delete
    whose returned rows go into it (a copy and then a delete were two scans of the whole
    table, each matching every row against the list without an index). DuckDB has no
    data-modifying WITH, so it copies and then deletes. -#}
{% macro hub_stash_changed_deals(list) -%}
    {%- set before = hub_groups_scratch('hub_before_', this.identifier) -%}
    {%- set listed = "deal_key in (select deal_key from " ~ hub_table(list) ~ ")" -%}
    {%- if target.type == 'postgres' -%}
        {%- set statements = [
            "drop table if exists " ~ before,
            "create table " ~ before ~ " as select * from " ~ this ~ " where false",
            "with stashed as (delete from " ~ this ~ " where " ~ listed ~ " returning *) insert into "
                ~ before ~ " select * from stashed",
        ] -%}
    {%- else -%}
        {%- set statements = [
            "drop table if exists " ~ before,
            "create table " ~ before ~ " as select * from " ~ this ~ " where " ~ listed,
            "delete from " ~ this ~ " where " ~ listed,
        ] -%}
    {%- endif -%}
    {%- do return(hub_kept_table_pre_hook(statements)) -%}
{%- endmacro %}

{#- The pre-hook of a table the hub keeps between builds (per-deal facts, group tables): its
    `statements` joined by ';' on an incremental run the hub planned; every row deleted on
    another incremental run (without the hub's var: a full rebuild into the kept table);
    nothing on a first build. -#}
{% macro hub_kept_table_pre_hook(statements) -%}
    {%- if hub_groups_incremental() -%}
        {%- do return(statements | join(';\n')) -%}
    {%- elif is_incremental() -%}
        {%- do return("delete from " ~ this) -%}
    {%- endif -%}
    {%- do return('') -%}
{%- endmacro %}

{#- One text key per group (its columns' values, NULL as ''). Two groups may share a key
    (a value holding the separator, NULL and ''): both are then deleted and rebuilt, never
    left stale, as the delete and the rebuild select by the same key. -#}
{% macro hub_group_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '')") -%}
    {%- endfor -%}
    ({{ parts | join(" || '|' || ") }})
{%- endmacro %}

{#- Pre-hook (statements joined by ';') of a group model: write the groups (`columns`) touched
    since the last build, those of a facts row of a listed deal that appeared or disappeared,
    and delete their rows; every row without the hub's var. -#}
{% macro hub_delete_touched_groups(facts, list, columns) -%}
    {%- set touched = hub_groups_scratch('hub_touched_', this.identifier) -%}
    {%- set before = hub_groups_scratch('hub_before_', facts.identifier) -%}
    {%- set now -%}
        select * from {{ facts }} where deal_key in (select deal_key from {{ hub_table(list) }})
    {%- endset -%}
    {%- do return(hub_kept_table_pre_hook([
        "drop table if exists " ~ touched,
        "create table " ~ touched ~ " as select distinct " ~ hub_group_key(columns)
            ~ " as group_key from ((select * from " ~ before ~ " except " ~ now ~ ") union all ("
            ~ now ~ " except select * from " ~ before ~ ")) as changed",
        "delete from " ~ this ~ " where " ~ hub_group_key(columns)
            ~ " in (select group_key from " ~ touched ~ ")",
    ])) -%}
{%- endmacro %}

{#- " and <group> in (touched groups)" on an incremental run; nothing otherwise. -#}
{% macro hub_only_touched_groups(columns) -%}
    {%- if hub_groups_incremental() -%}
        and {{ hub_group_key(columns) }} in (select group_key from {{ hub_groups_scratch('hub_touched_', this.identifier) }})
    {%- endif -%}
{%- endmacro %}
