{#- int_deal_open_weeks summed per rep and week (unclamped): the deals each rep opened and
    closed, from which rep_activity runs its open-deal counts. Kept as sums (macro
    hub_group_sums). -#}
{%- set groups = ["rep_key", "week_start"] %}
{%- set measures = ["opened", "closed"] %}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_keep_group_sums(hub_group_delta_columns(ref('int_deal_open_weeks'), 'hub_changed_deal_rows', "
        ~ groups | tojson ~ ", " ~ measures | tojson ~ "), " ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
) }}

{{ hub_group_counts(ref('int_deal_open_weeks'), groups, measures, 'opened + closed') }}
