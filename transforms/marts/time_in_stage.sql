{#- Definition: macro hub_time_in_stage_mart (transforms/macros/marts/mart_time_in_stage.sql);
    docs/metrics.md. The rows are time_in_stage_by_rep's all-reps rows (rep_key '*', a
    grouping the macro rolls up, never a rep's key): read there rather than computed a second
    time, since the percentiles over every closed spell are the costly part of both. -#}
select
    canonical_stage,
    final_outcome,
    source_name,
    spell_count,
    mean_days,
    median_days,
    p75_days,
    p90_days,
    as_of
from {{ ref('time_in_stage_by_rep') }}
where rep_key = '*'
