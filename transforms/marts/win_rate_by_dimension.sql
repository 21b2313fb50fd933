{#- win_rate broken down by every configured dimension (hub.yml `dimensions`): the same figures
    with columns dimension and dimension_value ('*' = all values); macro hub_win_rate_mart
    (transforms/macros/marts/mart_win_rate.sql); docs/metrics.md "Dimensions". Its counting
    step, the months, is int_win_rate_dimension_months (kept as sums, hashed on PostgreSQL);
    the grouping sets here read those few rows. -#}
{{ hub_win_rate_mart(by_dimension=true) }}
