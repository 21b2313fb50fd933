{#- Per counted deal, one row per period it counts in, with what the period marts aggregate:
    its creation month and quarter (when the creation is dated: sales_velocity's
    opportunities) and, once closed by as_of, its close month, quarter and 'all' (period_start
    NULL). Per deal and incremental on hub_changed_deal_rows, as int_deal_facts (everything
    here is a column of it): its pre-hook keeps the listed deals' rows as they were, so the
    period models rebuild only the periods whose facts changed (macro hub_groups). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_stash_changed_deals('hub_changed_deal_rows') }}",
    meta={'hub_changed_list': 'hub_changed_deal_rows'},
) }}

with deals as (
    select
        deal_key,
        source_name,
        rep_key,
        created_at,
        closed_at,
        is_won,
        is_lost,
        has_dated_creation,
        amount_base,
        {#- a creation inferred from the close has no cycle (docs/metrics.md "Creation") -#}
        coalesce(created_at_source <> 'closed_at', false) as has_cycle,
        {{ hub_days_between('created_at', 'closed_at') }} as cycle_days
    from {{ ref('int_deal_facts') }}
    where is_counted {{ hub_only_changed_deals('deal_key', 'hub_changed_deal_rows') }}
)

{%- set values = 'source_name, rep_key, is_won, is_lost, amount_base, has_cycle, cycle_days' %}
{#- a creation row holds only what a creation period reads (its rep; NULLs of each column's
    own type), so a deal's close leaves its creation periods untouched -#}
{%- set creation_values = 'case when false then source_name end as source_name, rep_key, false as is_won, '
    ~ 'false as is_lost, case when false then amount_base end as amount_base, false as has_cycle, '
    ~ 'case when false then cycle_days end as cycle_days' %}
{% for period in ['month', 'quarter'] %}
select deal_key, '{{ period }}' as period_type, {{ hub_period_start(period, 'created_at') }} as period_start,
    true as is_creation, {{ creation_values }}
from deals
where has_dated_creation
union all
select deal_key, '{{ period }}' as period_type, {{ hub_period_start(period, 'closed_at') }} as period_start,
    false as is_creation, {{ values }}
from deals
where is_won or is_lost
union all
{% endfor %}
select deal_key, 'all' as period_type, cast(null as date) as period_start, false as is_creation, {{ values }}
from deals
where is_won or is_lost
