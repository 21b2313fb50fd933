{#- Pre-hook (statements joined by ';') of a per-deal facts model that keeps the listed deals'
    rows as they were (hub_meta.hub_before_<model>, read by the group tables kept by touched
    group or by difference) before dropping them. hub_stash_changed_deals copies them and
    then deletes them: two passes over the whole table, each matching every row against the
    list (PostgreSQL has no index to find them). On PostgreSQL this is one pass: an empty
    copy of the table's columns, then a delete whose returned rows are inserted into it.
    DuckDB (no data-modifying WITH) keeps the two statements. -#}
{% macro hub_stash_changed_deals_once(list) -%}
    {%- if target.type != 'postgres' -%}
        {%- do return(hub_stash_changed_deals(list)) -%}
    {%- endif -%}
    {%- set before = hub_groups_scratch('hub_before_', this.identifier) -%}
    {%- do return(hub_kept_table_pre_hook([
        "drop table if exists " ~ before,
        "create table " ~ before ~ " as select * from " ~ this ~ " where false",
        "with stashed as (delete from " ~ this ~ " where deal_key in (select deal_key from "
            ~ hub_table(list) ~ ") returning *) insert into " ~ before ~ " select * from stashed",
    ])) -%}
{%- endmacro %}
