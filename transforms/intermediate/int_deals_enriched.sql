{#- One row per deal: its state as the warehouse holds it, in canonical terms, plus what the
    metric marts need (base-currency amount, effective probability, rep, stage as of as_of,
    company, whether it is a duplicate the marts leave out, and its creation instant with
    where that comes from). A view: int_deal_facts holds every column but those that move
    continuously with as_of, per deal and incremental; these are computed here, when read,
    so no run copies every deal only to add them. -#}
{{ config(materialized='view') }}

select
    facts.*,
    case
        when facts.current_spell_entered_at is not null
            then {{ hub_days_between('facts.current_spell_entered_at', hub_as_of()) }}
    end as days_in_current_stage,
    case
        when facts.created_at <= {{ hub_as_of() }}
            then {{ hub_days_between('coalesce(facts.last_activity_at, facts.created_at)', hub_as_of()) }}
    end as days_since_last_activity,
    {{ hub_as_of() }} as as_of
from {{ ref('int_deal_facts') }} as facts
