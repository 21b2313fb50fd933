{#- deal_size broken down by every configured dimension (hub.yml `dimensions`): the same figures
    with columns dimension and dimension_value ('*' = all values); macro hub_deal_size_mart
    (transforms/macros/marts/mart_deal_size.sql); docs/metrics.md "Dimensions". -#}
{{ hub_deal_size_mart(by_dimension=true) }}
