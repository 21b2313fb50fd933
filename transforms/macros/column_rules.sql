{#- A model's per-column rules in one test node, rather than a node and a
    scan per column and rule (dbt spends tens of milliseconds on every test node, and these
    rules were most of the project's tests):

      not_null: [columns]                      never null
      not_null_where: {column: condition}      never null where the SQL condition holds
      accepted_values: {column: [values]}      one of the values (null passes, as in dbt's)
      between_zero_and_one: [columns]          0-1 (null passes)
      not_negative: [columns]                  >= 0 (null passes)
      unique: [columns]                        no value twice (nulls pass, as in dbt's)
      unique_combination: [[columns], ...]     no combination twice (nulls compare equal)
      relationships: {column: {to: ref, field: name}}
                                               every value is a `field` of `to` (null passes)

    It returns one row per broken (rule, column): the rule, the column(s), the condition (for
    not_null_where) and how many rows (for uniqueness: values) break it. dbt's message says only
    how many rows the test returned; the hub reads these rows back into its failure line
    (hub/dbt_failing_rows.py), so a failure still names the model, the column and the rule.
    The value rules share one scan; each uniqueness rule is its own grouping in the same
    query. A relationship is an anti-join with its parent in the same query, not a node of
    its own. On an incremental run the tested model is often a filter of a whole view or
    table by a list of deals (macro get_where_subquery): each grouping and anti-join would
    run that filter again (a scan of every row, to keep the few of the listed deals), so
    there the filtered rows are read once into a materialized CTE that every part reads
    (PostgreSQL, 100,000 deals, stg_stage_changes: 0.70 -> 0.45 s serial execution). A
    relation tested whole is read by each part as before: copying all its rows would cost
    more than a second scan. -#}
{% test column_rules(model, not_null=[], not_null_where={}, accepted_values={}, between_zero_and_one=[], not_negative=[], unique=[], unique_combination=[], relationships={}) %}
{%- set checks = [] -%}
{%- for column in not_null -%}
    {%- do checks.append(('null', column, none, column ~ ' is null')) -%}
{%- endfor -%}
{%- for column, condition in not_null_where.items() -%}
    {%- do checks.append(('null', column, condition, '(' ~ condition ~ ') and ' ~ column ~ ' is null')) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set quoted = [] -%}
    {%- for value in values -%}
        {%- do quoted.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do checks.append(('not an accepted value', column, none, column ~ ' not in (' ~ quoted | join(', ') ~ ')')) -%}
{%- endfor -%}
{%- for column in between_zero_and_one -%}
    {%- do checks.append(('outside 0-1', column, none, column ~ ' < 0 or ' ~ column ~ ' > 1')) -%}
{%- endfor -%}
{%- for column in not_negative -%}
    {%- do checks.append(('negative', column, none, column ~ ' < 0')) -%}
{%- endfor -%}
{%- set keys = [] -%}
{%- for column in unique -%}
    {%- do keys.append((column, [column], column ~ ' is not null')) -%}
{%- endfor -%}
{%- for columns in unique_combination -%}
    {%- do keys.append((columns | join(', '), columns, 'true')) -%}
{%- endfor -%}
{%- set parents = [] -%}
{%- for column, parent in relationships.items() -%}
    {%- do parents.append((column, parent.to, parent.field)) -%}
{%- endfor -%}
{%- set shared = model is string and ((1 if checks else 0) + keys | length + parents | length) > 1 -%}
{%- set tested = 'hub_tested' if shared else model -%}
with
{%- if shared %}
hub_tested as materialized (
    select * from {{ model }}
),
{%- endif %}
{%- if checks %}
broken as (
    select
        {%- for rule, column, condition, failing in checks %}
        sum(case when {{ failing }} then 1 else 0 end) as broken_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ tested }}
){{ "," if keys or parents }}
{%- endif %}
{%- for label, columns, kept in keys %}
repeated_{{ loop.index }} as (
    select count(*) as repeated_keys from (
        select {{ columns | join(', ') }} from {{ tested }} where {{ kept }}
        group by {{ columns | join(', ') }} having count(*) > 1
    ) repeated
){{ "," if not loop.last or parents }}
{%- endfor %}
{%- for column, parent, field in parents %}
orphans_{{ loop.index }} as (
    select count(*) as orphan_rows
    from (select {{ column }} as from_field from {{ tested }} where {{ column }} is not null) child
    left join (select {{ field }} as to_field from {{ parent }}) parent_rows
        on parent_rows.to_field = child.from_field
    where parent_rows.to_field is null
){{ "," if not loop.last }}
{%- endfor %}
{%- for rule, column, condition, failing in checks %}
{% if not loop.first %}union all
{% endif -%}
select
    cast('{{ rule }}' as {{ dbt.type_string() }}) as rule,
    cast('{{ column }}' as {{ dbt.type_string() }}) as column_name,
    cast({{ "'" ~ (condition | replace("'", "''")) ~ "'" if condition else "null" }} as {{ dbt.type_string() }}) as condition,
    broken_{{ loop.index }} as broken_rows
from broken where broken_{{ loop.index }} > 0
{%- endfor %}
{%- for label, columns, kept in keys %}
{% if checks or not loop.first %}union all
{% endif -%}
select
    cast('repeated' as {{ dbt.type_string() }}) as rule,
    cast('{{ label }}' as {{ dbt.type_string() }}) as column_name,
    cast(null as {{ dbt.type_string() }}) as condition,
    repeated_keys as broken_rows
from repeated_{{ loop.index }} where repeated_keys > 0
{%- endfor %}
{%- for column, parent, field in parents %}
{% if checks or keys or not loop.first %}union all
{% endif -%}
select
    cast('not in {{ parent.identifier }}.{{ field }}' as {{ dbt.type_string() }}) as rule,
    cast('{{ column }}' as {{ dbt.type_string() }}) as column_name,
    cast(null as {{ dbt.type_string() }}) as condition,
    orphan_rows as broken_rows
from orphans_{{ loop.index }} where orphan_rows > 0
{%- endfor %}
{% endtest %}
