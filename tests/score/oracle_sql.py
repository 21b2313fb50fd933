"""The feature query as it was before PostgreSQL got its own plan (main at 0d4c05d), kept
verbatim as an oracle: hub.score.features may rewrite its SQL (norms computed once, spells
joined once per deal, ...) but every row it returns must equal what this text returned.

Only the text is kept; how the rows are turned into features is tests/score/rowpath.py's.
The ``narrow`` branch is DuckDB's prefilter of that time (the rows are the same either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

STAGING = "hub_staging"
ACTIVITY_TYPES = ("call", "email", "meeting", "note", "task")
ACTIVITY_WINDOW_DAYS = 30
REP_WINDOW_DAYS = 365


def naive_utc(value: datetime) -> datetime:
    """UTC without tzinfo, to the whole second (as dbt's as_of and the instants' SQL)."""
    plain = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return plain.replace(microsecond=0)


def _timestamp(t: datetime) -> str:
    return f"cast('{t:%Y-%m-%d %H:%M:%S}' as timestamp)"


def _instants_sql(instants: Sequence[datetime]) -> str:
    stamps = sorted({naive_utc(t) for t in instants})
    if not stamps:
        raise ValueError("at least one instant is needed")
    return " union all ".join(f"select {_timestamp(t)} as snap_at" for t in stamps)


def closed_by(deal: str, instant: str) -> str:
    """The history a deal is compared with at an instant: deals won or lost by then."""
    return f"{deal}.status in ('won', 'lost') and {deal}.closed_at <= {instant}"


def _keys_at(owner: str) -> str:
    """The (instant, key) pairs of one owner column (rep, pipeline, company) in the snapshots."""
    return (
        f"{owner}_at as (select distinct snap_at, {owner}_key from snap "
        f"where {owner}_key is not null)"
    )


def _median_amount(owner: str) -> str:
    """The median amount of the owner's deals closed by each instant (rep, pipeline)."""
    return f"""{owner}_amount as (
    select o.snap_at, o.{owner}_key,
        percentile_cont(0.5) within group (order by d.amount_base) as {owner}_median_amount
    from {owner}_at o
    inner join deals d on d.{owner}_key = o.{owner}_key and {closed_by("d", "o.snap_at")}
        and d.amount_base > 0
    group by o.snap_at, o.{owner}_key
)"""


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _dimensions_sql(dimensions: Sequence[str]) -> tuple[str, str, str]:
    """(CTE, select list, join) adding one text column per dimension, ``dim_0``, ``dim_1``,
    ... in the order given: the deal's value in ``int_deal_dimensions`` (as the CRM holds it
    now), null where it has none."""
    if not dimensions:
        return "", "", ""
    pivots = ",\n        ".join(
        f"max(case when dimension = {_text(name)} then cast(dimension_value as varchar) end)"
        f" as dim_{k}"
        for k, name in enumerate(dimensions)
    )
    cte = f""",
dims as (
    select deal_key,
        {pivots}
    from {STAGING}.int_deal_dimensions
    where deal_key in (select deal_key from snap)
    group by deal_key
)"""
    columns = "".join(f", dims.dim_{k}" for k in range(len(dimensions)))
    return cte, columns, "\nleft join dims on dims.deal_key = sn.deal_key"


