{#- Logic and definition: macro hub_win_rate_mart (transforms/macros/marts/mart_win_rate.sql), shared
    with win_rate_by_dimension; docs/metrics.md. -#}
{{ config(pre_hook="{{ hub_prefer_hashing() }}") }}
{{ hub_win_rate_mart(by_dimension=false) }}
