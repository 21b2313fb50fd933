{#- One row per deal x configured dimension (var `dimensions`, hub.yml) with the deal's value
    as text, and the deal's columns the *_by_dimension marts count (macro
    hub_dimension_mart_columns), so those marts read this table alone rather than each
    joining it to every deal again. Each name resolves, in order, to a deal column
    (int_deals_enriched), a deal custom field (deal_fields), an account column of the deal's
    primary account (stg_accounts), an account custom field (account_fields); see macro
    hub_dimensions. No dimensions configured: no rows.
    Per deal and incremental (macro hub_incremental), on the same list as int_deal_facts
    (hub_changed_deal_rows): a deal's values read its own rows (int_deals_enriched,
    deal_fields) and its account's, and a change of accounts or field definitions puts
    every deal in that list. A dimension that moves with as_of (days_in_current_stage,
    days_since_last_activity, as_of) makes it a table rebuilt on every run. Its pre-hook
    keeps the listed deals' rows as they were (macro hub_stash_changed_deals), from which
    int_win_rate_dimension_months takes its deltas (macro hub_group_sums). -#}
{%- if hub_dimensions_move_with_as_of() %}
{{ config(materialized='table') }}
{%- else %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_stash_changed_deals('hub_changed_deal_rows') }}",
    meta={'hub_changed_list': 'hub_changed_deal_rows'},
) }}
{%- endif %}
-- depends_on: {{ ref('int_deals_enriched') }}
-- depends_on: {{ ref('deal_fields') }}
-- depends_on: {{ ref('account_fields') }}
-- depends_on: {{ ref('stg_accounts') }}
{%- set text = dbt.type_string() %}
{%- set dimensions = hub_dimensions() %}
{%- if dimensions | length == 0 %}
select
    deals.deal_key,
    cast(null as {{ text }}) as dimension,
    cast(null as {{ text }}) as dimension_value,
    cast(null as {{ text }}) as resolved_as,
    {%- for column in hub_dimension_mart_columns() %}
    deals.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref('int_deals_enriched') }} as deals
where 1 = 0
{%- else %}
{%- for dim in dimensions %}
{%- if not loop.first %}
union all
{%- endif %}
select
    deals.deal_key,
    cast('{{ dim.name }}' as {{ text }}) as dimension,
    {%- if dim.kind == 'deal' %}
    {{ hub_dimension_text('deals.' ~ adapter.quote(dim.column), dim.sql_type) }} as dimension_value,
    {%- else %}
    {{ hub_dimension_text('related.' ~ adapter.quote(dim.column), dim.sql_type) }} as dimension_value,
    {%- endif %}
    cast('{{ dim.kind }}' as {{ text }}) as resolved_as,
    {%- for column in hub_dimension_mart_columns() %}
    deals.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref('int_deals_enriched') }} as deals
{%- if dim.kind == 'deal_field' %}
left join {{ ref('deal_fields') }} as related on related.deal_key = deals.deal_key
{%- elif dim.kind == 'account' %}
left join {{ ref('stg_accounts') }} as related on related.account_key = deals.account_key
{%- elif dim.kind == 'account_field' %}
left join {{ ref('account_fields') }} as related on related.account_key = deals.account_key
{%- endif %}
where true {{ hub_only_changed_deals('deals.deal_key', 'hub_changed_deal_rows') }}
{%- endfor %}
{%- endif %}
