{#- Every deal's stage events up to as_of, in canonical stages, from all the places the hub
    learns of them, then collapsed so consecutive events in the same canonical stage keep
    only the earliest. docs/metrics.md "Stage history" states each rule and its precedence.
    Event kinds (origin / origin_rank, the tie-break at equal times):
      0 derived   creation: at created_at (int_deal_created), when no event is at or before
                  it, in the stage the first change left (its from-stage, where the CRM
                  gives one: a change log records moves), else the first change's stage,
                  else the current stage; never in a
                  terminal stage ('unmapped': the stage before it is unknown), and dropped
                  when the next event is at the same instant
      1 crm_history / hub_push / derived: the CRM's own history (stage_changes)
      2 observed  the hub's observations (stage_observations); for a won/lost deal, those of
                  its final run in a stage of its outcome are dropped (a sync time is no
                  closing instant: the terminal event below replaces them), and so are those
                  after its closed_at (the stage shown then is the one it was closed from)
                  and one followed within a day by the CRM's own move into the same stage
      3 derived   current stage, when the last event does not show it (at stage_changed_at,
                  else updated_at; never before the last event), except a won/lost deal's
                  current stage of its outcome, which is the terminal event's
      4 derived   terminal: a won/lost deal whose events do not end in a stage of its outcome
                  enters one (its current stage if of that outcome, else the outcome's first)
                  at stage_changed_at (only when the current stage is that stage), else
                  closed_at, else updated_at; never before the last event; not while
                  closed_at is after as_of. CRM history that ends in the outcome keeps its
                  own instant.
    Events of deals missing from stg_deals are not used. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals() }}",
) }}

with deals as (
    select
        deals.deal_key,
        deals.source_name,
        deals.pipeline_id,
        deals.stage_id,
        deals.status,
        created.created_at,
        deals.closed_at,
        deals.updated_at,
        deals.stage_changed_at
    from {{ ref('stg_deals') }} as deals
    left join {{ ref('int_deal_created') }} as created on created.deal_key = deals.deal_key
    where true {{ hub_only_changed_deals('deals.deal_key') }}
),

stage_changes as (
    select * from {{ ref('stg_stage_changes') }}
    where true {{ hub_only_changed_deals() }}
),

observations as (
    select * from {{ ref('stg_stage_observations') }}
    where true {{ hub_only_changed_deals() }}
),

mapped as (
    select * from {{ ref('int_stages_mapped') }}
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
),

terminal as (
    select outcome, canonical_stage, stage_order
    from (
        select
            outcome,
            canonical_stage,
            stage_order,
            row_number() over (partition by outcome order by stage_order, canonical_stage) as outcome_rank
        from canonical
        where outcome is not null
    ) as ranked
    where outcome_rank = 1
),

