"""Point-in-time features: for deals open at instants T, only what the warehouse knew at T.

One SQL query (DuckDB and PostgreSQL alike, through sqlalchemy) over the dbt per-deal tables
in ``hub_staging`` (naive UTC timestamps): the deals, their stage spells, their activities.
Stage, dwell, backward moves and activities are cut at T. What a deal is compared with (the
stage norms, the rep's and the pipeline's median amounts, the rep's and the account's record)
comes from the deals closed by T only: a snapshot at T then never reads a deal still open
after T, so training rows do not move when today's open deals change (hub/score/prekey.py).
The deal's amount, rep, pipeline, account and dimensions are the values the CRM holds now:
the CRMs keep no history of them (docs/metrics.md, "Deal score").

Python turns the rows into a column table (:class:`FeatureTable`); the model reads that, so
a benchmark or a test can hand it rows built any other way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

STAGING = "hub_staging"
ACTIVITY_TYPES = ("call", "email", "meeting", "note", "task")
ACTIVITY_WINDOW_DAYS = 30
REP_WINDOW_DAYS = 365

# Numeric features the model reads (log1p where counts or days are skewed), and categoricals.
NUMERIC = (
    "stage_dwell_ratio",
    "earlier_dwell",
    "deal_age_days",
    "backward_moves",
    *(f"{kind}s_30d" for kind in ACTIVITY_TYPES),
    "activities_to_date",
    "days_since_activity",
    "rep_win_rate",
    "rep_closed",
    "amount_vs_rep",
    "amount_vs_pipeline",
    "account_won",
    "account_lost",
)
CATEGORICAL = ("canonical_stage", "source_name", "pipeline")
FACTS = ("days_in_stage", "norm_days", "idle_days", "rep_won")  # raw, for reasons


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


def snapshot_sql(instants: Sequence[datetime], labelled_by: datetime | None = None) -> str:
    """Every (deal, T) with the deal open at T in an open stage, and its raw facts at T.

    What a deal is compared with at T (stage norms, the rep's and the pipeline's median
    amounts, the rep's and the account's record) is read from the deals closed by T only, so
    a training row never depends on deals still open (or changed) after T. With
    ``labelled_by``, only deals closed by then are snapshotted (training and backtest rows)."""
    s = STAGING
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
    inner join deals d on d.created_at <= i.snap_at and (d.closed_at is null or d.closed_at > i.snap_at){labelled}
    inner join spells sp on sp.deal_key = d.deal_key and sp.is_open_stage
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
)
select sn.deal_key, sn.snap_at, sn.source_name, sn.crm, sn.source_deal_id, sn.pipeline_key,
    sn.rep_key, sn.canonical_stage, sn.spell_index, sn.stage_entered_at, sn.created_at,
    sn.closed_at, sn.status, sn.amount_base, norms.norm_days,
    coalesce(backs.backward_moves, 0) as backward_moves, earlier.earlier_dwell,
    {", ".join(f"coalesce(acts.{kind}s_30d, 0) as {kind}s_30d" for kind in ACTIVITY_TYPES)},
    coalesce(acts.activities_to_date, 0) as activities_to_date, acts.last_activity_at,
    coalesce(rep_closed.rep_closed, 0) as rep_closed, coalesce(rep_closed.rep_won, 0) as rep_won,
    rep_amount.rep_median_amount, pipeline_amount.pipeline_median_amount,
    coalesce(company_closed.account_won, 0) as account_won,
    coalesce(company_closed.account_lost, 0) as account_lost
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
    and company_closed.company_key = sn.company_key
order by sn.snap_at, sn.deal_key, sn.spell_index
"""


