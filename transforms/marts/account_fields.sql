{#- One row per account (every account in stg_accounts) with one typed column per account
    custom field any configured source defines (stg_field_definitions, entity 'account'); the
    same typing and renaming rules as deal_fields (account_key, source_name -> field_...). -#}
-- depends_on: {{ ref('stg_field_definitions') }}
{{ hub_typed_fields('account', ref('stg_accounts'), 'account_key') }}