{#- Each deal's current stage and, for a won/lost deal, the terminal stage it closes in. -#}
deal_closing as (
    select
        deals.*,
        current_stage.canonical_stage as current_canonical_stage,
        coalesce(current_stage.stage_order, 999999) as current_sort_order,
        current_canonical.outcome as current_outcome,
        case
            when deals.status not in ('won', 'lost') then null
            when current_canonical.outcome = deals.status then current_stage.canonical_stage
            else terminal.canonical_stage
        end as closing_stage,
        case
            when deals.status not in ('won', 'lost') then null
            when current_canonical.outcome = deals.status then current_stage.stage_order
            else terminal.stage_order
        end as closing_order,
        coalesce(current_canonical.outcome = deals.status, false) as is_current_closing
    from deals
    left join mapped as current_stage
        on current_stage.source_name = deals.source_name
        and coalesce(current_stage.pipeline_id, '') = coalesce(deals.pipeline_id, '')
        and current_stage.stage_id = deals.stage_id
    left join canonical as current_canonical
        on current_canonical.canonical_stage = current_stage.canonical_stage
    left join terminal on terminal.outcome = deals.status
),

{#- Each event takes its deal's closing facts from the one join that finds its deal: a
    second join on the deal key over every event cost PostgreSQL 1.3M more rows to sort. -#}
native_events as (
    select
        changes.deal_key,
        changes.changed_at as event_at,
        coalesce(changes.pipeline_id, deals.pipeline_id) as pipeline_id,
        changes.stage_id,
        changes.from_stage_id,
        changes.origin,
        1 as origin_rank,
        deals.source_name,
        deals.status,
        deals.closing_stage,
        deals.closed_at
    from stage_changes as changes
    inner join deal_closing as deals on deals.deal_key = changes.deal_key
    where changes.changed_at <= {{ hub_as_of() }}
    union all
    select
        observations.deal_key,
        observations.observed_at as event_at,
        coalesce(observations.pipeline_id, deals.pipeline_id) as pipeline_id,
        observations.stage_id,
        cast(null as {{ dbt.type_string() }}) as from_stage_id,
        'observed' as origin,
        2 as origin_rank,
        deals.source_name,
        deals.status,
        deals.closing_stage,
        deals.closed_at
    from observations
    inner join deal_closing as deals on deals.deal_key = observations.deal_key
    where observations.observed_at <= {{ hub_as_of() }}
),

mapped_events as (
    select
        native_events.*,
        mapped.canonical_stage,
        coalesce(mapped.stage_order, 999999) as sort_order,
        stage_canonical.outcome as stage_outcome
    from native_events
    left join mapped
        on mapped.source_name = native_events.source_name
        and coalesce(mapped.pipeline_id, '') = coalesce(native_events.pipeline_id, '')
        and mapped.stage_id = native_events.stage_id
    left join canonical as stage_canonical on stage_canonical.canonical_stage = mapped.canonical_stage
),

{#- The start of a won/lost deal's final run in stages of its outcome is after its last event
    in any other stage. -#}
run_bounds as (
    select
        mapped_events.*,
        max(case when coalesce(stage_outcome, '') <> status then event_at end)
            over (partition by deal_key) as last_other_at
    from mapped_events
),

{#- An observation whose next event is the CRM's own move into the same canonical stage
    within a day is dropped: it was dated by a coarser clock (an export's minute-rounded
    update time) and the CRM's timestamp is the instant. -#}
with_next as (
    select
        run_bounds.*,
        lead(origin_rank) over (
            partition by deal_key order by event_at, origin_rank, sort_order, stage_id
        ) as next_origin_rank,
        lead(canonical_stage) over (
            partition by deal_key order by event_at, origin_rank, sort_order, stage_id
        ) as next_canonical_stage,
        lead(event_at) over (
            partition by deal_key order by event_at, origin_rank, sort_order, stage_id
        ) as next_event_at
    from run_bounds
),

base_events as (
    select deal_key, event_at, pipeline_id, stage_id, from_stage_id, origin, origin_rank,
        source_name, canonical_stage, sort_order, stage_outcome
    from with_next
    where not coalesce(
        origin_rank = 2
        and next_origin_rank = 1
        and next_canonical_stage = canonical_stage
        and next_event_at <= event_at + interval '1 day',
        false
    )
    and not coalesce(
        origin_rank = 2
        and closing_stage is not null
        and stage_outcome = status
        and (last_other_at is null or event_at >= last_other_at),
        false
    )
    {#- An observation after a won/lost deal's close is no evidence of an open stage: CRMs
        keep showing the stage a deal was closed from (an export's update time is later). -#}
    and not coalesce(
        origin_rank = 2 and closing_stage is not null and event_at > closed_at, false
    )
),

{#- Each deal's first and last base event, from one sort of its events: the first event's
    row itself, with the last event's facts carried to it by window. (Joining a ranked CTE
    twice back to deals cost PostgreSQL three more sorts of every deal.) -#}
event_bounds as (
    select
        deal_key,
        event_at as first_event_at,
        pipeline_id as first_pipeline_id,
        stage_id as first_native_stage_id,
        from_stage_id as first_from_stage_id,
        canonical_stage as first_event_canonical_stage,
        sort_order as first_event_sort_order,
        stage_outcome as first_event_outcome,
        last_event_at,
        last_canonical_stage,
        last_outcome
    from (
        select
            deal_key,
            event_at,
            pipeline_id,
            stage_id,
            from_stage_id,
            canonical_stage,
            sort_order,
            stage_outcome,
            row_number() over (
                partition by deal_key order by event_at, origin_rank, sort_order, stage_id
            ) as rank_first,
            last_value(event_at) over (
                partition by deal_key order by event_at, origin_rank, sort_order, stage_id
                rows between unbounded preceding and unbounded following
            ) as last_event_at,
            last_value(canonical_stage) over (
                partition by deal_key order by event_at, origin_rank, sort_order, stage_id
                rows between unbounded preceding and unbounded following
            ) as last_canonical_stage,
            last_value(stage_outcome) over (
                partition by deal_key order by event_at, origin_rank, sort_order, stage_id
                rows between unbounded preceding and unbounded following
            ) as last_outcome
        from base_events
    ) as ranked
    where rank_first = 1
),

{#- The stage a deal was created in, when history does not start at creation: the first
    change's from-stage where the CRM gives one (a change log records moves, so the deal sat
    in the stage it left), else the first change's stage. -#}
deal_state as (
    select
        deal_closing.*,
        bounds.first_event_at,
        bounds.first_pipeline_id,
        coalesce(bounds.first_from_stage_id, bounds.first_native_stage_id) as first_stage_id,
        case
            when bounds.first_from_stage_id is not null then first_from.canonical_stage
            else bounds.first_event_canonical_stage
        end as first_canonical_stage,
        case
            when bounds.first_from_stage_id is not null then coalesce(first_from.stage_order, 999999)
            else bounds.first_event_sort_order
        end as first_sort_order,
        case
            when bounds.first_from_stage_id is not null then first_from_canonical.outcome
            else bounds.first_event_outcome
        end as first_outcome,
        bounds.last_event_at,
        bounds.last_canonical_stage,
        bounds.last_outcome
    from deal_closing
    left join event_bounds as bounds on bounds.deal_key = deal_closing.deal_key
    left join mapped as first_from
        on first_from.source_name = deal_closing.source_name
        and coalesce(first_from.pipeline_id, '') = coalesce(bounds.first_pipeline_id, '')
        and first_from.stage_id = bounds.first_from_stage_id
    left join canonical as first_from_canonical
        on first_from_canonical.canonical_stage = first_from.canonical_stage
),

{#- The derived events (creation, current, terminal) are at most one each per deal, so each
    is a set of columns on the deal's row, computed in turn, never a join back to it: each
    join cost PostgreSQL two more sorts of every deal. -#}
creation as (
    select
        deal_state.*,
        coalesce(
            created_at is not null
            and created_at <= {{ hub_as_of() }}
            and (first_event_at is null or first_event_at > created_at)
            and (first_event_at is not null or stage_id is not null),
            false
        ) as has_creation_event,
        case when first_event_at is not null then first_outcome else current_outcome end as creation_outcome
    from deal_state
),

creation_events as (
    select
        creation.*,
        case when has_creation_event then created_at end as creation_at,
        case
            when not has_creation_event then null
            when first_event_at is not null then first_pipeline_id
            else pipeline_id
        end as creation_pipeline_id,
        case
            when not has_creation_event then cast(null as {{ dbt.type_string() }})
            when creation_outcome is not null then cast(null as {{ dbt.type_string() }})
            when first_event_at is not null then first_stage_id
            else stage_id
        end as creation_stage_id,
        case
            when not has_creation_event then null
            when creation_outcome is not null then 'unmapped'
            when first_event_at is not null then first_canonical_stage
            else current_canonical_stage
        end as creation_canonical_stage,
        case
            when not has_creation_event then null
            when creation_outcome is not null then 999999
            when first_event_at is not null then first_sort_order
            else current_sort_order
        end as creation_sort_order
    from creation
),

known as (
    select
        creation_events.*,
        coalesce(last_canonical_stage, creation_canonical_stage) as known_stage,
        case when last_event_at is not null then last_outcome end as known_outcome,
        coalesce(last_event_at, creation_at) as known_at
    from creation_events
),

current_events as (
    select
        known.*,
        coalesce(
            stage_id is not null
            and known_at is not null
            and known_stage <> current_canonical_stage
            and not is_current_closing
            and greatest(coalesce(stage_changed_at, updated_at, known_at), known_at) <= {{ hub_as_of() }},
            false
        ) as has_current_event,
        greatest(coalesce(stage_changed_at, updated_at, known_at), known_at) as current_at
    from known
),

last_known as (
    select
        current_events.*,
        coalesce(case when has_current_event then current_at end, known_at) as final_at,
        case when has_current_event then current_outcome else known_outcome end as final_outcome
    from current_events
),

derived as (
    select
        last_known.*,
        coalesce(
            closing_stage is not null
            and final_at is not null
            and coalesce(final_outcome, '') <> status
            and (closed_at is null or closed_at <= {{ hub_as_of() }})
            and greatest(
                coalesce(case when is_current_closing then stage_changed_at end, closed_at, updated_at, final_at),
                final_at
            ) <= {{ hub_as_of() }},
            false
        ) as has_terminal_event,
        greatest(
            coalesce(case when is_current_closing then stage_changed_at end, closed_at, updated_at, final_at),
            final_at
        ) as terminal_at
    from last_known
),

all_events as (
    select deal_key, event_at, pipeline_id, stage_id, origin, origin_rank, source_name, canonical_stage, sort_order
    from base_events
    union all
    select deal_key, creation_at, creation_pipeline_id, creation_stage_id, 'derived', 0, source_name,
        creation_canonical_stage, creation_sort_order
    from derived
    where has_creation_event
    union all
    select deal_key, current_at, pipeline_id, stage_id, 'derived', 3, source_name,
        current_canonical_stage, current_sort_order
    from derived
    where has_current_event
    union all
    select deal_key, terminal_at,
        case when is_current_closing then pipeline_id end,
        case when is_current_closing then stage_id end,
        'derived', 4, source_name, closing_stage, closing_order
    from derived
    where has_terminal_event
),

{#- A creation placeholder ('unmapped', no stage) followed at the same instant is no spell. -#}
placed as (
    select *
    from (
        select
            all_events.*,
            lead(event_at) over (
                partition by deal_key order by event_at, origin_rank, sort_order, stage_id
            ) as next_event_at
        from all_events
    ) as ordered
    where not (
        origin_rank = 0 and stage_id is null and canonical_stage = 'unmapped'
        and next_event_at is not null and next_event_at <= event_at
    )
),

sequenced as (
    select
        placed.*,
        lag(canonical_stage) over (
            partition by deal_key order by event_at, origin_rank, sort_order, stage_id
        ) as previous_canonical_stage
    from placed
),

collapsed as (
    select *
    from sequenced
    where previous_canonical_stage is null or previous_canonical_stage <> canonical_stage
),

indexed as (
    select
        collapsed.*,
        row_number() over (
            partition by deal_key order by event_at, origin_rank, sort_order, stage_id
        ) as event_index
    from collapsed
)

select
    indexed.deal_key || '#' || cast(indexed.event_index as {{ dbt.type_string() }}) as event_key,
    indexed.deal_key,
    indexed.source_name,
    indexed.event_index,
    indexed.event_at,
    indexed.canonical_stage,
    canonical.stage_order,
    canonical.outcome,
    coalesce(canonical.is_open_stage, true) as is_open_stage,
    indexed.pipeline_id,
    indexed.stage_id,
    indexed.origin
from indexed
left join canonical on canonical.canonical_stage = indexed.canonical_stage
