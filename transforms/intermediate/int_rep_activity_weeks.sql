{#- int_deal_activity_weeks summed per owner and week: rep_activity's counts of activities on
    deals (the mart adds those without a deal and maps owners to reps, so an owner's change
    of rep rewrites no row here). Kept by difference (macro hub_group_counts): a run adds the
    changed deals' new counts and subtracts their old ones in the groups they touch. -#}
{%- set sums = ['calls', 'emails', 'meetings', 'tasks', 'notes', 'other_activities', 'activities'] -%}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_sum_touched_groups(ref('int_deal_activity_weeks'), 'hub_changed_deals', ['owner_key', 'week_start'], ['calls', 'emails', 'meetings', 'tasks', 'notes', 'other_activities', 'activities']) }}",
) }}

{{ hub_sum_groups_select(ref('int_deal_activity_weeks'), ['owner_key', 'week_start'], sums, 'activities') }}
