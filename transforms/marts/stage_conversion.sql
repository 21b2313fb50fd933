{#- Definition: macro hub_stage_conversion_mart (transforms/macros/marts/mart_stage_conversion.sql),
    shared with stage_conversion_by_dimension and stage_conversion_by_rep; docs/metrics.md.
    The rows are stage_conversion_by_rep's all-reps rows (rep_key '*', a grouping the macro
    rolls up, never a rep's key): read there rather than counted a second time. -#}
select
    mode,
    source_name,
    pipeline_key,
    cohort_month,
    canonical_stage,
    stage_order,
    next_stage,
    funnel_deals,
    reached_count,
    reached_next_count,
    next_step_conversion,
    cumulative_conversion,
    as_of
from {{ ref('stage_conversion_by_rep') }}
where rep_key = '*'
