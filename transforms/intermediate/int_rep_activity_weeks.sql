{#- int_deal_activity_weeks summed per owner and week: rep_activity's counts of activities on
    deals (the mart adds those without a deal and maps owners to reps, so an owner's change
    of rep rewrites no row here). Kept as sums (macro hub_group_sums): a run adds the
    changed deals' new counts and subtracts their old ones in the groups they touch. -#}
{%- set groups = ["owner_key", "week_start"] %}
{%- set measures = ["calls", "emails", "meetings", "tasks", "notes", "other_activities", "activities"] %}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_keep_group_sums(hub_group_delta_columns(ref('int_deal_activity_weeks'), 'hub_changed_deals', "
        ~ groups | tojson ~ ", " ~ measures | tojson ~ "), " ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
) }}

{{ hub_group_counts(ref('int_deal_activity_weeks'), groups, measures, 'activities') }}
