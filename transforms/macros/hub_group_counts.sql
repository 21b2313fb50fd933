{#- Group tables of counts kept by touched group, updated by difference (docs/architecture.md
    "Counts kept by difference"; macro file hub_group_sums keeps sums of
    any measure with NULLs, this one plain integer counts).

    The touched-group models of hub_groups rebuild a touched group from all the facts of that
    group, which means reading the whole facts table: right for percentiles and averages, which
    need every value, but the activity and open-deal counts of rep_activity are sums of
    integers, and a group's new sums are its stored sums plus the listed deals' new facts minus
    their old facts (hub_before_<facts>, kept by the facts model's pre-hook
    hub_stash_changed_deals). So a run reads only the changed deals' rows and the few stored
    rows of the groups they touch, whatever the size of the facts table.

    The pre-hook writes hub_meta.hub_delta_<model>: per group named by a changed deal's old or
    new fact, stored sums + new facts - old facts; it deletes those groups' rows, and the model
    inserts the groups whose `count` column is not 0 (no fact left: the group goes, as a full
    build would not have it). Groups are deleted by the text key of hub_groups (NULL as ''):
    two groups sharing a key are both read into the delta, both deleted, both written back.
    Without the hub's var (dbt by hand, a test) or on a full refresh, the model sums every
    fact, as the other group models do. -#}

{#- Pre-hook (statements joined by ';') of a group model: write the delta table and delete the
    touched groups' rows; every row without the hub's var. `sums` are the summed columns (the
    facts' names), `columns` the group's. -#}
{% macro hub_sum_touched_groups(facts, list, columns, sums) -%}
    {%- set delta = hub_groups_scratch('hub_delta_', this.identifier) -%}
    {%- set before = hub_groups_scratch('hub_before_', facts.identifier) -%}
    {%- if hub_groups_incremental() -%}
        {%- set keys = columns | join(', ') -%}
        {%- set negated = [] -%}
        {%- for column in sums -%}
            {%- do negated.append('-' ~ column ~ ' as ' ~ column) -%}
        {%- endfor -%}
        {%- set create -%}
            create table {{ delta }} as
            with changes as (
                select {{ keys }}, {{ sums | join(', ') }} from {{ facts }}
                where deal_key in (select deal_key from {{ hub_table(list) }})
                union all
                select {{ keys }}, {{ negated | join(', ') }} from {{ before }}
            ),

            touched as (
                select distinct {{ hub_group_key(columns) }} as group_key from changes
            )

            select {{ keys }}{% for column in sums %}, sum({{ column }}) as {{ column }}{% endfor %}
            from (
                select * from changes
                union all
                select {{ keys }}, {{ sums | join(', ') }} from {{ this }}
                where {{ hub_group_key(columns) }} in (select group_key from touched)
            ) as parts
            group by {{ keys }}
        {%- endset -%}
        {%- do return([
            "drop table if exists " ~ delta,
            create,
            "delete from " ~ this ~ " where " ~ hub_group_key(columns)
                ~ " in (select " ~ hub_group_key(columns) ~ " from " ~ delta ~ ")",
        ] | join(';\n')) -%}
    {%- elif is_incremental() -%}
        {%- do return("delete from " ~ this) -%}
    {%- endif -%}
    {%- do return('') -%}
{%- endmacro %}

{#- The body of a group model: the touched groups' delta rows left with a fact (`count` not 0)
    on an incremental run, else every fact summed. Sums are bigint on both warehouses. -#}
{% macro hub_sum_groups_select(facts, columns, sums, count) -%}
    {%- set keys = columns | join(', ') -%}
    {%- if hub_groups_incremental() -%}
        select {{ keys }}{% for column in sums %}, cast({{ column }} as {{ dbt.type_bigint() }}) as {{ column }}{% endfor %}
        from {{ hub_groups_scratch('hub_delta_', this.identifier) }}
        where {{ count }} <> 0
    {%- else -%}
        select {{ keys }}{% for column in sums %}, cast(sum({{ column }}) as {{ dbt.type_bigint() }}) as {{ column }}{% endfor %}
        from {{ facts }}
        group by {{ keys }}
    {%- endif -%}
{%- endmacro %}
