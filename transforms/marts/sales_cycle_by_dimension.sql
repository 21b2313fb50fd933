{#- sales_cycle broken down by every configured dimension (hub.yml `dimensions`): the same figures
    with columns dimension and dimension_value ('*' = all values); macro hub_sales_cycle_mart
    (transforms/macros/marts/mart_sales_cycle.sql); docs/metrics.md "Dimensions". On PostgreSQL
    its percentiles start from the day counts int_sales_cycle_dimension_day_counts keeps. -#}
{{ config(pre_hook="{{ hub_ranked_percentiles_plan() }}") }}
{{ hub_sales_cycle_mart(by_dimension=true) }}
