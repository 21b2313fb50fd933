{#- win_rate broken down by every configured dimension (hub.yml `dimensions`): the same figures
    with columns dimension and dimension_value ('*' = all values); macro hub_win_rate_mart
    (transforms/macros/marts/mart_win_rate.sql); docs/metrics.md "Dimensions". -#}
{{ config(pre_hook="{{ hub_prefer_hashing() }}") }}
{{ hub_win_rate_mart(by_dimension=true) }}
