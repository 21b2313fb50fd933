{#- stage_conversion_by_dimension's buckets kept as sums on PostgreSQL
    (int_stage_conversion_dimension_buckets; docs/architecture.md "Aggregates kept by period
    or day"). A bucket is a dimension value, source, pipeline, cohort month and funnel row
    (int_deal_funnel: furthest stage, ever lost, stages visited) with its number of deals:
    a count, so a run adds the changed deals' new rows and subtracts their old ones, reading
    no other deal, where the mart joined every deal x dimension to every funnel row. -#}

{#- The buckets' rows of the counted deals with a dated creation: each row of `dims` (the
    columns of int_deal_dimensions) joined to its deal's funnel row in `funnel` (a relation
    or a parenthesised query with int_deal_funnel's columns), n_deals = `sign`. -#}
{% macro hub_conversion_bucket_rows(dims, funnel, sign, where) -%}
    select
        dims.dimension,
        dims.dimension_value,
        dims.source_name,
        dims.pipeline_key,
        {{ hub_period_start('month', 'dims.created_at') }} as cohort_month,
        funnels.furthest_order,
        funnels.was_lost,
        funnels.visited,
        {{ sign }} as n_deals
    from {{ dims }} as dims
    inner join {{ funnel }} as funnels on funnels.deal_key = dims.deal_key
    where dims.is_counted and dims.has_dated_creation and {{ where }}
{%- endmacro %}

{#- The signed bucket rows of an incremental run: the deals of hub_changed_deal_rows as
    they are now (+1), and as they were (-1): their old dimension rows
    (hub_before_int_deal_dimensions) with their old funnel row, which is the one
    int_deal_funnel kept aside (hub_before_int_deal_funnel) for a deal of hub_changed_deals
    (the deals it rebuilt; a deal without one then had none) and the row it still holds for
    any other deal (not rebuilt, so unchanged). hub_changed_deals is part of
    hub_changed_deal_rows. -#}
{% macro hub_conversion_bucket_deltas() -%}
    {%- set dims = ref('int_deal_dimensions') -%}
    {%- set funnel = ref('int_deal_funnel') -%}
    {%- set columns = 'deal_key, furthest_order, was_lost, visited' -%}
    {%- set old_funnel -%}
        (select {{ columns }} from {{ hub_groups_scratch('hub_before_', funnel.identifier) }}
        union all
        select {{ columns }} from {{ funnel }}
        where deal_key not in (select deal_key from {{ hub_table('hub_changed_deals') }}))
    {%- endset -%}
    {{ hub_conversion_bucket_rows(dims, funnel, 1,
        "dims.deal_key in (select deal_key from " ~ hub_table('hub_changed_deal_rows') ~ ")") }}
    union all
    {{ hub_conversion_bucket_rows(hub_groups_scratch('hub_before_', dims.identifier), old_funnel, -1, 'true') }}
{%- endmacro %}
