{#- Open deals (at as_of) whose current spell, or the days since their last activity (else since
    creation), exceed their canonical stage's threshold: hub_canonical_stages.stall_days, else
    (var stall_p90_default, default true) the p90 of closed spells of that stage. One row per
    stalled deal with the reason. Stages without a threshold (e.g. unmapped) never stall. -#}
with open_deals as (
    select * from ({{ hub_counted_deals() }}) as deals
    where is_open
),

canonical as (
    select * from {{ ref('stg_hub_canonical_stages') }}
),

{#- The p90 of each stage's closed spells of counted deals is time_in_stage's all-outcomes,
    all-sources row (time_in_stage_by_rep's all-reps rollup): read there rather than
    sorting every closed spell a second time. -#}
historical as (
    select canonical_stage, p90_days, spell_count as n_spells
    from {{ ref('time_in_stage_by_rep') }}
    where rep_key = '*' and final_outcome = 'all' and source_name = '*'
),

thresholds as (
    select
        canonical.canonical_stage,
        case
            when canonical.stall_days is not null then canonical.stall_days
            {% if var('stall_p90_default', true) %}when true then historical.p90_days{% endif %}
        end as threshold_days,
        case
            when canonical.stall_days is not null then 'configured'
            {% if var('stall_p90_default', true) %}when historical.p90_days is not null then 'p90'{% endif %}
        end as threshold_source
    from canonical
    left join historical on historical.canonical_stage = canonical.canonical_stage
),

flagged as (
    select
        open_deals.deal_key,
        open_deals.source_name,
        open_deals.crm,
        open_deals.deal_name,
        open_deals.rep_key,
        open_deals.owner_key,
        open_deals.canonical_stage,
        open_deals.amount,
        open_deals.currency,
        open_deals.amount_base,
        {{ hub_tz('open_deals.current_spell_entered_at') }} as current_spell_entered_at,
        open_deals.days_in_current_stage,
        {{ hub_tz('open_deals.last_activity_at') }} as last_activity_at,
        open_deals.days_since_last_activity,
        thresholds.threshold_days,
        thresholds.threshold_source,
        coalesce(open_deals.days_in_current_stage > thresholds.threshold_days, false) as is_stalled_in_stage,
        coalesce(open_deals.days_since_last_activity > thresholds.threshold_days, false) as is_stalled_no_activity
    from open_deals
    inner join thresholds on thresholds.canonical_stage = open_deals.canonical_stage
)

select
    flagged.*,
    case
        when is_stalled_in_stage and is_stalled_no_activity then
            'in ' || canonical_stage || ' for ' || {{ hub_fmt1('days_in_current_stage') }}
            || ' days and no activity for ' || {{ hub_fmt1('days_since_last_activity') }}
            || ' days (threshold ' || {{ hub_fmt1('threshold_days') }} || ' days, ' || threshold_source || ')'
        when is_stalled_in_stage then
            'in ' || canonical_stage || ' for ' || {{ hub_fmt1('days_in_current_stage') }}
            || ' days (threshold ' || {{ hub_fmt1('threshold_days') }} || ' days, ' || threshold_source || ')'
        else
            'no activity for ' || {{ hub_fmt1('days_since_last_activity') }}
            || ' days (threshold ' || {{ hub_fmt1('threshold_days') }} || ' days, ' || threshold_source || ')'
    end as reason,
    {{ hub_as_of_tz() }} as as_of
from flagged
where is_stalled_in_stage or is_stalled_no_activity
