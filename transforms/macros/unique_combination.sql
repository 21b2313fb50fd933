{#- The grain test for multi-column keys: no two rows share the combination of `columns`.
    NULLs compare equal here (a NULL dimension such as "all cohorts" is a real grain value). -#}
{% test unique_combination(model, columns) %}
select {% for c in columns %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}, count(*) as n_rows
from {{ model }}
group by {% for c in columns %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
having count(*) > 1
{% endtest %}
