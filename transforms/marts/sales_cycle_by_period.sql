{#- sales_cycle per close period (month, quarter, and 'all' = all time) and rep, with rollups
    ('*'): macro hub_sales_cycle_mart (transforms/macros/marts/mart_sales_cycle.sql);
    docs/metrics.md "sales_cycle". Its period_type 'all', rep_key '*' rows equal sales_cycle. -#}
{{ hub_sales_cycle_mart(by_period=true) }}
