{#- PostgreSQL only: int_closed_spell_facts counted per finest group of time_in_stage_by_rep
    (stage, outcome, rep, source) and whole day (day_bucket), with the counts and the exact
    (numeric) sum of days macro hub_ranked_percentiles starts from. The mart read and hashed
    every closed spell on every run to get them (at 1M deals, 4M spells). Kept as sums: a
    run applies the changed deals' deltas (macro hub_group_sums: their spells now, minus
    those int_closed_spell_facts kept aside before rewriting them), reading no other deal;
    a group whose last spell left is dropped. A full build counts every spell, hashed. -#}
{%- set groups = ['canonical_stage', 'final_outcome', 'rep_key', 'source_name', 'day_bucket'] %}
{%- set measures = hub_day_count_measures() %}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ hub_keep_group_sums(hub_group_delta_rows(ref('int_closed_spell_facts'), 'hub_changed_deal_rows', hub_spell_day_rows), "
            ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
        "{{ hub_prefer_hashing() }}",
    ],
) }}

{{ hub_day_counts(groups, hub_spell_day_rows(ref('int_closed_spell_facts'), 1, 'true')) }}
