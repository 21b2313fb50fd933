{#- time_in_stage per rep (rep_key; '*' = all reps, those rows equal time_in_stage): macro
    hub_time_in_stage_mart (transforms/macros/marts/mart_time_in_stage.sql); docs/metrics.md
    "time_in_stage". -#}
{{ config(pre_hook="{{ hub_ranked_percentiles_plan() }}") }}
{{ hub_time_in_stage_mart(by_rep=true) }}
