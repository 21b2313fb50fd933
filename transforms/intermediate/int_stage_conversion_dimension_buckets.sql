{#- stage_conversion_by_dimension's buckets on PostgreSQL: per dimension value, source,
    pipeline, cohort month and funnel row (furthest stage, ever lost, stages visited), the
    number of counted deals with a dated creation (macro hub_conversion_bucket_rows). Kept
    as sums (macros hub_group_sums, hub_conversion_buckets): a run adds the changed deals'
    new rows and subtracts their old ones (hub_before_int_deal_dimensions,
    hub_before_int_deal_funnel), reading no other deal's dimension rows; a bucket whose last
    deal left is dropped (n_deals > 0). A table rebuilt every run when a dimension moves with
    as_of (int_deal_dimensions keeps no old rows then). DuckDB groups every deal x dimension
    in the mart: there that costs less than this node and its incremental writes. -#}
{%- set groups = ['dimension', 'dimension_value', 'source_name', 'pipeline_key', 'cohort_month', 'furthest_order', 'was_lost', 'visited'] %}
{#- the full build groups every deal x dimension: hashed on PostgreSQL (macro
    hub_prefer_hashing; sorted, it spilled to disk) -#}
{%- if hub_dimensions_move_with_as_of() %}
{{ config(enabled=(target.type == 'postgres'), materialized='table', pre_hook="{{ hub_prefer_hashing() }}") }}
{%- else %}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ hub_prefer_hashing() }}",
        "{{ hub_keep_group_sums(hub_conversion_bucket_deltas(), " ~ groups | tojson ~ ", ['n_deals']) }}",
    ],
) }}
{%- endif %}

with summed_rows as (
    {%- if hub_groups_incremental() %}
    {{ hub_kept_and_deltas(groups + ['n_deals']) }}
    {%- else %}
    {{ hub_conversion_bucket_rows(ref('int_deal_dimensions'), ref('int_deal_funnel'), 1, 'true') }}
    {%- endif %}
)

select
    {{ groups | join(',\n    ') }},
    cast(sum(n_deals) as {{ dbt.type_bigint() }}) as n_deals
from summed_rows
group by {{ groups | join(', ') }}
having sum(n_deals) > 0
