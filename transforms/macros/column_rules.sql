{#- A model's per-column value rules in one test node and one scan, rather than a node and a
    scan per column and rule (dbt spends tens of milliseconds on every test node, and these
    rules were most of the project's tests):

      not_null: [columns]                      never null
      not_null_where: {column: condition}      never null where the SQL condition holds
      accepted_values: {column: [values]}      one of the values (null passes, as in dbt's)
      between_zero_and_one: [columns]          0-1 (null passes)
      not_negative: [columns]                  >= 0 (null passes)

    It returns one row per broken (rule, column): the rule, the column, the condition (for
    not_null_where) and how many rows break it. dbt's message says only how many rows the test
    returned; the hub reads these rows back into its failure line (hub/dbt_failing_rows.py),
    so a failure still names the model, the column and the rule. Uniqueness and relationships
    stay tests of their own: they compare rows with other rows, not a row with a rule. -#}
{% test column_rules(model, not_null=[], not_null_where={}, accepted_values={}, between_zero_and_one=[], not_negative=[]) %}
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
with broken as (
    select
        {%- for rule, column, condition, failing in checks %}
        sum(case when {{ failing }} then 1 else 0 end) as broken_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
)
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
{% endtest %}
