{#- Logic and definition: macro hub_stage_conversion_mart (transforms/macros/marts/mart_stage_conversion.sql), shared
    with stage_conversion_by_dimension; docs/metrics.md. -#}
{{ hub_stage_conversion_mart(by_dimension=false) }}
