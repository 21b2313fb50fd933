{#- Dimensions (hub.yml `dimensions`, var `dimensions`): the fields the *_by_dimension marts
    break their figures down by. docs/metrics.md "Dimensions" states the rules. -#}

{#- Columns of int_deals_enriched a dimension can name (tests/transforms check the list against
    the model), and those among them that are double precision (written without float noise). -#}
{% macro hub_deal_dimension_columns() -%}
    {{ return([
        'deal_key', 'source_name', 'crm', 'source_deal_id', 'deal_name', 'pipeline_id',
        'pipeline_key', 'pipeline_label', 'stage_id', 'stage_key', 'stage_label', 'mapped_stage',
        'canonical_stage', 'status', 'amount', 'currency', 'fx_rate', 'amount_base',
        'is_fx_missing', 'deal_probability', 'owner_id', 'owner_key', 'rep_key', 'account_id',
        'account_name', 'account_key', 'company_key', 'company_name', 'duplicate_of',
        'duplicate_rule', 'is_duplicate', 'created_at', 'created_at_source', 'has_dated_creation',
        'expected_close_date', 'closed_at',
        'lost_reason', 'updated_at', 'stage_changed_at', 'is_deleted', 'n_spells',
        'current_spell_entered_at', 'last_activity_at', 'n_activities', 'canonical_stage_order',
        'probability', 'probability_source', 'weighted_amount', 'weighted_amount_base', 'is_won',
        'is_lost', 'is_open', 'is_counted', 'days_in_current_stage', 'days_since_last_activity',
        'as_of',
    ]) }}
{%- endmacro %}

{% macro hub_deal_double_columns() -%}
    {{ return(['fx_rate', 'deal_probability', 'probability', 'days_in_current_stage', 'days_since_last_activity']) }}
{%- endmacro %}

{#- True when a configured dimension moves with as_of: int_deal_dimensions (and what keeps
    sums of it) is then a table rebuilt on every run, not kept per deal. -#}
{% macro hub_dimensions_move_with_as_of() -%}
    {%- set names = var('dimensions', []) or [] -%}
    {%- set names = [names] if names is string else names -%}
    {{ return(names | select('in', ['days_in_current_stage', 'days_since_last_activity', 'as_of']) | list | length > 0) }}
{%- endmacro %}

{#- Columns of stg_accounts a dimension can name (through the deal's primary account). -#}
{% macro hub_account_dimension_columns() -%}
    {{ return([
        'account_key', 'source_name', 'crm', 'source_account_id', 'name', 'website', 'domain',
        'industry', 'country', 'owner_id', 'owner_key', 'created_at', 'updated_at', 'is_deleted',
    ]) }}
{%- endmacro %}

{#- Every configured dimension resolved, in hub.yml order: {name, kind, column, sql_type},
    kind = deal | deal_field | account | account_field. A name found nowhere is a compile
    error naming it and the places looked in. Empty while parsing. -#}
{% macro hub_dimensions() -%}
    {%- set names = var('dimensions', []) or [] -%}
    {%- if names is string -%}
        {%- set names = [names] -%}
    {%- endif -%}
    {%- if not execute or names | length == 0 -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set deal_fields = {} -%}
    {%- for field in hub_field_catalog('deal') -%}
        {%- do deal_fields.update({field.column_name: field}) -%}
    {%- endfor -%}
    {%- set account_fields = {} -%}
    {%- for field in hub_field_catalog('account') -%}
        {%- do account_fields.update({field.column_name: field}) -%}
    {%- endfor -%}
    {%- set resolved = [] -%}
    {%- for name in names -%}
        {%- if name in hub_deal_dimension_columns() -%}
            {%- do resolved.append({'name': name, 'kind': 'deal', 'column': name,
                'sql_type': 'double precision' if name in hub_deal_double_columns() else 'any'}) -%}
        {%- elif name in deal_fields -%}
            {%- do resolved.append({'name': name, 'kind': 'deal_field',
                'column': deal_fields[name].output_name, 'sql_type': deal_fields[name].sql_type}) -%}
        {%- elif name in hub_account_dimension_columns() -%}
            {%- do resolved.append({'name': name, 'kind': 'account', 'column': name, 'sql_type': 'any'}) -%}
        {%- elif name in account_fields -%}
            {%- do resolved.append({'name': name, 'kind': 'account_field',
                'column': account_fields[name].output_name, 'sql_type': account_fields[name].sql_type}) -%}
        {%- else -%}
            {%- do exceptions.raise_compiler_error(
                "hub.yml dimensions: '" ~ name ~ "' is not a field the hub knows. Looked in, in order: "
                ~ "the deal columns (analytics.deals), the deal custom fields ("
                ~ (deal_fields.keys() | sort | join(', ') or 'none defined') ~ "), the account columns ("
                ~ hub_account_dimension_columns() | join(', ') ~ ") and the account custom fields ("
                ~ (account_fields.keys() | sort | join(', ') or 'none defined')
                ~ "). Fix the name in hub.yml, or sync a source that defines the field.") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(resolved) }}
{%- endmacro %}

{#- A dimension value as text, written the same on DuckDB and PostgreSQL: doubles without
    float noise (integral values as integers, others to 6 decimals, trailing zeros dropped);
    every other type through a plain cast (booleans true/false, dates YYYY-MM-DD). -#}
{% macro hub_dimension_text(expr, sql_type) -%}
    {%- set text = dbt.type_string() -%}
    {%- if sql_type == 'double precision' -%}
        case
            when {{ expr }} = floor({{ expr }}) and abs({{ expr }}) < 1e15
                then cast(cast({{ expr }} as bigint) as {{ text }})
            else rtrim(rtrim(cast(cast({{ expr }} as decimal(38, 6)) as {{ text }}), '0'), '.')
        end
    {%- else -%}
        cast({{ expr }} as {{ text }})
    {%- endif -%}
{%- endmacro %}

{#- The columns of int_deals_enriched the *_by_dimension marts read (macro
    hub_counted_deals_by), copied into int_deal_dimensions beside each value. A mart macro
    that starts to read another column of its deals must add it here. -#}
{% macro hub_dimension_mart_columns() -%}
    {{ return([
        'is_counted', 'is_won', 'is_lost', 'is_open', 'rep_key', 'source_name', 'pipeline_key',
        'canonical_stage', 'created_at', 'created_at_source', 'has_dated_creation', 'closed_at',
        'expected_close_date', 'amount_base', 'weighted_amount_base', 'probability',
    ]) }}
{%- endmacro %}

{#- The deals a metric mart counts; with by_dimension, once per configured dimension, with
    columns dimension and dimension_value (int_deal_dimensions, which carries the columns
    of hub_dimension_mart_columns for this, so no join to every deal per mart); with
    by_dimension = 'rep', once, with the rep as the one dimension (the *_by_rep marts). -#}
{% macro hub_counted_deals_by(by_dimension) -%}
    {%- if by_dimension == 'rep' -%}
        select counted.*, cast('rep_key' as {{ dbt.type_string() }}) as dimension, counted.rep_key as dimension_value
        from ({{ hub_counted_deals() }}) as counted
    {%- elif by_dimension -%}
        select deal_key, dimension, dimension_value, {{ hub_dimension_mart_columns() | join(', ') }}
        from {{ ref('int_deal_dimensions') }}
        where is_counted
    {%- else -%}
        {{ hub_counted_deals() }}
    {%- endif -%}
{%- endmacro %}

{#- GROUP BY GROUPING SETS over `sets` (lists of columns); with by_dimension every set is
    taken twice, with dimension and dimension_value and with the value rolled up ('*'), but
    only once, with the value, when `all_values` is false (the mart then copies its
    all-values rows from the plain mart: macro hub_all_values_rows). -#}
{% macro hub_grouping_sets(sets, by_dimension, prefix='', all_values=true) -%}
    {%- set out = [] -%}
    {%- for columns in sets -%}
        {%- if by_dimension -%}
            {%- do out.append('(' ~ ([prefix ~ 'dimension', prefix ~ 'dimension_value'] + columns) | join(', ') ~ ')') -%}
            {%- if all_values -%}
                {%- do out.append('(' ~ ([prefix ~ 'dimension'] + columns) | join(', ') ~ ')') -%}
            {%- endif -%}
        {%- else -%}
            {%- do out.append('(' ~ columns | join(', ') ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
    grouping sets ({{ out | join(', ') }})
{%- endmacro %}

{#- The dimension columns of a breakdown's SELECT (nothing without by_dimension). -#}
{% macro hub_dimension_select(by_dimension, prefix='') -%}
    {%- if by_dimension -%}
        {{ prefix }}dimension, {{ hub_rollup(prefix ~ 'dimension_value') }} as dimension_value,
    {%- endif -%}
{%- endmacro %}

{#- A breakdown's dimension columns in its output: dimension and dimension_value, or for the
    *_by_rep marts (by_dimension = 'rep') the value as rep_key. -#}
{% macro hub_dimension_output(by_dimension, prefix='') -%}
    {%- if by_dimension == 'rep' -%}
        {{ prefix }}dimension_value as rep_key,
    {%- elif by_dimension -%}
        {{ prefix }}dimension, {{ prefix }}dimension_value,
    {%- endif -%}
{%- endmacro %}

{#- The dimension columns passed through a later SELECT (nothing without by_dimension). -#}
{% macro hub_dimension_passthrough(by_dimension, prefix='') -%}
    {%- if by_dimension -%}
        {{ prefix }}dimension, {{ prefix }}dimension_value,
    {%- endif -%}
{%- endmacro %}

{#- True when a breakdown copies its all-values rows ('*') from the plain mart rather than
    rolling the dimension values up itself: every *_by_dimension mart whose plain mart holds
    the same figures (not the *_by_rep marts, whose all-reps rows are the plain mart's source). -#}
{% macro hub_values_from_plain(by_dimension) -%}
    {{ return(by_dimension is sameas true) }}
{%- endmacro %}

{#- The all-values rows ('*') of a *_by_dimension mart: `union all` and, per configured
    dimension, every row of the plain mart (`plain_mart`, built on every run), its columns in
    the breakdown's order (`leading` columns, then dimension and dimension_value '*', then
    `rest`). They are the same rows: int_deal_dimensions holds every counted deal once per
    dimension (a deal without a value has one row, its value NULL) with the columns the
    marts count copied from int_deals_enriched, so rolling every value up groups exactly the
    plain mart's deals. Copying them spares each breakdown a second pass of grouping sets,
    and its percentiles, over every deal x dimension. -#}
{% macro hub_all_values_rows(plain_mart, leading=[], rest='plain.*') -%}
    {%- set text = dbt.type_string() -%}
    {%- set names = hub_dimensions() | map(attribute='name') | list -%}
    union all
    select
        {%- for column in leading %}
        plain.{{ column }},
        {%- endfor %}
        cast(dimensions.dimension as {{ text }}) as dimension,
        cast('*' as {{ text }}) as dimension_value,
        {{ rest }}
    from {{ ref(plain_mart) }} as plain
    {%- if names %}
    cross join (values {% for name in names %}('{{ name }}'){{ ', ' if not loop.last }}{% endfor %}) as dimensions (dimension)
    {%- else %}
    cross join (select cast(null as {{ text }}) as dimension) as dimensions
    where 1 = 0
    {%- endif %}
{%- endmacro %}
