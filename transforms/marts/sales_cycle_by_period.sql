{#- sales_cycle per close period (month, quarter, and 'all' = all time) and rep, with rollups
    ('*'): the rules of macro hub_sales_cycle_mart (transforms/macros/marts/mart_sales_cycle.sql);
    docs/metrics.md "sales_cycle". Its period_type 'all', rep_key '*' rows equal sales_cycle.
    A view: int_sales_cycle_periods holds every column but as_of, rebuilt by touched period
    (macro hub_groups). -#}
{{ config(materialized='view') }}

select
    period_type,
    period_start,
    rep_key,
    outcome,
    source_name,
    deal_count,
    mean_days,
    median_days,
    p90_days,
    {{ hub_as_of_tz() }} as as_of
from {{ ref('int_sales_cycle_periods') }}
