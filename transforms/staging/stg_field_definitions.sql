with source as (
    {{ hub_union_source('field_definitions') }}
)

select
    field_key,
    source_name,
    crm,
    entity,
    column_name,
    source_field,
    label,
    lower(data_type) as data_type
from source
