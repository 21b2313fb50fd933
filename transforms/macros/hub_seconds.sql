{#- Whole seconds from a to b: the value dbt.datediff(a, b, 'second') gives, cheaper on
    PostgreSQL. dbt's PostgreSQL version takes the dates' difference, then hour, minute and
    floor(second) of both sides (six date_part calls a row); the difference of the two
    wall-clock times (`::timestamp`, as dbt reads them) truncated to the second is the same
    number, in the same type (double precision). lead_response_time computes two for every
    counted deal on every sync: its query 0.20 -> 0.15 CPU-s at 100,000 deals, the same rows
    (docs/benchmarks.md). Other warehouses keep dbt's. -#}
{% macro hub_seconds_between(a, b) -%}
    {%- if target.type == 'postgres' -%}
        date_part('epoch', date_trunc('second', ({{ b }})::timestamp) - date_trunc('second', ({{ a }})::timestamp))
    {%- else -%}
        {{ dbt.datediff(a, b, 'second') }}
    {%- endif -%}
{%- endmacro %}
