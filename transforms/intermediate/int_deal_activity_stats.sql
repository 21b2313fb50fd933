{#- Each deal's activities up to as_of (not deleted): the last one's instant, how many, and
    the first logged by an owner (owner_id set) at or after the deal's creation
    (int_deal_created): lead_response_time's first response, read through int_deal_state.
    One scan of the activities for all three: int_deal_state scanned them a second time for
    the owner's first one (at 100,000 deals the two models went from 1.21 to 0.81 server
    CPU-seconds on PostgreSQL). Per deal and incremental (macro hub_incremental), so a
    transform aggregates only the activities of the deals that changed; a deal's creation is
    rebuilt with it (both on hub_changed_deals). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals() }}",
) }}

with created as (
    select deal_key, created_at
    from {{ ref('int_deal_created') }}
    where true {{ hub_only_changed_deals() }}
)

select
    activities.deal_key,
    max(activities.occurred_at) as last_activity_at,
    count(*) as n_activities,
    min(
        case
            when activities.owner_id is not null and activities.occurred_at >= created.created_at
                then activities.occurred_at
        end
    ) as first_owner_activity_at
from {{ ref('stg_activities') }} as activities
left join created on created.deal_key = activities.deal_key
where not activities.is_deleted
    and activities.deal_key is not null
    and activities.occurred_at <= {{ hub_as_of() }}
    {{ hub_only_changed_deals('activities.deal_key') }}
group by activities.deal_key
