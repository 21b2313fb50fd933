{#- PostgreSQL planner settings for the marts whose first step counts many deal rows into a
    few groups (the win-rate months, the stage-conversion buckets).

    PostgreSQL estimates a GROUP BY's groups as the product of its columns' distinct values,
    and a column derived from an instant (the close or creation month) counts as many values
    as the instant has: at 100,000 deals the buckets were estimated at 297,149 groups (real:
    8,040) and the months at about as many. At such an estimate a hash table looks larger than
    work_mem, so it sorted every deal row by all the grouping columns instead (spilling to
    disk); hashing them costs a fraction (the counting step 1.15 -> 0.45 CPU-s at 100,000
    deals). No estimate of ours can be made right (the columns are correlated across two
    tables), so these models turn sorting off for their own statement: the planner then hashes
    wherever it can and still sorts where nothing else is possible (the grouping sets, the
    windows). `set local` ends with the model's transaction (dbt runs a table's pre-hooks and
    its create statement in one). Nothing on other warehouses: DuckDB hashes anyway.
    JIT needs no word here: the hub's sessions run with it off (warehouse.jit), and with
    sorting off a sort the planner cannot avoid is costed at 10^10, far above
    jit_above_cost. -#}
{% macro hub_prefer_hashing() -%}
    {%- if target.type == 'postgres' -%}
        set local enable_sort = off
    {%- endif -%}
{%- endmacro %}

{#- `materialized` after a CTE's `as` on PostgreSQL, nothing elsewhere: a CTE read once is
    folded into the query that reads it, and planned with it the grouping below took the sort
    order the grouping sets above wanted even with sorting off; planned alone it hashes. -#}
{% macro hub_planned_alone() -%}
    {%- if target.type == 'postgres' %} materialized{% endif -%}
{%- endmacro %}
