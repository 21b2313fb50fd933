{#- Logic and definition: macro hub_sales_cycle_mart (transforms/macros/marts/mart_sales_cycle.sql), shared
    with sales_cycle_by_dimension; docs/metrics.md. -#}
{{ hub_sales_cycle_mart(by_dimension=false) }}
