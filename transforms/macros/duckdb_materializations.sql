{#- DuckDB only: a table or view model is one `create or replace` statement.

    dbt's own table and view materializations build under a temporary name, rename the old
    relation to a backup, rename the new one into place and drop the backup: each rename
    and drop is a macro call that dbt renders with a fresh context, plus a statement, its
    events and log lines. On DuckDB that was most of a small model's time (an hourly sync
    rebuilds ~50 tables and views whose SQL takes milliseconds). DuckDB replaces a relation
    atomically inside the model's transaction, so one statement gives what the swap gave:
    readers see the old relation until the commit, the new one after, and a failed build
    leaves the old one in place. A relation of the other kind under the name (a table
    becoming a view, or the reverse) is dropped first, in the same transaction.
    PostgreSQL keeps dbt's materializations (it has no `create or replace table`).

    An incremental model (all of ours append: their pre-hook deletes the rows of the deals
    or groups they rebuild) is one `insert into ... by name` of its query on an incremental
    run, in the pre-hook's transaction. dbt-duckdb's own first writes the query into a
    temporary table, reads the columns of both tables twice (type widening, schema changes),
    inserts from the temporary table and drops it: five statements and their dbt events
    more per model, for a change of columns that cannot happen here (the project's files
    are in the build's fingerprint, so a changed model makes the build full). A full
    refresh, a first build, or a view under the name is a `create or replace table`, as
    above. -#}

{% materialization table, adapter='duckdb' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {{- hub_replace_relation(target_relation, 'table', compiled_code) -}}
    {{- return({'relations': [target_relation]}) -}}
{% endmaterialization %}

{% materialization view, adapter='duckdb' %}
    {%- set target_relation = this.incorporate(type='view') -%}
    {{- hub_replace_relation(target_relation, 'view', compiled_code) -}}
    {{- return({'relations': [target_relation]}) -}}
{% endmaterialization %}

{% materialization incremental, adapter='duckdb' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- if config.get('incremental_strategy') != 'append' -%}
        {{- exceptions.raise_compiler_error(this ~ ": the hub's DuckDB incremental materialization knows only incremental_strategy='append' (a pre-hook deletes what is rebuilt)") -}}
    {%- endif -%}
    {%- if existing_relation is none or existing_relation.type != 'table' or should_full_refresh() -%}
        {{- hub_replace_relation(target_relation, 'table', compiled_code) -}}
    {%- else -%}
        {{ run_hooks(pre_hooks, inside_transaction=False) }}
        -- `BEGIN` happens here:
        {{ run_hooks(pre_hooks, inside_transaction=True) }}
        {% call statement('main') -%}
            insert into {{ target_relation }} by name (
                {{ compiled_code }}
            )
        {%- endcall %}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- endif -%}
    {{- return({'relations': [target_relation]}) -}}
{% endmaterialization %}

{% macro hub_replace_relation(target_relation, kind, compiled_sql) %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    -- `BEGIN` happens here:
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- if existing_relation is not none and existing_relation.type != kind -%}
        {%- do adapter.drop_relation(existing_relation) -%}
    {%- endif -%}
    {% call statement('main') -%}
        create or replace {{ kind }} {{ target_relation }} as (
            {{ compiled_sql }}
        )
    {%- endcall %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
{% endmacro %}
