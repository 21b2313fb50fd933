{#- Per-deal incremental models (docs/architecture.md "Incremental transforms").

    Before dbt runs, the hub (hub/warehouse/changes.py) writes to hub_meta.hub_changed_deals
    every deal whose inputs to these models changed since the last complete transform, or
    whose rows may differ at the new as_of, and passes var hub_changed_deals = true. A
    per-deal model then deletes those deals' rows (pre-hook hub_delete_changed_deals) and
    inserts them again, computed from its inputs filtered by hub_only_changed_deals; every
    other deal keeps its rows. On a full refresh (dbt --full-refresh, the first build) both
    macros render nothing and the model is built whole. A dbt run on a built warehouse
    without that var (a user's own `dbt build`, a test) deletes every row and inserts every
    deal again: a full rebuild, never a stale list. -#}

{#- " and <column> in (changed deals)" on an incremental run; nothing otherwise. Place it
    after a where clause of every input read by deal key. -#}
{% macro hub_only_changed_deals(column='deal_key') -%}
    {%- if is_incremental() and var('hub_changed_deals', false) -%}
        and {{ column }} in (select deal_key from {{ hub_table('hub_changed_deals') }})
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: drop the rows of the deals about to be rebuilt (deleted deals included, whose
    rows then simply disappear). -#}
{% macro hub_delete_changed_deals() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        {%- if var('hub_changed_deals', false) %}
        where deal_key in (select deal_key from {{ hub_table('hub_changed_deals') }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
