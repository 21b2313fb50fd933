{#- forecast broken down by every configured dimension (hub.yml `dimensions`): the same figures
    with columns dimension and dimension_value ('*' = all values); macro hub_forecast_mart
    (transforms/macros/marts/mart_forecast.sql); docs/metrics.md "Dimensions". On PostgreSQL its
    first step sums the open deals per group, hashed (macro hub_prefer_hashing). -#}
{{ config(pre_hook="{{ hub_prefer_hashing() }}") }}
{{ hub_forecast_mart(by_dimension=true) }}
