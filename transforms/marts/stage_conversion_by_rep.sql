{#- stage_conversion per rep (rep_key after mode; '*' = all reps, those rows equal
    stage_conversion): macro hub_stage_conversion_mart (transforms/macros/marts/
    mart_stage_conversion.sql); docs/metrics.md "stage_conversion". -#}
{{ config(pre_hook="{{ hub_prefer_hashing() }}") }}
{{ hub_stage_conversion_mart(by_dimension='rep') }}
