{#- Per counted deal, the ISO weeks (Monday start) where rep_activity's open-deal count of its
    rep moves: +1 (opened) in its creation week, -1 (closed) in its close week once won or
    lost by as_of. Week unclamped (NULL for an undated creation): the mart folds earlier
    weeks into its first. Per deal and incremental on hub_changed_deal_rows, as int_deal_facts
    (everything here is a column of it); its pre-hook keeps the listed deals' rows as they
    were, so int_rep_open_weeks adds the difference (macro hub_group_sums). -#}
{{ config(
    enabled=(target.type == 'postgres'),
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ hub_stash_changed_deals('hub_changed_deal_rows') }}",
    meta={'hub_changed_list': 'hub_changed_deal_rows'},
) }}

with deals as (
    select deal_key, rep_key, created_at, closed_at, is_won, is_lost
    from {{ ref('int_deal_facts') }}
    where is_counted {{ hub_only_changed_deals('deal_key', 'hub_changed_deal_rows') }}
)

select deal_key, rep_key, {{ hub_period_start('week', 'created_at') }} as week_start, 1 as opened, 0 as closed
from deals
union all
select deal_key, rep_key, {{ hub_period_start('week', 'closed_at') }} as week_start, 0 as opened, 1 as closed
from deals
where is_won or is_lost
