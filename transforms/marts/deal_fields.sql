{#- One row per deal (every deal in stg_deals) with one typed column per deal custom field
    any configured source defines (stg_field_definitions, entity 'deal'), built from the
    catalog at compile time: number -> double precision, date -> date, datetime -> timestamptz
    (UTC), bool -> boolean, enum/text -> text; a name two sources type differently -> text.
    A field named deal_key or source_name becomes field_deal_key / field_source_name. -#}
-- depends_on: {{ ref('stg_field_definitions') }}
{{ hub_typed_fields('deal', ref('stg_deals'), 'deal_key') }}
