{#- int_deal_snapshot_deltas summed per (source, canonical stage, day): what
    pipeline_snapshot_daily's running sums add up, for every day (the mart clamps them to
    its window). Kept as sums (macro hub_group_sums): a run adds the changed deals' new rows
    and subtracts their old ones in the keys they touch, so it reads no other deal; n_amount
    and n_weighted count the non-NULL amounts (NULL sums stay NULL), n_deltas > 0 says a key
    still has rows. A full refresh, or a dbt run without the hub's var, sums every row. -#}
{%- set groups = ['source_name', 'canonical_stage', 'delta_day'] %}
{%- set measures = ['n_deltas', 'delta_count', 'delta_missing', 'delta_amount', 'delta_weighted', 'n_amount', 'n_weighted'] %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_keep_group_sums(hub_group_delta_rows(ref('int_deal_snapshot_deltas'), 'hub_changed_deal_rows', hub_pipeline_delta_rows), "
        ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
) }}

with summed_rows as (
    {%- if hub_groups_incremental() %}
    {{ hub_kept_and_deltas(groups + measures) }}
    {%- else %}
    {{ hub_pipeline_delta_rows(ref('int_deal_snapshot_deltas'), 1, 'true') }}
    {%- endif %}
)

select
    source_name,
    canonical_stage,
    delta_day,
    sum(n_deltas) as n_deltas,
    sum(delta_count) as delta_count,
    sum(delta_missing) as delta_missing,
    {{ hub_kept_sum('delta_amount', 'n_amount') }} as delta_amount,
    {{ hub_kept_sum('delta_weighted', 'n_weighted') }} as delta_weighted,
    sum(n_amount) as n_amount,
    sum(n_weighted) as n_weighted
from summed_rows
group by source_name, canonical_stage, delta_day
having sum(n_deltas) > 0
