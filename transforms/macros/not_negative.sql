{#- Durations, counts and amounts that can only be >= 0. The project's models list this rule
    in column_rules (one node per model); this column test stays for a model written so. -#}
{% test not_negative(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0
{% endtest %}
