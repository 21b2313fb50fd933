{#- Probabilities and rates are 0-1 (never 0-100). The project's models list this rule in
    column_rules (one node per model); this column test stays for a model written so. -#}
{% test between_zero_and_one(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0 or {{ column_name }} > 1
{% endtest %}
