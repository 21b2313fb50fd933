{#- Every deal's stage events up to as_of, in canonical stages, from all the places the hub
    learns of them, then collapsed so consecutive events in the same canonical stage keep
    only the earliest. Event kinds (origin / origin_rank, the tie-break at equal times):
      0 derived   creation: at created_at, when no event is at or before it (the deal's first
                  known stage, else its current stage)
      1 crm_history / hub_push / derived: the CRM's own history (stage_changes)
      2 observed  the hub's observations (stage_observations)
      3 derived   current stage, when the last event does not show it (at stage_changed_at,
                  else updated_at; never before the last event)
      4 derived   terminal won/lost step at closed_at, when a won/lost deal's events do not end
                  in the matching terminal stage (Pipedrive keeps won deals in an open stage)
    Events of deals missing from stg_deals are not used. -#}
with deals as (
    select * from {{ ref('stg_deals') }}
),

stage_changes as (
    select * from {{ ref('stg_stage_changes') }}
),

observations as (
    select * from {{ ref('stg_stage_observations') }}
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

native_events as (
    select
        changes.deal_key,
        changes.changed_at as event_at,
        coalesce(changes.pipeline_id, deals.pipeline_id) as pipeline_id,
        changes.stage_id,
        changes.origin,
        1 as origin_rank,
        deals.source_name
    from stage_changes as changes
    inner join deals on deals.deal_key = changes.deal_key
    where changes.changed_at <= {{ hub_as_of() }}
    union all
    select
        observations.deal_key,
        observations.observed_at as event_at,
        coalesce(observations.pipeline_id, deals.pipeline_id) as pipeline_id,
        observations.stage_id,
        'observed' as origin,
        2 as origin_rank,
        deals.source_name
    from observations
    inner join deals on deals.deal_key = observations.deal_key
    where observations.observed_at <= {{ hub_as_of() }}
),

base_events as (
    select
        native_events.*,
        mapped.canonical_stage,
        coalesce(mapped.stage_order, 999999) as sort_order
    from native_events
    left join mapped
        on mapped.source_name = native_events.source_name
        and coalesce(mapped.pipeline_id, '') = coalesce(native_events.pipeline_id, '')
        and mapped.stage_id = native_events.stage_id
),

base_ranked as (
    select
        base_events.*,
        row_number() over (
            partition by deal_key order by event_at, origin_rank, sort_order, stage_id
        ) as rank_first,
        count(*) over (partition by deal_key) as n_events
    from base_events
),

deal_state as (
    select
        deals.deal_key,
        deals.source_name,
        deals.pipeline_id,
        deals.stage_id,
        deals.status,
        deals.created_at,
        deals.closed_at,
        deals.updated_at,
        deals.stage_changed_at,
        current_stage.canonical_stage as current_canonical_stage,
        coalesce(current_stage.stage_order, 999999) as current_sort_order,
        first_event.event_at as first_event_at,
        first_event.pipeline_id as first_pipeline_id,
        first_event.stage_id as first_stage_id,
        first_event.canonical_stage as first_canonical_stage,
        first_event.sort_order as first_sort_order,
        last_event.event_at as last_event_at,
        last_event.canonical_stage as last_canonical_stage
    from deals
    left join mapped as current_stage
        on current_stage.source_name = deals.source_name
        and coalesce(current_stage.pipeline_id, '') = coalesce(deals.pipeline_id, '')
        and current_stage.stage_id = deals.stage_id
    left join base_ranked as first_event
        on first_event.deal_key = deals.deal_key and first_event.rank_first = 1
    left join base_ranked as last_event
        on last_event.deal_key = deals.deal_key and last_event.rank_first = last_event.n_events
),

creation_events as (
    select
        deal_key,
        created_at as event_at,
        case when first_event_at is not null then first_pipeline_id else pipeline_id end as pipeline_id,
        case when first_event_at is not null then first_stage_id else stage_id end as stage_id,
        'derived' as origin,
        0 as origin_rank,
        source_name,
        case when first_event_at is not null then first_canonical_stage else current_canonical_stage end as canonical_stage,
        case when first_event_at is not null then first_sort_order else current_sort_order end as sort_order
    from deal_state
    where created_at is not null
        and created_at <= {{ hub_as_of() }}
        and (first_event_at is null or first_event_at > created_at)
        and (first_event_at is not null or stage_id is not null)
),

current_candidates as (
    select
        deal_state.*,
        greatest(
            coalesce(stage_changed_at, updated_at, last_event_at, created_at),
            coalesce(last_event_at, created_at),
            created_at
        ) as current_at
    from deal_state
    where stage_id is not null
        and last_event_at is not null
        and last_canonical_stage <> current_canonical_stage
),

current_events as (
    select
        deal_key,
        current_at as event_at,
        pipeline_id,
        stage_id,
        'derived' as origin,
        3 as origin_rank,
        source_name,
        current_canonical_stage as canonical_stage,
        current_sort_order as sort_order
    from current_candidates
    where current_at <= {{ hub_as_of() }}
),

last_known as (
    select
        deal_state.deal_key,
        deal_state.source_name,
        deal_state.pipeline_id,
        deal_state.status,
        deal_state.closed_at,
        deal_state.stage_changed_at,
        deal_state.updated_at,
        coalesce(current_events.canonical_stage, deal_state.last_canonical_stage, creation_events.canonical_stage) as last_canonical_stage,
        coalesce(current_events.event_at, deal_state.last_event_at, creation_events.event_at) as last_event_at
    from deal_state
    left join current_events on current_events.deal_key = deal_state.deal_key
    left join creation_events on creation_events.deal_key = deal_state.deal_key
),

terminal_candidates as (
    select
        last_known.*,
        terminal.canonical_stage as terminal_stage,
        terminal.stage_order as terminal_order,
        greatest(
            coalesce(last_known.closed_at, last_known.stage_changed_at, last_known.updated_at, last_known.last_event_at),
            last_known.last_event_at
        ) as terminal_at
    from last_known
    inner join terminal on terminal.outcome = last_known.status
    where last_known.last_event_at is not null
        and last_known.last_canonical_stage <> terminal.canonical_stage
),

terminal_events as (
    select
        deal_key,
        terminal_at as event_at,
        cast(null as {{ dbt.type_string() }}) as pipeline_id,
        cast(null as {{ dbt.type_string() }}) as stage_id,
        'derived' as origin,
        4 as origin_rank,
        source_name,
        terminal_stage as canonical_stage,
        terminal_order as sort_order
    from terminal_candidates
    where terminal_at <= {{ hub_as_of() }}
),

all_events as (
    select deal_key, event_at, pipeline_id, stage_id, origin, origin_rank, source_name, canonical_stage, sort_order
    from base_events
    union all
    select * from creation_events
    union all
    select * from current_events
    union all
    select * from terminal_events
),

sequenced as (
    select
        all_events.*,
        lag(canonical_stage) over (
            partition by deal_key order by event_at, origin_rank, sort_order, stage_id
        ) as previous_canonical_stage
    from all_events
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
