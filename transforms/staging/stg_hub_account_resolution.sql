{#- Which company each account belongs to, as the hub's account resolution (hub/resolve)
    decided before this run. Empty when resolution has not run: every account is then its own
    company (int_accounts_resolved). A table, not a view: see stg_hub_sources. -#}
{{ config(materialized='table') }}

{%- set text = dbt.type_string() %}

with source as (
    {{ hub_optional_table('hub_account_resolution', [
        ('account_key', text), ('company_key', text), ('company_name', text), ('rule', text)]) }}
)

select
    account_key,
    company_key,
    company_name,
    lower(rule) as resolution_rule
from source
