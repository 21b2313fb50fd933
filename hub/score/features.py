"""Point-in-time features: for deals open at instants T, only what the warehouse knew at T.

One SQL query (DuckDB and PostgreSQL alike, through sqlalchemy) over the dbt per-deal tables
in ``hub_staging`` (naive UTC timestamps): the deals, their stage spells, their activities.
Stage, dwell, backward moves and activities are cut at T. What a deal is compared with (the
stage norms, the rep's and the pipeline's median amounts, the rep's and the account's record)
comes from the deals closed by T only: a snapshot at T then never reads a deal still open
after T, so training rows do not move when today's open deals change (hub/score/prekey.py).
On PostgreSQL those comparisons are computed outside the query (hub/score/history.py) and
handed to it in temp tables: the same rows, without sorting every closed deal once per
instant. At one instant (the scoring of open deals) there is no such repetition: the query
computes them itself and reads the spells of the open deals only (``single``).
The deal's amount, rep, pipeline, account and dimensions are the values the CRM holds now:
the CRMs keep no history of them (docs/metrics.md, "Deal score").

The result is read as one Arrow table and turned into the model's columns
(:class:`FeatureTable`) column by column, with no Python per row beyond one float per value
and feature (Python's ``math``, so the values are those the row-by-row code gave, to the
bit). The model reads that table, so a benchmark or a test can hand it rows built any other
way.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hub.score.columns import days_between, exact, exact_where, fetch_arrow, floats, micros, texts
from hub.score.history import history_tables

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


def _median_amount(owner: str, history: str = "deals") -> str:
    """The median amount of the owner's deals closed by each instant (rep, pipeline)."""
    return f"""{owner}_amount as (
    select o.snap_at, o.{owner}_key,
        percentile_cont(0.5) within group (order by d.amount_base) as {owner}_median_amount
    from {owner}_at o
    inner join {history} d on d.{owner}_key = o.{owner}_key and {closed_by("d", "o.snap_at")}
        and d.amount_base > 0
    group by o.snap_at, o.{owner}_key
)"""


# The deals a score reads and their stage spells (figures as double precision).
DEALS = f"""
    select deal_key, source_name, crm, source_deal_id, pipeline_key, rep_key, company_key,
        cast(amount_base as double precision) as amount_base, created_at, closed_at, status
    from {STAGING}.int_deals_enriched
    where is_counted and not coalesce(is_deleted, false) and created_at is not null
"""
SPELLS = f"""
    select deal_key, spell_index, canonical_stage, is_open_stage, is_backward, entered_at,
        exited_at, cast(days as double precision) as days
    from {STAGING}.int_deal_stage_spells
"""


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
    history: str | None = None,
    single: bool = False,
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
    many times slower, so it gets the plain joins.

    ``history`` (PostgreSQL) replaces the comparisons' CTEs (``norms``, ``rep_closed``,
    ``rep_amount``, ``pipeline_amount``, ``company_closed``) with ones computed outside the
    query, by :func:`hub.score.history.history_tables`: the same rows.

    ``single`` (PostgreSQL, one instant: the scoring of open deals; with or without
    ``history``, hub/score/bases.py gives one) reads the deals open at
    T and the spells of those deals alone for the snapshots (a semi-join the planner pushes
    under the spells view, so its ``days`` are computed for their spells only, not for
    every spell as the CTE read three times was), likewise only their activities (it had
    sorted every activity for a merge join with the snapshots), and computes the
    comparisons in SQL, each one aggregate at the one instant (joining every closed deal
    with every instant is what the history tables avoid; with one instant there is no
    such repetition); the dwell comparison sums in spell order as :func:`_earlier_sql`
    does. The same rows, to the bit."""
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
    snap_spells, activities = "spells", f"{s}.stg_activities"
    if single:
        if len({naive_utc(t) for t in instants}) != 1:
            raise ValueError("single: exactly one instant")
        at = _timestamp(naive_utc(instants[0]))
        live_deals = "open_deals"
        live_spells = snap_spells = "open_spells"
        activities = (
            f"(select * from {s}.stg_activities where deal_key in "
            "(select deal_key from open_deals))"
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
    opened = ""
    if single:
        comparisons, owners = f"{_norms_only_sql()},\n{_earlier_sql(snap_spells)}", _owners_sql()
        if history is not None:
            comparisons, owners = f"{history},\n{_earlier_sql(snap_spells)}", ""
        opened = f"""
