{#- Per deal, its activities up to as_of (not deleted) counted per owner and ISO week (Monday
    start) of occurrence, by type: what rep_activity counts, kept per deal so a run counts only
    the changed deals' activities. Per deal and incremental on hub_changed_deals (the
    per-deal input snapshot hashes an activity's deal, instant, owner, type and deleted mark);
    its pre-hook keeps the listed deals' rows as they were, so int_rep_activity_weeks adds
    the difference (macro hub_group_sums). Activities without a deal are on no list:
    rep_activity counts them on every run. -#}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_stash_changed_deals('hub_changed_deals') }}",
) }}

select
    deal_key,
    owner_key,
    {{ hub_period_start('week', 'occurred_at') }} as week_start,
    {{ hub_activity_type_counts() }}
from {{ ref('stg_activities') }}
where not is_deleted
    and deal_key is not null
    and occurred_at <= {{ hub_as_of() }}
    {{ hub_only_changed_deals() }}
group by deal_key, owner_key, {{ hub_period_start('week', 'occurred_at') }}
