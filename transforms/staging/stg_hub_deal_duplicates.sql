{#- Deals the hub's duplicate detection (hub/resolve) found entered twice: each row is a
    losing copy and the deal counted instead. Empty when detection has not run. A table, not a
    view: see stg_hub_sources. -#}
{{ config(materialized='table') }}

{%- set text = dbt.type_string() %}

with source as (
    {{ hub_optional_table('hub_deal_duplicates', [
        ('deal_key', text), ('duplicate_of', text), ('rule', text), ('score', 'double precision')]) }}
)

select
    deal_key,
    duplicate_of,
    lower(rule) as duplicate_rule,
    score
from source