open_deals as (
    select * from deals where created_at <= {at} and (closed_at is null or closed_at > {at})
),
open_spells as (
    select * from ({SPELLS}) sp where sp.deal_key in (select deal_key from open_deals)
),"""
    elif history is None:
        comparisons, owners = _norms_sql(), _owners_sql()
    else:
        comparisons, owners = f"{history},\n{_earlier_sql()}", ""
    return f"""
with instants as ({_instants_sql(instants)}),
deals as ({DEALS}),
spells as ({SPELLS}),{opened}
snap as (
    select i.snap_at, d.*, sp.canonical_stage, sp.entered_at as stage_entered_at,
        sp.spell_index
    from instants i
    inner join {live_deals} d on d.created_at <= i.snap_at
        and (d.closed_at is null or d.closed_at > i.snap_at){labelled}
    inner join {live_spells} sp on sp.deal_key = d.deal_key and sp.is_open_stage
        and sp.entered_at <= i.snap_at and (sp.exited_at is null or sp.exited_at > i.snap_at)
),
{comparisons}acts as (
    select sn.deal_key, sn.snap_at,
{activity_counts},
        count(*) as activities_to_date, max(a.occurred_at) as last_activity_at
    from snap sn
    inner join {activities} a on a.deal_key = sn.deal_key and not a.is_deleted
        and a.occurred_at <= sn.snap_at
    group by sn.deal_key, sn.snap_at
){owners}{dims_cte}
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


def _norms_sql() -> str:
    """The stage norms at each instant (the median days of the open-stage spells that closed
    deals had left by then), the backward moves, and each snapshot's dwell in its earlier
    stages against those norms: joined straight from the deals and spells."""
    return f"""{_norms_only_sql()},
{_backs_sql()},
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
"""


def _norms_only_sql() -> str:
    return f"""norms as (
    select i.snap_at, sp.canonical_stage,
        percentile_cont(0.5) within group (order by sp.days) as norm_days
    from instants i
    inner join deals d on {closed_by("d", "i.snap_at")}
    inner join spells sp on sp.deal_key = d.deal_key and sp.is_open_stage
        and sp.exited_at <= i.snap_at
    group by i.snap_at, sp.canonical_stage
)"""


def _earlier_sql(spells: str = "spells") -> str:
    """PostgreSQL's order for the dwell comparison: every snapshot row's earlier spells
    first (a materialized CTE its planner cannot reorder), then the few norms rows joined
    to them by (instant, stage); left to itself it joined the snapshots with the norms
    first, millions of rows, and sorted them. The mean adds the spells in their order, so
    its last bit does not depend on the plan (the joins' order used to set it)."""
    return f"""{_backs_sql(spells)},
earlier_spells as materialized (
    select sn.deal_key, sn.snap_at, sp.spell_index, sp.canonical_stage, sp.days
    from snap sn
    inner join {spells} sp on sp.deal_key = sn.deal_key and sp.is_open_stage
        and sp.exited_at <= sn.snap_at
),
earlier as (
    select es.deal_key, es.snap_at,
        avg(ln(greatest(es.days, 0.01) / nm.norm_days) order by es.spell_index)
            as earlier_dwell
    from earlier_spells es
    inner join norms nm on nm.snap_at = es.snap_at and nm.canonical_stage = es.canonical_stage
        and nm.norm_days > 0
    group by es.deal_key, es.snap_at
),
"""


def _owners_sql() -> str:
    """The rep's record and median amount, the pipeline's median amount and the account's
    record at each instant, for the keys the snapshots hold, joined from the deals."""
    return f""",
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
)"""


