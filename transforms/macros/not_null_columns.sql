{#- Every listed column of a model is not null: one test node and one scan per model rather
    than one of each per column (dbt spends tens of milliseconds on every test node, and most
    of this project's tests were not-null rules). A failing row names the column and how many
    of its rows are null; the hub reads those rows back into its failure message
    (hub/transform.py), so a failure still says which column broke which rule. -#}
{% test not_null_columns(model, columns) %}
with nulls as (
    select
        {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as null_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
)
{%- for column in columns %}
{% if not loop.first %}union all
{% endif -%}
select cast('{{ column }}' as {{ dbt.type_string() }}) as column_name, null_{{ loop.index }} as null_rows
from nulls where null_{{ loop.index }} > 0
{%- endfor %}
{% endtest %}
