{#- PostgreSQL only: the closed deals' cycles of int_deal_period_facts counted per period,
    group and whole day (cycle_day: floor of cycle_days; NULL for a row without a cycle),
    with their exact sum in whole seconds. A group is int_sales_cycle_periods' (rep, outcome,
    source and their rollups: `rolled` bit 2 where the rep is rolled up, bit 1 the source;
    a rolled column is NULL here). int_sales_cycle_periods finds each percentile's day from
    these counts and reads only that day's cycles (macro hub_cycle_percentiles), so a
    touched period costs its count rows, not a sort of all its deals. Kept as sums: a run
    applies the changed deals' deltas (macro hub_group_sums), whatever the number of deals
    a period holds; a full build counts the finest groups and rolls them up by grouping sets.
    Hashing, not sorting (hub_prefer_hashing): the groups were sorted on disk, 2.5 times the
    time. -#}
{%- set groups = ["period_type", "period_start", "rolled", "rep_key", "outcome", "source_name", "cycle_day"] %}
{%- set measures = ["n", "cycle_seconds"] %}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ hub_keep_group_sums(hub_group_delta_rows(ref('int_deal_period_facts'), 'hub_changed_deal_rows', hub_cycle_day_rows), "
            ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
        "{{ hub_prefer_hashing() }}",
    ],
) }}

{%- if hub_groups_incremental() %}
{{ hub_group_counts(ref('int_deal_period_facts'), groups, measures, 'n') }}
{%- else %}
{{ hub_cycle_day_counts(ref('int_deal_period_facts')) }}
{%- endif %}