@dataclass
class FeatureTable:
    """One row per (deal, instant): identity, the features, and the outcome known today.

    ``won`` is the deal's final status as the warehouse holds it (``None`` while open);
    whoever trains or tests decides which closes it may see (``closed_at``)."""

    deal_key: list[str] = field(default_factory=list)
    at: list[datetime] = field(default_factory=list)
    closed_at: list[datetime | None] = field(default_factory=list)
    won: list[bool | None] = field(default_factory=list)
    ids: dict[str, list[Any]] = field(default_factory=dict)  # source_name, crm, source_deal_id
    # lists (None: missing) from the warehouse, or float64 arrays (NaN: missing) from Arrow
    numeric: dict[str, Any] = field(default_factory=dict)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, list[Any]] = field(default_factory=dict)  # raw values for the reasons

    def __len__(self) -> int:
        return len(self.deal_key)

    def take(self, rows: Sequence[int]) -> FeatureTable:
        pick = list(rows)
        index = np.asarray(pick, dtype=np.int64)

        def cut(columns: dict[str, Any]) -> dict[str, Any]:
            return {
                name: values[index] if isinstance(values, np.ndarray) else [values[i] for i in pick]
                for name, values in columns.items()
            }

        return FeatureTable(
            [self.deal_key[i] for i in pick],
            [self.at[i] for i in pick],
            [self.closed_at[i] for i in pick],
            [self.won[i] for i in pick],
            cut(self.ids),
            cut(self.numeric),
            cut(self.categorical),
            cut(self.facts),
        )

    def where(self, keep: Any) -> FeatureTable:
        return self.take([i for i in range(len(self)) if keep(i)])

    def to_arrow(self) -> pa.Table:
        """One column per field (numeric, categorical and fact columns by their names)."""
        columns = {
            "deal_key": self.deal_key,
            "at": self.at,
            "closed_at": self.closed_at,
            "won": self.won,
            **self.ids,
            **self.numeric,
            **self.categorical,
            **self.facts,
        }
        return pa.table(columns)

    @classmethod
    def from_arrow(cls, table: pa.Table, dimensions: Sequence[str] = ()) -> FeatureTable:
        """The inverse of :meth:`to_arrow`: how a benchmark or a recovery test hands the model
        rows it built itself (ids and facts may be left out; reasons then say less).

        Numeric columns become float64 arrays (missing: NaN) and each category's text is one
        shared string per level: a million rows then take a few hundred MB, not gigabytes."""
        n = table.num_rows
        blank: list[Any] = [None] * n

        def column(name: str) -> list[Any]:
            return table.column(name).to_pylist() if name in table.column_names else blank

        def floats(name: str) -> np.ndarray:
            values = table.column(name).cast(pa.float64()).fill_null(float("nan"))
            return values.to_numpy()

        def texts(name: str) -> list[str]:
            if name not in table.column_names:
                return [""] * n
            encoded = table.column(name).combine_chunks().dictionary_encode()
            levels = [v or "" for v in encoded.dictionary.to_pylist()]
            codes = encoded.indices.fill_null(-1).to_numpy()
            shared = np.array([*levels, ""], dtype=object)  # code -1 (null) -> ""
            return shared[codes].tolist()

        return cls(
            column("deal_key"),
            column("at"),
            column("closed_at"),
            column("won"),
            {k: column(k) for k in ("source_name", "crm", "source_deal_id")},
            {k: floats(k) for k in NUMERIC},
            {k: texts(k) for k in (*CATEGORICAL, *(f"dim_{d}" for d in dimensions))},
            {k: column(k) for k in FACTS},
        )


