{#- Logic and definition: macro hub_time_in_stage_mart (transforms/macros/marts/mart_time_in_stage.sql),
    shared with time_in_stage_by_rep; docs/metrics.md. -#}
{{ hub_time_in_stage_mart(by_rep=false) }}
