{#- Logic and definition: macro hub_win_rate_mart (transforms/macros/marts/mart_win_rate.sql), shared
    with win_rate_by_dimension; docs/metrics.md. -#}
{{ hub_win_rate_mart(by_dimension=false) }}
