{#- PostgreSQL only: sales_cycle_by_dimension's closed deals (int_deal_dimensions) counted per
    dimension value, outcome, source and whole day of cycle (cycle_day), with the exact
    (numeric) sum of their days: the finest counts the mart's percentiles start from (macro
    hub_ranked_percentiles), where it sorted every closed deal x dimension on every run (at
    1M deals and three dimensions, about 2.4M rows in two grouping sets). Kept as sums: a run
    applies the changed deals' deltas (macro hub_group_sums: their rows now, minus those
    int_deal_dimensions kept aside before rewriting them), reading no other deal; a group
    whose last deal left is dropped. A table rebuilt every run when a dimension moves with
    as_of (int_deal_dimensions keeps no old rows then). -#}
{%- set groups = ['dimension', 'dimension_value', 'outcome', 'source_name', 'cycle_day'] %}
{%- set measures = hub_day_count_measures() %}
{%- if hub_dimensions_move_with_as_of() %}
{{ config(enabled=(target.type == 'postgres'), materialized='table', pre_hook="{{ hub_prefer_hashing() }}") }}
{%- else %}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ hub_keep_group_sums(hub_group_delta_rows(ref('int_deal_dimensions'), 'hub_changed_deal_rows', hub_cycle_dimension_day_rows), "
            ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
        "{{ hub_prefer_hashing() }}",
    ],
) }}
{%- endif %}

{{ hub_day_counts(groups, hub_cycle_dimension_day_rows(ref('int_deal_dimensions'), 1, 'true')) }}
