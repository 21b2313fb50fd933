{#- Logic and definition: macro hub_forecast_mart (transforms/macros/marts/mart_forecast.sql), shared
    with forecast_by_dimension; docs/metrics.md. -#}
{{ hub_forecast_mart(by_dimension=false) }}