def _backs_sql(spells: str = "spells") -> str:
    return f"""backs as (
    select sn.deal_key, sn.snap_at, count(*) as backward_moves
    from snap sn
    inner join {spells} sp on sp.deal_key = sn.deal_key and sp.is_backward
        and sp.entered_at <= sn.snap_at
    group by sn.deal_key, sn.snap_at
)"""


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
    facts: dict[str, Any] = field(default_factory=dict)  # raw values for reasons: lists, arrays

    def __len__(self) -> int:
        return len(self.deal_key)

    def take(self, rows: Sequence[int]) -> FeatureTable:
        pick = list(rows)
        index = np.asarray(pick, dtype=np.int64)

        def items(values: Sequence[Any]) -> list[Any]:
            if len(pick) < 2:  # itemgetter of one index returns the item, not a tuple
                return [values[i] for i in pick]
            return list(itemgetter(*pick)(values))

        def cut(columns: dict[str, Any]) -> dict[str, Any]:
            return {
                name: values[index] if isinstance(values, np.ndarray) else items(values)
                for name, values in columns.items()
            }

        return FeatureTable(
            items(self.deal_key),
            items(self.at),
            items(self.closed_at),
            items(self.won),
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

        def text_column(name: str) -> list[str]:
            return texts(table.column(name)) if name in table.column_names else [""] * n

        return cls(
            column("deal_key"),
            column("at"),
            column("closed_at"),
            column("won"),
            {k: column(k) for k in ("source_name", "crm", "source_deal_id")},
            {k: floats(table.column(k)) for k in NUMERIC},
            {k: text_column(k) for k in (*CATEGORICAL, *(f"dim_{d}" for d in dimensions))},
            {k: column(k) for k in FACTS},
        )


def _snapshot_schema(dimensions: Sequence[str]) -> dict[str, pa.DataType]:
    """The columns :func:`snapshot_sql` returns, typed."""
    text, stamp, real, count = pa.string(), pa.timestamp("us"), pa.float64(), pa.int64()
    schema: dict[str, pa.DataType] = {
        **dict.fromkeys(("deal_key", "source_name", "crm", "source_deal_id"), text),
        "snap_at": stamp,
        **dict.fromkeys(("pipeline_key", "canonical_stage", "status"), text),
        "spell_index": count,
        **dict.fromkeys(("stage_entered_at", "created_at", "closed_at"), stamp),
        **dict.fromkeys(("amount_base", "norm_days", "earlier_dwell"), real),
        "backward_moves": count,
        **{f"{kind}s_30d": count for kind in ACTIVITY_TYPES},
        "activities_to_date": count,
        "last_activity_at": stamp,
        **dict.fromkeys(("rep_closed", "rep_won"), count),
        **dict.fromkeys(("rep_median_amount", "pipeline_median_amount"), real),
        **dict.fromkeys(("account_won", "account_lost"), count),
    }
    schema.update({f"dim_{k}": text for k in range(len(dimensions))})
    return schema


@contextmanager
def feature_query(
    conn: sa.Connection,
    instants: Sequence[datetime],
    dimensions: Sequence[str] = (),
    labelled_by: datetime | None = None,
) -> Iterator[str]:
    """The text of the feature query (:func:`snapshot_sql`) as :func:`read_features` sends
    it on ``conn``, valid inside the block: on PostgreSQL, for several instants, it reads
    the comparison tables :func:`hub.score.history.history_tables` fills on ``conn`` for
    the block; for one it is :func:`snapshot_sql`'s ``single`` text, with no tables."""
    if conn.dialect.name != "postgresql":
        yield snapshot_sql(instants, labelled_by, dimensions, narrow=conn.dialect.name == "duckdb")
        return
    stamps = [naive_utc(t) for t in instants]
    if len(set(stamps)) == 1:
        yield snapshot_sql(stamps, labelled_by, dimensions, single=True)
        return
    with history_tables(conn, stamps, DEALS, SPELLS, REP_WINDOW_DAYS) as history:
        yield snapshot_sql(instants, labelled_by, dimensions, history=history)


def read_features(
    conn: sa.Connection,
    instants: Sequence[datetime],
    dimensions: Sequence[str] = (),
    labelled_by: datetime | None = None,
) -> FeatureTable:
    """The feature table of every deal open at each instant (naive UTC datetimes inside);
    with ``labelled_by``, of the deals among them closed by then. Ordered by instant, then
    deal key (code point order, whatever the warehouse's collation)."""
    with feature_query(conn, instants, dimensions, labelled_by) as sql:
        rows = fetch_arrow(conn, sql, _snapshot_schema(dimensions))
    return feature_table(latest_spell(rows), dimensions)


def read_open_features(
    conn: sa.Connection, as_of: datetime, dimensions: Sequence[str], history: str
) -> FeatureTable:
    """``read_features(conn, [as_of], dimensions)`` on PostgreSQL with the comparisons read
    from ``history``'s CTEs (hub/score/bases.py fills them) instead of computed by the
    query: the same rows when ``history`` holds the comparisons at ``as_of``."""
    at = naive_utc(as_of)
    sql = snapshot_sql([at], None, dimensions, history=history, single=True)
    rows = fetch_arrow(conn, sql, _snapshot_schema(dimensions))
    return feature_table(latest_spell(rows), dimensions)


def latest_spell(rows: pa.Table) -> pa.Table:
    """One row per (instant, deal): the latest spell where two share an instant, sorted by
    instant and deal key."""
    order = pc.sort_indices(
        rows,
        sort_keys=[
            ("snap_at", "ascending"),
            ("deal_key", "ascending"),
            ("spell_index", "descending"),
        ],
    )
    rows = rows.take(order)
    if rows.num_rows < 2:
        return rows
    at, key = rows.column("snap_at"), rows.column("deal_key")
    later, earlier = slice(1, None), slice(0, rows.num_rows - 1)
    changed = pc.or_(pc.not_equal(at[later], at[earlier]), pc.not_equal(key[later], key[earlier]))
    first = np.concatenate([[True], changed.to_numpy(zero_copy_only=False)])
    return rows.filter(pa.array(first))


def feature_table(rows: pa.Table, dimensions: Sequence[str]) -> FeatureTable:
    """The model's columns from the snapshot rows, computed column by column: the same
    values (to the bit) the feature definitions in docs/metrics.md give one deal at a time."""
    at, _ = micros(rows.column("snap_at"))
    entered, no_stage = micros(rows.column("stage_entered_at"))
    created, no_created = micros(rows.column("created_at"))
    last_activity, no_activity = micros(rows.column("last_activity_at"))
    days_in_stage = days_between(at, entered, no_stage)
    days_in_stage[np.isnan(days_in_stage)] = 0.0
    norm = floats(rows.column("norm_days"))
    # the last touch is the latest activity, else the creation
    touched = np.where(no_activity, created, last_activity)
    since = days_between(at, touched, no_activity & no_created)
    age = days_between(at, created, no_created)
    age[np.isnan(age)] = 0.0
    rep_closed = floats(rows.column("rep_closed"))
    rep_won = floats(rows.column("rep_won"))
    amount = floats(rows.column("amount_base"))

    def counted(name: str) -> np.ndarray:
        return exact(math.log1p, floats(rows.column(name)))

    def versus(median_column: str) -> np.ndarray:
        median = floats(rows.column(median_column))
        valid = (amount > 0) & (median > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return exact_where(math.log, amount / median, valid)

    with np.errstate(invalid="ignore", divide="ignore"):
        dwell = days_in_stage / norm
        win_rate = np.where(rep_closed > 0, rep_won / rep_closed, np.nan)
    numeric: dict[str, np.ndarray] = {
        "stage_dwell_ratio": exact_where(math.log1p, dwell, norm > 0),
        "earlier_dwell": floats(rows.column("earlier_dwell")),
        "deal_age_days": exact(math.log1p, age),
        "backward_moves": floats(rows.column("backward_moves")),
        **{f"{kind}s_30d": counted(f"{kind}s_30d") for kind in ACTIVITY_TYPES},
        "activities_to_date": counted("activities_to_date"),
        "days_since_activity": exact(math.log1p, since),
        "rep_win_rate": win_rate,
        "rep_closed": exact(math.log1p, rep_closed),
        "amount_vs_rep": versus("rep_median_amount"),
        "amount_vs_pipeline": versus("pipeline_median_amount"),
        "account_won": counted("account_won"),
        "account_lost": counted("account_lost"),
    }
    status = rows.column("status")
    closed = pc.is_in(status, pa.array(["won", "lost"]))
    won = pc.if_else(closed, pc.equal(status, "won"), pa.scalar(None, pa.bool_()))
    categorical = {
        "canonical_stage": texts(rows.column("canonical_stage")),
        "source_name": texts(rows.column("source_name")),
        "pipeline": texts(rows.column("pipeline_key")),
        **{f"dim_{d}": texts(rows.column(f"dim_{k}")) for k, d in enumerate(dimensions)},
    }
    return FeatureTable(
        rows.column("deal_key").to_pylist(),
        rows.column("snap_at").to_pylist(),
        pc.if_else(
            closed, rows.column("closed_at"), pa.scalar(None, pa.timestamp("us"))
        ).to_pylist(),
        won.to_pylist(),
        {name: rows.column(name).to_pylist() for name in ("source_name", "crm", "source_deal_id")},
        {name: numeric[name] for name in NUMERIC},
        categorical,
        {
            "days_in_stage": days_in_stage,
            "norm_days": norm,
            "idle_days": since,
            "rep_won": rows.column("rep_won").to_numpy(),
        },
    )


__all__ = [
    "CATEGORICAL",
    "FACTS",
    "NUMERIC",
    "FeatureTable",
    "feature_query",
    "feature_table",
    "read_features",
    "read_open_features",
    "snapshot_sql",
]
