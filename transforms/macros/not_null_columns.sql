{#- The not-null rules alone, as column_rules checks them (the project's models list them in
    column_rules; this name stays for models written before it). -#}
{% test not_null_columns(model, columns) %}
{{ test_column_rules(model, not_null=columns) }}
{% endtest %}
