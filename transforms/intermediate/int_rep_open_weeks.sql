{#- int_deal_open_weeks summed per rep and week (unclamped): the deals each rep opened and
    closed, from which rep_activity runs its open-deal counts. Kept by difference (macro
    hub_group_counts). -#}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_sum_touched_groups(ref('int_deal_open_weeks'), 'hub_changed_deal_rows', ['rep_key', 'week_start'], ['opened', 'closed']) }}",
) }}

{{ hub_sum_groups_select(ref('int_deal_open_weeks'), ['rep_key', 'week_start'], ['opened', 'closed'], 'opened + closed') }}
