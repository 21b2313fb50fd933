{#- Per quota (hub_quotas: a rep by email, or the whole team when owner_email is null ->
    rep_key '*') and period: open pipeline (open at as_of) expected to close in the period,
    divided by the quota still to win (quota - won in the period by as_of, floored at 0), and
    the coverage needed = 1 / trailing win rate (won / (won + lost) by count, deals closed in
    the var coverage_trailing_days (365) before as_of). NULL whenever a denominator is 0 or
    NULL. Quota periods start on the first day of a month / quarter. -#}
with quotas as (
    select
        case when email_normalized is null then '*' else 'email:' || email_normalized end as rep_key,
        period_type,
        period_start,
        cast(case
            when period_type = 'month' then {{ dbt.dateadd('month', 1, 'period_start') }}
            else {{ dbt.dateadd('month', 3, 'period_start') }}
        end as date) as period_end,
        quota_base
    from {{ ref('stg_hub_quotas') }}
),

deals as (
    select * from ({{ hub_counted_deals() }}) as counted
),

won as (
    {% for period in ['month', 'quarter'] %}
    select '{{ period }}' as period_type, {{ hub_period_start(period, 'closed_at') }} as period_start, rep_key, amount_base
    from deals where is_won
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

won_by_period as (
    select period_type, period_start, {{ hub_rollup('rep_key') }} as rep_key, sum(amount_base) as won_base, count(*) as won_count
    from won
    group by grouping sets ((period_type, period_start, rep_key), (period_type, period_start))
),

open_pipeline as (
    {% for period in ['month', 'quarter'] %}
    select '{{ period }}' as period_type, {{ hub_period_start(period, 'expected_close_date') }} as period_start,
        rep_key, amount_base, weighted_amount_base
    from deals where is_open and expected_close_date is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

open_by_period as (
    select
        period_type,
        period_start,
        {{ hub_rollup('rep_key') }} as rep_key,
        count(*) as open_count,
        sum(amount_base) as open_pipeline_base,
        sum(weighted_amount_base) as weighted_open_pipeline_base
    from open_pipeline
    group by grouping sets ((period_type, period_start, rep_key), (period_type, period_start))
),

trailing_rates as (
    select
        {{ hub_rollup('rep_key') }} as rep_key,
        sum(case when is_won then 1 else 0 end) as trailing_won_count,
        sum(case when is_lost then 1 else 0 end) as trailing_lost_count
    from deals
    where (is_won or is_lost)
        and closed_at > {{ dbt.dateadd('day', -1 * var('coverage_trailing_days', 365), hub_as_of()) }}
    group by grouping sets ((rep_key), ())
),

joined as (
    select
        quotas.*,
        coalesce(won_by_period.won_base, 0) as won_base,
        case when quotas.quota_base - coalesce(won_by_period.won_base, 0) > 0
            then quotas.quota_base - coalesce(won_by_period.won_base, 0) else 0 end as remaining_quota_base,
        coalesce(open_by_period.open_count, 0) as open_count,
        coalesce(open_by_period.open_pipeline_base, 0) as open_pipeline_base,
        coalesce(open_by_period.weighted_open_pipeline_base, 0) as weighted_open_pipeline_base,
        coalesce(trailing_rates.trailing_won_count, 0) as trailing_won_count,
        coalesce(trailing_rates.trailing_lost_count, 0) as trailing_lost_count
    from quotas
    left join won_by_period
        on won_by_period.rep_key = quotas.rep_key
        and won_by_period.period_type = quotas.period_type
        and won_by_period.period_start = quotas.period_start
    left join open_by_period
        on open_by_period.rep_key = quotas.rep_key
        and open_by_period.period_type = quotas.period_type
        and open_by_period.period_start = quotas.period_start
    left join trailing_rates on trailing_rates.rep_key = quotas.rep_key
),

rated as (
    select
        joined.*,
        {{ hub_ratio('open_pipeline_base', 'remaining_quota_base') }} as coverage,
        {{ hub_ratio('trailing_won_count', 'trailing_won_count + trailing_lost_count') }} as trailing_win_rate
    from joined
)

select
    rated.*,
    {{ hub_ratio('1', 'trailing_win_rate') }} as coverage_needed,
    coverage >= {{ hub_ratio('1', 'trailing_win_rate') }} as is_covered,
    {{ hub_as_of_tz() }} as as_of
from rated
