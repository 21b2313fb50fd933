{#- Per week of deal creation (Monday start) and rep (and all reps, '*'): deals created, deals
    measured (lead_response_time.response_measured), deals answered, median response hours,
    and the share answered within var response_sla_hours among measured deals whose outcome is
    decided (answered, or the SLA window has passed); NULL, never 0, when none is. -#}
select
    created_week as week_start,
    {{ hub_rollup('rep_key') }} as rep_key,
    count(*) as deals_created,
    sum(case when response_measured then 1 else 0 end) as deals_measured,
    sum(case when has_response then 1 else 0 end) as deals_responded,
    {{ hub_percentile('response_hours', 0.5) }} as median_response_hours,
    sum(case when within_sla is not null then 1 else 0 end) as deals_sla_decided,
    sum(case when within_sla then 1 else 0 end) as deals_within_sla,
    {{ hub_ratio('sum(case when within_sla then 1 else 0 end)', 'sum(case when within_sla is not null then 1 else 0 end)') }} as share_within_sla,
    max(sla_hours) as sla_hours,
    {{ hub_as_of_tz() }} as as_of
from {{ ref('lead_response_time') }}
group by grouping sets ((created_week, rep_key), (created_week))
