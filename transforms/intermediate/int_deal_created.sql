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

{#- The earliest instant of each dated input, in one grouping of their rows together: a
    grouping and a join per input cost PostgreSQL four hash tables of every deal (at 100,000
    deals 0.85 -> 0.76 server CPU-seconds). -#}
firsts as (
    select
        deal_key,
        min(case when kind = 1 then dated_at end) as first_change_at,
        min(case when kind = 2 then dated_at end) as first_activity_at,
        min(case when kind = 3 then dated_at end) as first_observed_at,
        min(case when kind = 4 then dated_at end) as first_loaded_at
    from (
        select deal_key, 1 as kind, changed_at as dated_at
        from {{ ref('stg_stage_changes') }}
        where true {{ hub_only_changed_deals() }}
        union all
        select deal_key, 2, occurred_at
        from {{ ref('stg_activities') }}
        where not is_deleted and deal_key is not null {{ hub_only_changed_deals() }}
        union all
        select deal_key, 3, observed_at
        from {{ ref('stg_stage_observations') }}
        where true {{ hub_only_changed_deals() }}
        union all
        select deal_key, 4, loaded_at
        from {{ ref('stg_deal_loads') }}
        where true {{ hub_only_changed_deals() }}
    ) as dated
    group by deal_key
),

facts as (
    select
        deals.deal_key,
        deals.created_at as crm_created_at,
        least(firsts.first_change_at, deals.stage_changed_at) as first_stage_event_at,
        firsts.first_activity_at,
        deals.closed_at,
        {#- Whole seconds, like as_of (hub/transform.py): a deal first seen in the second the
            transform starts is seen by then. -#}
        {{ dbt.date_trunc('second', 'coalesce(firsts.first_observed_at, firsts.first_loaded_at)') }} as first_seen_at
    from deals
    left join firsts on firsts.deal_key = deals.deal_key
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
