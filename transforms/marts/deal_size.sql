{#- Logic and definition: macro hub_deal_size_mart (transforms/macros/marts/mart_deal_size.sql), shared
    with deal_size_by_dimension; docs/metrics.md. -#}
{{ hub_deal_size_mart(by_dimension=false) }}
