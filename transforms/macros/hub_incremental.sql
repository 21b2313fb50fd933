{#- Per-deal incremental models (docs/metrics.md "Incremental transforms").

    Before dbt runs, the hub (hub/warehouse/changes.py) writes to hub_meta.hub_changed_deals
    every deal whose inputs to these models changed since the last complete transform, or
    whose rows may differ at the new as_of. On an incremental run a per-deal model deletes
    those deals' rows (pre-hook hub_delete_changed_deals) and inserts them again, computed
    from its inputs filtered by hub_only_changed_deals; every other deal keeps its rows.
    On a full refresh (dbt --full-refresh, or the first build) both macros render nothing
    and the model is built whole. -#}

{#- " and <column> in (changed deals)" on an incremental run; nothing otherwise. Place it
    after a where clause of every input read by deal key. -#}
{% macro hub_only_changed_deals(column='deal_key') -%}
    {%- if is_incremental() -%}
        and {{ column }} in (select deal_key from {{ hub_table('hub_changed_deals') }})
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: drop the rows of the deals about to be rebuilt (deleted deals included, whose
    rows then simply disappear). -#}
{% macro hub_delete_changed_deals() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where deal_key in (select deal_key from {{ hub_table('hub_changed_deals') }})
    {%- endif -%}
{%- endmacro %}
