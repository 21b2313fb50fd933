{#- A win probability for every deal open at the score cutoff (var score_cutoff, default as_of;
    `hub score --backtest` sets it earlier and compares with actual_outcome):
      1. history = deals closed (won/lost) before the cutoff. overall_win_rate = won / closed.
      2. stage_win_rate: among history deals that were ever in the deal's canonical stage, the
         share won, smoothed toward the overall rate with var score_prior_weight (k) pseudo-deals:
         (won_s + k x overall) / (n_s + k). Unmapped stages get the overall rate.
      3. x age factor: days in the current stage vs the p75 of won deals' spells in that stage:
         <= 1x -> 1.0, <= 2x -> 0.75, beyond -> 0.5 (1.0 when no won spells to compare).
      4. x activity factor: days since the last activity (else creation) <= 14 -> 1.0,
         <= 30 -> 0.85, beyond -> 0.7.
    Everything is measured at the cutoff; spells and activities after it are not used. -#}
with deals as (
    select * from ({{ hub_counted_deals() }}) as counted
),

spells as (
    select * from {{ ref('int_deal_stage_spells') }}
),

history as (
    select deal_key, is_won
    from deals
    where (is_won or is_lost) and closed_at < {{ hub_score_cutoff() }}
),

overall as (
    select
        count(*) as n_closed,
        sum(case when is_won then 1 else 0 end) as n_won,
        {{ hub_ratio('sum(case when is_won then 1 else 0 end)', 'count(*)') }} as overall_win_rate
    from history
),

stage_history as (
    select
        spells.canonical_stage,
        count(distinct spells.deal_key) as n_closed,
        count(distinct case when history.is_won then spells.deal_key end) as n_won
    from spells
    inner join history on history.deal_key = spells.deal_key
    where spells.is_open_stage and spells.stage_order is not null
        and spells.entered_at < {{ hub_score_cutoff() }}
    group by spells.canonical_stage
),

won_spells as (
    select
        spells.canonical_stage,
        {{ hub_percentile('spells.days', 0.75) }} as p75_won_days
    from spells
    inner join history on history.deal_key = spells.deal_key and history.is_won
    where spells.stage_order is not null
        and spells.exited_at is not null and spells.exited_at <= {{ hub_score_cutoff() }}
    group by spells.canonical_stage
),

scored as (
    select
        deals.deal_key,
        deals.source_name,
        deals.crm,
        deals.source_deal_id,
        deals.rep_key,
        deals.created_at,
        deals.closed_at,
        deals.status,
        deals.amount_base
    from deals
    where deals.created_at <= {{ hub_score_cutoff() }}
        and (deals.status = 'open' or deals.closed_at is null or deals.closed_at > {{ hub_score_cutoff() }})
),

at_cutoff as (
    select
        spells.deal_key,
        spells.canonical_stage,
        spells.is_open_stage,
        {{ hub_days_between('spells.entered_at', hub_score_cutoff()) }} as days_in_stage
    from spells
    inner join scored on scored.deal_key = spells.deal_key
    where spells.entered_at <= {{ hub_score_cutoff() }}
        and (spells.exited_at is null or spells.exited_at > {{ hub_score_cutoff() }})
),

last_touch as (
    select activities.deal_key, max(activities.occurred_at) as last_activity_at
    from {{ ref('stg_activities') }} as activities
    inner join scored on scored.deal_key = activities.deal_key
    where not activities.is_deleted and activities.occurred_at <= {{ hub_score_cutoff() }}
    group by activities.deal_key
),

features as (
    select
        scored.*,
        at_cutoff.canonical_stage,
        at_cutoff.days_in_stage,
        last_touch.last_activity_at,
        {{ hub_days_between('coalesce(last_touch.last_activity_at, scored.created_at)', hub_score_cutoff()) }} as days_since_activity,
        overall.overall_win_rate,
        coalesce(stage_history.n_closed, 0) as stage_closed_count,
        coalesce(stage_history.n_won, 0) as stage_won_count,
        {{ hub_ratio('stage_history.n_won', 'stage_history.n_closed') }} as raw_stage_win_rate,
        case
            when overall.overall_win_rate is null then null
            else (coalesce(stage_history.n_won, 0) + {{ var('score_prior_weight', 20) }} * overall.overall_win_rate)
                / (coalesce(stage_history.n_closed, 0) + {{ var('score_prior_weight', 20) }})
        end as stage_win_rate,
        won_spells.p75_won_days
    from scored
    inner join at_cutoff on at_cutoff.deal_key = scored.deal_key and at_cutoff.is_open_stage
    cross join overall
    left join stage_history on stage_history.canonical_stage = at_cutoff.canonical_stage
    left join won_spells on won_spells.canonical_stage = at_cutoff.canonical_stage
    left join last_touch on last_touch.deal_key = scored.deal_key
),

factored as (
    select
        features.*,
        case
            when p75_won_days is null or p75_won_days <= 0 then 1.0
            when days_in_stage <= p75_won_days then 1.0
            when days_in_stage <= 2 * p75_won_days then 0.75
            else 0.5
        end as age_factor,
        case
            when days_since_activity <= 14 then 1.0
            when days_since_activity <= 30 then 0.85
            else 0.7
        end as activity_factor
    from features
)

select
    deal_key,
    source_name,
    crm,
    source_deal_id,
    rep_key,
    canonical_stage,
    amount_base,
    days_in_stage,
    {{ hub_tz('last_activity_at') }} as last_activity_at,
    days_since_activity,
    overall_win_rate,
    stage_closed_count,
    stage_won_count,
    raw_stage_win_rate,
    stage_win_rate,
    p75_won_days,
    age_factor,
    activity_factor,
    stage_win_rate * age_factor * activity_factor as win_probability,
    case when stage_win_rate is null then 'no closed deals before the cutoff to learn from'
    else
        canonical_stage || ': ' || cast(stage_won_count as {{ dbt.type_string() }}) || ' of '
        || cast(stage_closed_count as {{ dbt.type_string() }}) || ' closed deals won, '
        || {{ hub_fmt1('100 * stage_win_rate') }} || '% smoothed'
        || case when age_factor < 1 then '; ' || {{ hub_fmt1('days_in_stage') }} || ' days in stage vs '
            || {{ hub_fmt1('p75_won_days') }} || ' for won deals (x' || {{ hub_fmt1('age_factor * 100') }} || '%)' else '' end
        || case when activity_factor < 1 then '; no activity for ' || {{ hub_fmt1('days_since_activity') }}
            || ' days (x' || {{ hub_fmt1('activity_factor * 100') }} || '%)' else '' end
    end as reason,
    case
        when closed_at > {{ hub_score_cutoff() }} and closed_at <= {{ hub_as_of() }} and status in ('won', 'lost') then status
        else 'open'
    end as actual_outcome,
    {{ hub_tz(hub_score_cutoff()) }} as score_cutoff,
    {{ hub_as_of_tz() }} as as_of
from factored
