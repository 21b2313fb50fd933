{#- win_rate_by_dimension's counting step: per dimension value, rep, source, pipeline and
    close month (with its quarter), the closed counted deals' counts and amounts, from
    int_deal_dimensions. Kept as sums (macro hub_group_sums): a run adds the changed deals'
    new rows and subtracts their old ones (hub_before_int_deal_dimensions), reading no other
    deal, so the mart sums a table of groups instead of every deal x dimension. n_rows > 0
    says a group still has deals; n_won_amount and n_lost_amount count the non-NULL amounts.
    When a dimension moves with as_of, int_deal_dimensions is a table rebuilt every run (no
    old rows kept), and so is this. -#}
{%- set groups = ['dimension', 'dimension_value', 'rep_key', 'source_name', 'pipeline_key', 'month_start', 'quarter_start'] %}
{%- set measures = ['n_rows', 'won_count', 'lost_count', 'won_amount_base', 'n_won_amount', 'lost_amount_base', 'n_lost_amount', 'n_closed_without_amount_base'] %}
{#- the full build counts every deal row: hashed on PostgreSQL (macro hub_prefer_hashing, as
    win_rate's counting step) -#}
{%- if hub_dimensions_move_with_as_of() %}
{{ config(materialized='table', pre_hook="{{ hub_prefer_hashing() }}") }}
{%- else %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ hub_prefer_hashing() }}",
        "{{ hub_keep_group_sums(hub_group_delta_rows(ref('int_deal_dimensions'), 'hub_changed_deal_rows', hub_win_rate_dimension_rows), "
            ~ groups | tojson ~ ", " ~ measures | tojson ~ ") }}",
    ],
) }}
{%- endif %}

with summed_rows as (
    {%- if hub_groups_incremental() %}
    {{ hub_kept_and_deltas(groups + measures) }}
    {%- else %}
    {{ hub_win_rate_dimension_rows(ref('int_deal_dimensions'), 1, 'true') }}
    {%- endif %}
)

select
    dimension,
    dimension_value,
    rep_key,
    source_name,
    pipeline_key,
    month_start,
    quarter_start,
    cast(sum(n_rows) as bigint) as n_rows,
    cast(sum(won_count) as bigint) as won_count,
    cast(sum(lost_count) as bigint) as lost_count,
    {{ hub_kept_sum('won_amount_base', 'n_won_amount') }} as won_amount_base,
    cast(sum(n_won_amount) as bigint) as n_won_amount,
    {{ hub_kept_sum('lost_amount_base', 'n_lost_amount') }} as lost_amount_base,
    cast(sum(n_lost_amount) as bigint) as n_lost_amount,
    cast(sum(n_closed_without_amount_base) as bigint) as n_closed_without_amount_base
from summed_rows
group by dimension, dimension_value, rep_key, source_name, pipeline_key, month_start, quarter_start
having sum(n_rows) > 0
