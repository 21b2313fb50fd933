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
    "Creation"). A view: int_sales_velocity_periods holds every column but those that move
    with as_of, rebuilt by touched period (macro hub_groups). -#}
{{ config(materialized='view') }}

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
    velocity_base_per_day,
    period_start = case
        when period_type = 'month' then {{ hub_period_start('month', hub_as_of()) }}
        else {{ hub_period_start('quarter', hub_as_of()) }}
    end as is_partial_period,
    {{ hub_as_of_tz() }} as as_of
from {{ ref('int_sales_velocity_periods') }}
