{#- int_deal_snapshot_deltas summed per (source, canonical stage, day): what
    pipeline_snapshot_daily's running sums add up, for every day (the mart clamps them to
    its window). Incremental by group (macro hub_groups): a run rebuilds only the keys where
    a deal's row appeared, changed or disappeared; a full refresh, or a dbt run without the
    hub's var, rebuilds every key. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_touched_groups(ref('int_deal_snapshot_deltas'), 'hub_changed_deal_rows', ['source_name', 'canonical_stage', 'delta_day']) }}",
) }}

select
    source_name,
    canonical_stage,
    delta_day,
    sum(n_deltas) as n_deltas,
    sum(delta_count) as delta_count,
    sum(delta_missing) as delta_missing,
    sum(delta_amount) as delta_amount,
    sum(delta_weighted) as delta_weighted
from {{ ref('int_deal_snapshot_deltas') }}
where true {{ hub_only_touched_groups(['source_name', 'canonical_stage', 'delta_day']) }}
group by source_name, canonical_stage, delta_day
