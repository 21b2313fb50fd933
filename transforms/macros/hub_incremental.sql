{#- Per-deal incremental models (docs/architecture.md "Incremental transforms").

    Before dbt runs, the hub (hub/warehouse/changes.py) writes to hub_meta.hub_changed_deals
    every deal whose inputs to these models changed since the last complete transform, or
    whose rows may differ at the new as_of, and passes hub_changed_deals = true (macro
    hub_run_var). A per-deal model then deletes those deals' rows (pre-hook hub_delete_changed_deals) and
    inserts them again, computed from its inputs filtered by hub_only_changed_deals; every
    other deal keeps its rows. On a full refresh (dbt --full-refresh, the first build) both
    macros render nothing and the model is built whole. A dbt run on a built warehouse
    without that var (a user's own `dbt build`, a test) deletes every row and inserts every
    deal again: a full rebuild, never a stale list. -#}

{#- " and <column> in (changed deals)" on an incremental run; nothing otherwise. Place it
    after a where clause of every input read by deal key. `list` is the hub_meta table of the
    deals to rebuild: hub_changed_deals, or for int_deal_facts and int_deal_dimensions
    hub_changed_deal_rows (hub/warehouse/deal_rows.py), which the hub writes beside it. A
    model reading another list says so in its config (meta hub_changed_list), so its data
    tests read that list's deals (get_where_subquery). -#}
{% macro hub_only_changed_deals(column='deal_key', list='hub_changed_deals') -%}
    {%- if is_incremental() and hub_run_var('hub_changed_deals', false) -%}
        and {{ column }} in (select deal_key from {{ hub_table(list) }})
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: drop the rows of the deals about to be rebuilt (deleted deals included, whose
    rows then simply disappear). -#}
{% macro hub_delete_changed_deals(list='hub_changed_deals') -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        {%- if hub_run_var('hub_changed_deals', false) %}
        where deal_key in (select deal_key from {{ hub_table(list) }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Data tests of the per-deal models on an incremental run read only the changed deals'
    rows. Every other deal kept its rows exactly as the last complete build wrote them, and
    that build's tests passed on them; a test of these models judges a row by the row itself
    or by other rows of the same deal (keys hold deal_key), so testing the rows that were
    written again answers what testing every row would. The same holds for a model rebuilt in
    full whose rows can only change with a deal listed in a list the hub writes (a staging
    view over source tables the per-deal snapshot hashes, the `deals` view over
    int_deal_facts): its config names that list in meta hub_test_changed_list
    (docs/architecture.md "Data tests" says why each is safe); their rows without a deal_key
    are in no list, so they are always read (a per-deal model writes none). The hub passes
    hub_test_changed_deals only when the last complete build ended ok (not tests_failed,
    whose failing rows may still be there). A staging view over source tables alone names them
    in meta hub_test_source_tables; when the hub lists every one of them in
    hub_test_unchanged_tables (same rows as at that build, hub/warehouse/source_digests.py),
    its tests read no row. dbt wraps the tested model of every generic test in this macro;
    the `where` config keeps working as in dbt's own version. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set tested_before = hub_run_var('hub_test_changed_deals', false) -%}
    {%- set changed = hub_changed_list(relation) if tested_before else none -%}
    {%- set list = changed[0] if changed else none -%}
    {%- set tested = relation -%}
    {%- set nothing = tested_before and hub_sources_unchanged(relation) -%}
    {%- if nothing -%}
        {%- set tested -%}
            (select * from {{ relation }} where 1 = 0)
        {%- endset -%}
    {%- elif list and changed[1] -%}
        {#- A join, not "deal_key in (...) or deal_key is null": PostgreSQL hashes an OR'ed
            IN list only while it fits work_mem and otherwise scans the list once per row,
            and the list holds every deal when the tables all deals share changed. The
            lists hold each deal once. -#}
        {%- set tested -%}
            (select hub_rows.* from {{ relation }} as hub_rows
            left join {{ hub_table(list) }} as hub_changed on hub_changed.deal_key = hub_rows.deal_key
            where hub_changed.deal_key is not null or hub_rows.deal_key is null)
        {%- endset -%}
    {%- elif list -%}
        {#- A semi-join: 0.1 CPU-s less than the join above on a per-deal table of 340,000
            spells (PostgreSQL). -#}
        {%- set tested -%}
            (select * from {{ relation }} where deal_key in (select deal_key from {{ hub_table(list) }}))
        {%- endset -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ tested }} hub_tested where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- elif list or nothing -%}
        {%- do return(tested ~ " dbt_subquery") -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- [list, with rows without a deal_key] for the deals whose rows `relation`'s tests read on
    an incremental run: for one of this project's incremental models (the per-deal ones), its
    config's meta hub_changed_list, else hub_changed_deals (no such rows); for another model
    of the project with meta hub_test_changed_list, that list (those rows too); none
    otherwise. One lookup by the model's unique id (they carry no alias), not a walk over
    every node: dbt renders this for each of ~250 tests. A relation not found is tested
    whole. -#}
{% macro hub_changed_list(relation) -%}
    {%- if not execute or relation is none or relation.identifier is none -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ relation.identifier | lower) -%}
    {%- if node is none or node.schema | lower != (relation.schema or '') | lower -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set meta = node.config.meta or {} -%}
    {%- if node.config.materialized != 'incremental' -%}
        {%- set list = meta.get('hub_test_changed_list') -%}
        {%- do return([list, true] if list else none) -%}
    {%- endif -%}
    {%- do return([meta.get('hub_changed_list', 'hub_changed_deals'), false]) -%}
{%- endmacro %}

{#- True when `relation` is a model of this project whose config names the source tables it
    reads (meta hub_test_source_tables) and the hub listed every one in
    hub_test_unchanged_tables: each source's table of those names has the rows it had at the
    last complete build, whose tests passed on the view's rows. -#}
{% macro hub_sources_unchanged(relation) -%}
    {%- if not execute or relation is none or relation.identifier is none -%}
        {%- do return(false) -%}
    {%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ relation.identifier | lower) -%}
    {%- if node is none or node.schema | lower != (relation.schema or '') | lower -%}
        {%- do return(false) -%}
    {%- endif -%}
    {%- set tables = (node.config.meta or {}).get('hub_test_source_tables', []) -%}
    {%- set unchanged = hub_run_var('hub_test_unchanged_tables', []) -%}
    {%- for table in tables -%}
        {%- if table not in unchanged -%}
            {%- do return(false) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(tables | length > 0) -%}
{%- endmacro %}