def _days(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max((later - earlier).total_seconds() / 86400.0, 0.0)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _log_ratio(value: float | None, median: float | None) -> float | None:
    if not value or not median or value <= 0 or median <= 0:
        return None
    return math.log(value / median)


def dimension_values(conn: sa.Connection, dimensions: Sequence[str]) -> dict[str, dict[str, str]]:
    """deal_key -> {dimension: value} from ``int_deal_dimensions`` (values as the CRM holds
    them now)."""
    if not dimensions:
        return {}
    rows = (
        conn.execute(
            sa.text(
                f"select deal_key, dimension, dimension_value from {STAGING}.int_deal_dimensions"
            )
        )
        .tuples()
        .all()
    )
    out: dict[str, dict[str, str]] = {}
    for deal_key, dimension, value in rows:
        if value is not None:
            out.setdefault(deal_key, {})[dimension] = str(value)
    return out


def read_features(
    conn: sa.Connection,
    instants: Sequence[datetime],
    dimensions: Sequence[str] = (),
    labelled_by: datetime | None = None,
) -> FeatureTable:
    """The feature table of every deal open at each instant (naive UTC datetimes inside);
    with ``labelled_by``, of the deals among them closed by then."""
    sql = snapshot_sql(instants, labelled_by)
    result = conn.execute(sa.text(sql)).mappings().all()
    dims = dimension_values(conn, dimensions)
    table = FeatureTable(
        ids={"source_name": [], "crm": [], "source_deal_id": []},
        numeric={name: [] for name in NUMERIC},
        categorical={name: [] for name in (*CATEGORICAL, *(f"dim_{d}" for d in dimensions))},
        facts={name: [] for name in FACTS},
    )
    seen: set[tuple[str, datetime]] = set()
    for row in reversed(result):  # the latest spell wins when two share an instant
        key = (row["deal_key"], row["snap_at"])
        if key in seen:
            continue
        seen.add(key)
        _append(table, row, dims.get(row["deal_key"], {}), dimensions)
    order = sorted(range(len(table)), key=lambda i: (table.at[i], table.deal_key[i]))
    return table.take(order)


def _append(table: FeatureTable, row: Any, dims: dict[str, str], dimensions: Sequence[str]) -> None:
    at = row["snap_at"]
    status = row["status"]
    table.deal_key.append(row["deal_key"])
    table.at.append(at)
    table.closed_at.append(row["closed_at"] if status in ("won", "lost") else None)
    table.won.append(status == "won" if status in ("won", "lost") else None)
    for name in ("source_name", "crm", "source_deal_id"):
        table.ids[name].append(row[name])
    days_in_stage = _days(at, row["stage_entered_at"]) or 0.0
    norm = row["norm_days"]
    norm = float(norm) if norm is not None else None
    last_touch = row["last_activity_at"] or row["created_at"]
    since = _days(at, last_touch)
    rep_closed = int(row["rep_closed"] or 0)
    amount = row["amount_base"]
    values: dict[str, float | None] = {
        "stage_dwell_ratio": math.log1p(days_in_stage / norm) if norm and norm > 0 else None,
        "earlier_dwell": _float(row["earlier_dwell"]),
        "deal_age_days": math.log1p(_days(at, row["created_at"]) or 0.0),
        "backward_moves": float(row["backward_moves"] or 0),
        **{f"{k}s_30d": math.log1p(float(row[f"{k}s_30d"] or 0)) for k in ACTIVITY_TYPES},
        "activities_to_date": math.log1p(float(row["activities_to_date"] or 0)),
        "days_since_activity": math.log1p(since) if since is not None else None,
        "rep_win_rate": (int(row["rep_won"] or 0) / rep_closed) if rep_closed else None,
        "rep_closed": math.log1p(rep_closed),
        "amount_vs_rep": _log_ratio(amount, row["rep_median_amount"]),
        "amount_vs_pipeline": _log_ratio(amount, row["pipeline_median_amount"]),
        "account_won": math.log1p(float(row["account_won"] or 0)),
        "account_lost": math.log1p(float(row["account_lost"] or 0)),
    }
    for name in NUMERIC:
        table.numeric[name].append(values[name])
    table.categorical["canonical_stage"].append(row["canonical_stage"] or "")
    table.categorical["source_name"].append(row["source_name"] or "")
    table.categorical["pipeline"].append(row["pipeline_key"] or "")
    for dim in dimensions:
        table.categorical[f"dim_{dim}"].append(dims.get(dim, ""))
    table.facts["days_in_stage"].append(days_in_stage)
    table.facts["norm_days"].append(norm)
    table.facts["idle_days"].append(since)
    table.facts["rep_won"].append(int(row["rep_won"] or 0))


__all__ = ["CATEGORICAL", "FACTS", "NUMERIC", "FeatureTable", "read_features", "snapshot_sql"]
