{#- An activity group's counts per type and in all (rep_activity's columns), one place for
    the per-deal counts and the activities without a deal the mart counts on every run. -#}
{% macro hub_activity_type_counts() -%}
    {%- for type, column in [('call', 'calls'), ('email', 'emails'), ('meeting', 'meetings'),
        ('task', 'tasks'), ('note', 'notes'), ('other', 'other_activities')] %}
    sum(case when activity_type = '{{ type }}' then 1 else 0 end) as {{ column }},
    {%- endfor %}
    count(*) as activities
{%- endmacro %}