def snapshot_sql(
    instants: Sequence[datetime],
    labelled_by: datetime | None = None,
    dimensions: Sequence[str] = (),
    *,
    narrow: bool = False,
) -> str:
    """Every (deal, T) with the deal open at T in an open stage, and its raw facts at T, one
    row per open stage spell then (:func:`read_features` keeps the latest), in no order.

    What a deal is compared with at T (stage norms, the rep's and the pipeline's median
    amounts, the rep's and the account's record) is read from the deals closed by T only, so
    a training row never depends on deals still open (or changed) after T. With
    ``labelled_by``, only deals closed by then are snapshotted (training and backtest rows).
    Counts come out as bigint and figures as double precision on every warehouse.

    ``narrow`` first keeps only the deals and spells open somewhere in [first instant, last
    instant] (implied by the joins' own conditions, so the rows are the same): DuckDB then
    skips the others at the scan instead of joining them all with every instant (a quarter
    of the query's work at 1M deals); PostgreSQL's planner turned the same text into a plan
    many times slower, so it gets the plain joins."""
    s = STAGING
    dims_cte, dims_columns, dims_join = _dimensions_sql(dimensions)
    live_deals, live_spells = "deals", "spells"
    if narrow and instants:
        stamps = [naive_utc(t) for t in instants]
        first, last = _timestamp(min(stamps)), _timestamp(max(stamps))
        live_deals = (
            f"(select * from deals where created_at <= {last} "
            f"and (closed_at is null or closed_at > {first}))"
        )
        live_spells = (
            f"(select * from spells where is_open_stage and entered_at <= {last} "
            f"and (exited_at is null or exited_at > {first}))"
        )
    activity_counts = ",\n".join(
        f"        sum(case when a.activity_type = '{kind}' and a.occurred_at > sn.snap_at - "
        f"interval '{ACTIVITY_WINDOW_DAYS} days' then 1 else 0 end) as {kind}s_30d"
        for kind in ACTIVITY_TYPES
    )
    labelled = (
        f"\n        and {closed_by('d', _timestamp(naive_utc(labelled_by)))}"
        if labelled_by is not None
        else ""
    )
    return f"""
with instants as ({_instants_sql(instants)}),
deals as (
    select deal_key, source_name, crm, source_deal_id, pipeline_key, rep_key, company_key,
        cast(amount_base as double precision) as amount_base, created_at, closed_at, status
    from {s}.int_deals_enriched
    where is_counted and not coalesce(is_deleted, false) and created_at is not null
),
spells as (
    select deal_key, spell_index, canonical_stage, is_open_stage, is_backward, entered_at,
        exited_at, cast(days as double precision) as days
    from {s}.int_deal_stage_spells
),
snap as (
    select i.snap_at, d.*, sp.canonical_stage, sp.entered_at as stage_entered_at,
        sp.spell_index
    from instants i
    inner join {live_deals} d on d.created_at <= i.snap_at
        and (d.closed_at is null or d.closed_at > i.snap_at){labelled}
    inner join {live_spells} sp on sp.deal_key = d.deal_key and sp.is_open_stage
        and sp.entered_at <= i.snap_at and (sp.exited_at is null or sp.exited_at > i.snap_at)
),
norms as (
    select i.snap_at, sp.canonical_stage,
        percentile_cont(0.5) within group (order by sp.days) as norm_days
    from instants i
    inner join deals d on {closed_by("d", "i.snap_at")}
    inner join spells sp on sp.deal_key = d.deal_key and sp.is_open_stage
        and sp.exited_at <= i.snap_at
    group by i.snap_at, sp.canonical_stage
),
backs as (
    select sn.deal_key, sn.snap_at, count(*) as backward_moves
    from snap sn
    inner join spells sp on sp.deal_key = sn.deal_key and sp.is_backward
        and sp.entered_at <= sn.snap_at
    group by sn.deal_key, sn.snap_at
),
earlier as (
    select sn.deal_key, sn.snap_at,
        avg(ln(greatest(sp.days, 0.01) / nm.norm_days)) as earlier_dwell
    from snap sn
    inner join spells sp on sp.deal_key = sn.deal_key and sp.is_open_stage
        and sp.exited_at <= sn.snap_at
    inner join norms nm on nm.snap_at = sn.snap_at and nm.canonical_stage = sp.canonical_stage
        and nm.norm_days > 0
    group by sn.deal_key, sn.snap_at
),
acts as (
    select sn.deal_key, sn.snap_at,
{activity_counts},
        count(*) as activities_to_date, max(a.occurred_at) as last_activity_at
    from snap sn
    inner join {s}.stg_activities a on a.deal_key = sn.deal_key and not a.is_deleted
        and a.occurred_at <= sn.snap_at
    group by sn.deal_key, sn.snap_at
),
{_keys_at("rep")},
rep_closed as (
    select r.snap_at, r.rep_key, count(*) as rep_closed,
        sum(case when d.status = 'won' then 1 else 0 end) as rep_won
    from rep_at r
    inner join deals d on d.rep_key = r.rep_key and {closed_by("d", "r.snap_at")}
        and d.closed_at > r.snap_at - interval '{REP_WINDOW_DAYS} days'
    group by r.snap_at, r.rep_key
),
{_median_amount("rep")},
{_keys_at("pipeline")},
{_median_amount("pipeline")},
{_keys_at("company")},
company_closed as (
    select c.snap_at, c.company_key,
        sum(case when d.status = 'won' then 1 else 0 end) as account_won,
        sum(case when d.status = 'lost' then 1 else 0 end) as account_lost
    from company_at c
    inner join deals d on d.company_key = c.company_key and {closed_by("d", "c.snap_at")}
    group by c.snap_at, c.company_key
){dims_cte}
select sn.deal_key, sn.snap_at, sn.source_name, sn.crm, sn.source_deal_id, sn.pipeline_key,
    sn.canonical_stage, sn.spell_index, sn.stage_entered_at, sn.created_at, sn.closed_at,
    sn.status, sn.amount_base, cast(norms.norm_days as double precision) as norm_days,
    cast(coalesce(backs.backward_moves, 0) as bigint) as backward_moves,
    cast(earlier.earlier_dwell as double precision) as earlier_dwell,
    {", ".join(f"cast(coalesce(acts.{k}s_30d, 0) as bigint) as {k}s_30d" for k in ACTIVITY_TYPES)},
    cast(coalesce(acts.activities_to_date, 0) as bigint) as activities_to_date,
    acts.last_activity_at,
    cast(coalesce(rep_closed.rep_closed, 0) as bigint) as rep_closed,
    cast(coalesce(rep_closed.rep_won, 0) as bigint) as rep_won,
    cast(rep_amount.rep_median_amount as double precision) as rep_median_amount,
    cast(pipeline_amount.pipeline_median_amount as double precision) as pipeline_median_amount,
    cast(coalesce(company_closed.account_won, 0) as bigint) as account_won,
    cast(coalesce(company_closed.account_lost, 0) as bigint) as account_lost{dims_columns}
from snap sn
left join norms on norms.snap_at = sn.snap_at and norms.canonical_stage = sn.canonical_stage
left join backs on backs.deal_key = sn.deal_key and backs.snap_at = sn.snap_at
left join earlier on earlier.deal_key = sn.deal_key and earlier.snap_at = sn.snap_at
left join acts on acts.deal_key = sn.deal_key and acts.snap_at = sn.snap_at
left join rep_closed on rep_closed.snap_at = sn.snap_at and rep_closed.rep_key = sn.rep_key
left join rep_amount on rep_amount.snap_at = sn.snap_at and rep_amount.rep_key = sn.rep_key
left join pipeline_amount on pipeline_amount.snap_at = sn.snap_at
    and pipeline_amount.pipeline_key = sn.pipeline_key
left join company_closed on company_closed.snap_at = sn.snap_at
    and company_closed.company_key = sn.company_key{dims_join}
"""
