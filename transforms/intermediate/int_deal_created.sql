{#- When each deal was created, and where that instant comes from (created_at_source):
      crm                the CRM's (or file's) own creation date
      first_stage_event  else the earliest dated fact, of: its first stage event (stage_changes,
      first_activity     or the CRM's stage_changed_at), its first activity (not deleted), its
      closed_at          close; at equal instants in that order
      first_seen         no dated fact at all: when the hub first saw it (its earliest stage
                         observation, else the load that last wrote the row)
    NULL only when even that is unknown. A first_seen deal belongs to the current pipeline
    (board, forecast, coverage, stalled, snapshot from that day) but not to cohort and period
    marts (has_dated_creation). docs/metrics.md "Creation". -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals() }}",
) }}

with deals as (
    select deal_key, created_at, closed_at, stage_changed_at from {{ ref('stg_deals') }}
    where true {{ hub_only_changed_deals() }}
),

first_changes as (
    select deal_key, min(changed_at) as first_at
    from {{ ref('stg_stage_changes') }}
    where true {{ hub_only_changed_deals() }}
    group by deal_key
),

first_activities as (
    select deal_key, min(occurred_at) as first_at
    from {{ ref('stg_activities') }}
    where not is_deleted and deal_key is not null {{ hub_only_changed_deals() }}
    group by deal_key
),

first_observations as (
    select deal_key, min(observed_at) as first_at
    from {{ ref('stg_stage_observations') }}
    where true {{ hub_only_changed_deals() }}
    group by deal_key
),

first_loads as (
    select deal_key, min(loaded_at) as first_at
    from {{ ref('stg_deal_loads') }}
    where true {{ hub_only_changed_deals() }}
    group by deal_key
),

facts as (
    select
        deals.deal_key,
        deals.created_at as crm_created_at,
        least(first_changes.first_at, deals.stage_changed_at) as first_stage_event_at,
        first_activities.first_at as first_activity_at,
        deals.closed_at,
        {#- Whole seconds, like as_of (hub/transform.py): a deal first seen in the second the
            transform starts is seen by then. -#}
        {{ dbt.date_trunc('second', 'coalesce(first_observations.first_at, first_loads.first_at)') }} as first_seen_at
    from deals
    left join first_changes on first_changes.deal_key = deals.deal_key
    left join first_activities on first_activities.deal_key = deals.deal_key
    left join first_observations on first_observations.deal_key = deals.deal_key
    left join first_loads on first_loads.deal_key = deals.deal_key
),

sourced as (
    select
        facts.*,
        case
            when crm_created_at is not null then 'crm'
            when first_stage_event_at is not null
                and (first_activity_at is null or first_stage_event_at <= first_activity_at)
                and (closed_at is null or first_stage_event_at <= closed_at)
                then 'first_stage_event'
            when first_activity_at is not null
                and (closed_at is null or first_activity_at <= closed_at)
                then 'first_activity'
            when closed_at is not null then 'closed_at'
            when first_seen_at is not null then 'first_seen'
        end as created_at_source
    from facts
)

select
    deal_key,
    case created_at_source
        when 'crm' then crm_created_at
        when 'first_stage_event' then first_stage_event_at
        when 'first_activity' then first_activity_at
        when 'closed_at' then closed_at
        when 'first_seen' then first_seen_at
    end as created_at,
    created_at_source,
    coalesce(created_at_source <> 'first_seen', false) as has_dated_creation,
    crm_created_at
from sourced
