{#- Sales velocity per period (month and quarter) and rep (and all reps, '*'), all inputs over
    the same calendar period (the window convention, see docs/metrics.md):
      opportunities      deals created in the period
      win_rate           won / (won + lost) of deals closed in the period
      avg_won_amount     mean amount_base of deals won in the period
      avg_won_cycle_days mean created -> closed days of deals won in the period
      velocity_base_per_day = opportunities x win_rate x avg_won_amount / avg_won_cycle_days
    NULL when any input is NULL or the cycle is 0. The period containing as_of is partial.
    A deal whose creation instant is only when the hub first saw it is no opportunity of any
    period; one whose creation was inferred from its close has no cycle (docs/metrics.md
    "Creation"). -#}
with deals as (
    select
        counted.*,
        case
            when created_at_source <> 'closed_at' then {{ hub_days_between('created_at', 'closed_at') }}
        end as cycle_days
    from ({{ hub_counted_deals() }}) as counted
),

facts as (
    {% for period in ['month', 'quarter'] %}
    select '{{ period }}' as period_type, {{ hub_period_start(period, 'created_at') }} as period_start,
        rep_key, 1 as created, 0 as won, 0 as lost,
        cast(null as decimal(38, 6)) as won_amount_base, cast(null as double precision) as won_cycle_days
    from deals
    where has_dated_creation
    union all
    select '{{ period }}' as period_type, {{ hub_period_start(period, 'closed_at') }} as period_start,
        rep_key, 0 as created,
        case when is_won then 1 else 0 end as won,
        case when is_lost then 1 else 0 end as lost,
        case when is_won then amount_base end as won_amount_base,
        case when is_won then cycle_days end as won_cycle_days
    from deals
    where is_won or is_lost
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

aggregated as (
    select
        period_type,
        period_start,
        {{ hub_rollup('rep_key') }} as rep_key,
        sum(created) as opportunities,
        sum(won) as won_count,
        sum(lost) as lost_count,
        avg(won_amount_base) as avg_won_amount_base,
        avg(won_cycle_days) as avg_won_cycle_days
    from facts
    group by grouping sets ((period_type, period_start, rep_key), (period_type, period_start))
),

rated as (
    select
        aggregated.*,
        {{ hub_ratio('won_count', 'won_count + lost_count') }} as win_rate
    from aggregated
)

select
    period_type,
    period_start,
    rep_key,
    opportunities,
    won_count,
    lost_count,
    win_rate,
    avg_won_amount_base,
    avg_won_cycle_days,
    {{ hub_ratio('opportunities * win_rate * avg_won_amount_base', 'avg_won_cycle_days') }} as velocity_base_per_day,
    period_start = case
        when period_type = 'month' then {{ hub_period_start('month', hub_as_of()) }}
        else {{ hub_period_start('quarter', hub_as_of()) }}
    end as is_partial_period,
    {{ hub_as_of_tz() }} as as_of
from rated
