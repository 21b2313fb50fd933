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
    PostgreSQL keeps dbt's materializations (it has no `create or replace table`); the
    incremental models keep dbt-duckdb's. -#}

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
