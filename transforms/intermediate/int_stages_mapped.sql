{#- Every native stage the hub has seen (per source, pipeline, stage id) resolved to a canonical
    stage through hub_stage_map. Match on (source, pipeline id or label or '*', stage id or
    label); prefer a specific pipeline over '*', then a stage-id match over a label match, then
    a pipeline-id match over a label match. Labels compare case-insensitively. No match ->
    'unmapped' (the row is kept: nothing is dropped). -#}
with stages as (
    select * from {{ ref('stg_stages') }}
),

pipelines as (
    select * from {{ ref('stg_pipelines') }}
),

stage_map as (
    select * from {{ ref('stg_hub_stage_map') }}
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
),

{#- Each input is reduced to its few distinct stages on its own (a hash aggregate each), and
    stage changes meet deals straight from staging: one distinct over every row of the union
    (1.6M at 300k deals) sorted them all on disk in PostgreSQL, and a deals CTE read twice
    hid the deal-key statistics from its join. -#}
seen as (
    select source_name, pipeline_id, stage_id
    from {{ ref('stg_deals') }}
    where stage_id is not null
    group by source_name, pipeline_id, stage_id
    union
    select source_name, pipeline_id, stage_id
    from stages
    where stage_id is not null
    union
    select changes.source_name, coalesce(changes.pipeline_id, deals.pipeline_id), changes.stage_id
    from {{ ref('stg_stage_changes') }} as changes
    left join {{ ref('stg_deals') }} as deals on deals.deal_key = changes.deal_key
    where changes.stage_id is not null
    group by changes.source_name, coalesce(changes.pipeline_id, deals.pipeline_id), changes.stage_id
    union
    select source_name, pipeline_id, stage_id
    from {{ ref('stg_stage_observations') }}
    where stage_id is not null
    group by source_name, pipeline_id, stage_id
),

{#- A stage row describes (pipeline, stage); rows without a pipeline (e.g. Salesforce stage
    names shared by all record types) describe the stage in every pipeline. -#}
labelled as (
    select
        seen.source_name,
        seen.pipeline_id,
        seen.stage_id,
        stages.stage_label,
        stages.probability as native_probability,
        row_number() over (
            partition by seen.source_name, seen.pipeline_id, seen.stage_id
            order by case when stages.pipeline_id = seen.pipeline_id then 0 else 1 end,
                stages.is_deleted, stages.native_stage_key
        ) as label_rank
    from seen
    left join stages
        on stages.source_name = seen.source_name
        and stages.stage_id = seen.stage_id
        and (stages.pipeline_id = seen.pipeline_id or stages.pipeline_id is null)
),

with_pipeline as (
    select
        labelled.source_name,
        labelled.pipeline_id,
        labelled.stage_id,
        labelled.stage_label,
        labelled.native_probability,
        pipeline_labels.pipeline_label
    from labelled
    left join (
        select source_name, pipeline_id, min(pipeline_label) as pipeline_label
        from pipelines
        group by source_name, pipeline_id
    ) as pipeline_labels
        on pipeline_labels.source_name = labelled.source_name
        and pipeline_labels.pipeline_id = labelled.pipeline_id
    where labelled.label_rank = 1
),

candidates as (
    select
        with_pipeline.source_name,
        with_pipeline.pipeline_id,
        with_pipeline.stage_id,
        stage_map.canonical_stage,
        stage_map.map_pipeline,
        stage_map.map_native_stage,
        case
            when stage_map.map_native_stage = with_pipeline.stage_id then 'stage_id'
            else 'stage_label'
        end as stage_matched_by,
        row_number() over (
            partition by with_pipeline.source_name, with_pipeline.pipeline_id, with_pipeline.stage_id
            order by
                case when stage_map.map_pipeline = '*' then 1 else 0 end,
                case when stage_map.map_native_stage = with_pipeline.stage_id then 0 else 1 end,
                case when stage_map.map_pipeline = with_pipeline.pipeline_id then 0 else 1 end,
                stage_map.canonical_stage
        ) as match_rank
    from with_pipeline
    inner join stage_map
        on stage_map.source_name = with_pipeline.source_name
        and (
            stage_map.map_pipeline = '*'
            or stage_map.map_pipeline = with_pipeline.pipeline_id
            or lower(stage_map.map_pipeline) = lower(with_pipeline.pipeline_label)
        )
        and (
            stage_map.map_native_stage = with_pipeline.stage_id
            or lower(stage_map.map_native_stage) = lower(with_pipeline.stage_label)
        )
),

resolved as (
    select
        with_pipeline.source_name,
        with_pipeline.pipeline_id,
        with_pipeline.stage_id,
        with_pipeline.source_name || ':' || coalesce(with_pipeline.pipeline_id, '') || ':' || with_pipeline.stage_id as mapped_stage_key,
        with_pipeline.pipeline_label,
        with_pipeline.stage_label,
        with_pipeline.native_probability,
        coalesce(candidates.canonical_stage, 'unmapped') as canonical_stage,
        candidates.canonical_stage is null as is_unmapped,
        candidates.map_pipeline as matched_pipeline,
        candidates.map_native_stage as matched_native_stage,
        candidates.stage_matched_by
    from with_pipeline
    left join candidates
        on candidates.source_name = with_pipeline.source_name
        and coalesce(candidates.pipeline_id, '') = coalesce(with_pipeline.pipeline_id, '')
        and candidates.stage_id = with_pipeline.stage_id
        and candidates.match_rank = 1
)

select
    resolved.*,
    canonical.stage_order,
    canonical.outcome,
    canonical.stage_probability,
    coalesce(canonical.is_open_stage, true) as is_open_stage
from resolved
left join canonical on canonical.canonical_stage = resolved.canonical_stage
