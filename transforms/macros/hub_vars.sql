{#- A var whose value changes from run to run (as_of, hub_changed_deals,
    hub_test_changed_deals). `hub transform` passes them as environment variables
    HUB_DBT_VAR_<NAME> (JSON), read only while executing: dbt then parses the project the
    same way on every run and reuses that parse (hub/dbt_parse.py), which a new --vars value
    would throw away. --vars still wins (a dbt run by hand, unit tests). -#}
{% macro hub_run_var(name, default=none) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none and execute -%}
        {%- set raw = env_var('HUB_DBT_VAR_' ~ name | upper, '') -%}
        {%- if raw != '' -%}
            {%- set value = fromjson(raw) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(default if value is none else value) }}
{%- endmacro %}

{#- The instant every mart is computed at, as a naive UTC timestamp (all staging timestamps are
    naive UTC too, so date_trunc and friends never depend on the session time zone). -#}
{% macro hub_as_of() -%}
    {%- set value = hub_run_var('as_of') -%}
    {%- if value is none or value == '' -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("var 'as_of' is required (an ISO-8601 UTC instant, e.g. --vars '{as_of: \"2026-06-30T00:00:00Z\"}'); marts never use the wall clock") }}
        {%- endif -%}
        {%- set value = '1970-01-01T00:00:00Z' -%}
    {%- endif -%}
    {{ hub_utc("'" ~ value ~ "'") }}
{%- endmacro %}

{#- Any timestamp / timestamptz / ISO string expression -> naive UTC timestamp. -#}
{% macro hub_utc(expr) -%}
    {{ return(adapter.dispatch('hub_utc', 'hub')(expr)) }}
{%- endmacro %}

{% macro default__hub_utc(expr) -%}
    cast(cast({{ expr }} as timestamp with time zone) at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- The same value, built from the instant's epoch microseconds: DuckDB's AT TIME ZONE goes
    through an ICU calendar per value, about 10x the cost (every staging view converts every
    timestamp it reads). Infinities keep AT TIME ZONE, which gives them as the extreme
    timestamps. -#}
{% macro duckdb__hub_utc(expr) -%}
    {%- set instant = "cast(" ~ expr ~ " as timestamp with time zone)" -%}
    (case when isfinite({{ instant }}) then make_timestamp(epoch_us({{ instant }}))
     else cast({{ instant }} at time zone 'UTC' as timestamp) end)
{%- endmacro %}

{#- Fractional days from a to b (both timestamps). -#}
{% macro hub_days_between(a, b) -%}
    ({{ dbt.datediff(a, b, 'second') }} / 86400.0)
{%- endmacro %}

{#- n / d, NULL when d is NULL or zero: an empty denominator never reads as 0 or 100%. -#}
{% macro hub_ratio(n, d) -%}
    (case when ({{ d }}) is null or ({{ d }}) = 0 then null else cast({{ n }} as double precision) / ({{ d }}) end)
{%- endmacro %}

{#- Continuous percentile (p in 0-1) as an aggregate. -#}
{% macro hub_percentile(expr, p) -%}
    {{ return(adapter.dispatch('hub_percentile', 'hub')(expr, p)) }}
{%- endmacro %}

{% macro default__hub_percentile(expr, p) -%}
    percentile_cont({{ p }}) within group (order by cast({{ expr }} as double precision))
{%- endmacro %}

{% macro duckdb__hub_percentile(expr, p) -%}
    quantile_cont({{ expr }}, {{ p }})
{%- endmacro %}

{#- The hub's own tables (written from hub.yml before every transform). -#}
{% macro hub_table(name) -%}
    {{ source('hub', name) }}
{%- endmacro %}

{#- Naive-UTC timestamp -> timestamptz, for mart outputs (readers get aware UTC datetimes).
    Internal models stay naive UTC so date math never depends on the session time zone. -#}
{% macro hub_tz(expr) -%}
    (cast({{ expr }} as timestamp) at time zone 'UTC')
{%- endmacro %}

{% macro hub_as_of_tz() -%}
    {{ hub_tz(hub_as_of()) }}
{%- endmacro %}
