{{ config(alias='stage_updates') }}
{#- Stage moves the hub's stage rules ask for (hub.yml push.stage_rules, off by default; the
    hub passes the rules as var push_stage_rules). A rule matches an open deal whose current
    native stage maps to one of its from_stages and that has a completed activity of its
    type by as_of; the first matching rule wins. The target is the NATIVE stage id of the
    rule's canonical to_stage in the deal's own pipeline, through the reverse stage mapping
    (int_stages_mapped): a pipeline-specific stage beats a pipeline-less one (Salesforce
    stages are shared by every record type), and when several native stages of that
    pipeline map to the same canonical stage the target is ambiguous and no row is made. -#}
{%- set rules = var('push_stage_rules', []) or [] -%}
{%- set text = dbt.type_string() -%}
with deals as (
    select * from {{ ref('deals') }}
),

activities as (
    select * from {{ ref('stg_activities') }}
),

mapped as (
    select * from {{ ref('int_stages_mapped') }}
),

{% if rules %}
matched as (
    {%- for rule in rules %}
    select
        deals.deal_key,
        deals.source_name,
        deals.crm,
        deals.source_deal_id,
        deals.pipeline_id,
        deals.stage_id as current_stage_id,
        deals.updated_at as crm_updated_at,
        cast('{{ rule.name }}' as {{ text }}) as rule_name,
        cast('{{ rule.to_stage }}' as {{ text }}) as to_stage,
        {{ loop.index }} as rule_order
    from deals
    where deals.is_open
        and not deals.is_deleted
        and deals.mapped_stage in ({% for s in rule.from_stages %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
        and exists (
            select 1
            from activities
            where activities.deal_key = deals.deal_key
                and activities.activity_type = '{{ rule.activity_type }}'
                and activities.completed
                and not activities.is_deleted
                and activities.occurred_at <= {{ hub_as_of() }}
        )
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

first_rule as (
    select
        matched.*,
        row_number() over (partition by deal_key order by rule_order) as rule_rank
    from matched
),

candidates as (
    select
        first_rule.deal_key,
        mapped.stage_id as target_stage_id,
        case when mapped.pipeline_id is null then 1 else 0 end as specificity
    from first_rule
    inner join mapped
        on mapped.source_name = first_rule.source_name
        and (mapped.pipeline_id = first_rule.pipeline_id or mapped.pipeline_id is null)
        and mapped.canonical_stage = first_rule.to_stage
        and not mapped.is_unmapped
    where first_rule.rule_rank = 1
),

best as (
    select deal_key, min(specificity) as specificity
    from candidates
    group by deal_key
),

targets as (
    select
        candidates.deal_key,
        min(candidates.target_stage_id) as target_stage_id,
        count(distinct candidates.target_stage_id) as n_targets
    from candidates
    inner join best
        on best.deal_key = candidates.deal_key and best.specificity = candidates.specificity
    group by candidates.deal_key
),

resolved as (
    select
        first_rule.source_name,
        first_rule.crm,
        first_rule.deal_key,
        first_rule.source_deal_id,
        first_rule.pipeline_id,
        targets.target_stage_id as value,
        first_rule.current_stage_id as current_value,
        first_rule.crm_updated_at,
        first_rule.rule_name || ': to ' || first_rule.to_stage as reason
    from first_rule
    inner join targets on targets.deal_key = first_rule.deal_key and targets.n_targets = 1
    where first_rule.rule_rank = 1
        and targets.target_stage_id <> coalesce(first_rule.current_stage_id, '')
)
{% else %}
resolved as (
    select
        cast(null as {{ text }}) as source_name,
        cast(null as {{ text }}) as crm,
        cast(null as {{ text }}) as deal_key,
        cast(null as {{ text }}) as source_deal_id,
        cast(null as {{ text }}) as pipeline_id,
        cast(null as {{ text }}) as value,
        cast(null as {{ text }}) as current_value,
        cast(null as timestamp) as crm_updated_at,
        cast(null as {{ text }}) as reason
    where 1 = 0
)
{% endif %}

select
    deal_key || '|stage_id' as outbound_key,
    source_name,
    crm,
    deal_key,
    source_deal_id,
    pipeline_id,
    cast('stage_id' as {{ text }}) as field,
    value,
    current_value,
    crm_updated_at,
    reason
from resolved
