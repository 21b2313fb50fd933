{#- Definition: macro hub_sales_cycle_mart (transforms/macros/marts/mart_sales_cycle.sql),
    shared with sales_cycle_by_dimension; docs/metrics.md. The rows are
    int_sales_cycle_periods' all-time rows for all reps (period_type 'all', rep_key '*', a
    grouping it rolls up, never a rep's key): the same closed counted deals with a measured
    cycle, the same figures, read there rather than computed a second time (that table keeps
    them by touched period). -#}
select
    outcome,
    source_name,
    deal_count,
    mean_days,
    median_days,
    p90_days,
    {{ hub_as_of_tz() }} as as_of
from {{ ref('int_sales_cycle_periods') }}
where period_type = 'all' and rep_key = '*'
