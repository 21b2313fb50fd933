{#- stage_conversion broken down by every configured dimension (hub.yml `dimensions`): the same figures
    with columns dimension and dimension_value ('*' = all values); macro hub_stage_conversion_mart
    (transforms/macros/marts/mart_stage_conversion.sql); docs/metrics.md "Dimensions". -#}
{{ config(pre_hook="{{ hub_prefer_hashing() }}") }}
{{ hub_stage_conversion_mart(by_dimension=true) }}
