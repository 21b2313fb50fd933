{#- Each deal's activities up to as_of (not deleted): the last one's instant and how many.
    Per deal and incremental (macro hub_incremental), so a transform aggregates only the
    activities of the deals that changed; int_deals_enriched reads it. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_delete_changed_deals() }}",
) }}

select deal_key, max(occurred_at) as last_activity_at, count(*) as n_activities
from {{ ref('stg_activities') }}
where not is_deleted
    and deal_key is not null
    and occurred_at <= {{ hub_as_of() }}
    {{ hub_only_changed_deals() }}
group by deal_key
