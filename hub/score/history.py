"""What a deal is compared with at each instant, computed in numpy from the closed deals read
once (PostgreSQL's feature query).

The feature query compares a deal at T with the deals closed by T: the stage norms (the
median days of the open-stage spells those deals had left by T), the rep's and the
pipeline's median amounts, the rep's last-365-days record and the account's record. In SQL
each of these joins every closed deal (or spell) with every instant and sorts the result
per instant: at 1M deals and 17 monthly instants, tens of millions of rows sorted, most of
PostgreSQL's time in the fit. Here the closed deals and their spells are fetched once
(a few columns, by COPY), each comparison is a prefix of one sort per key, and the results
(a few rows per instant and key) go back into the query as ``values`` lists under the
names the query's own CTEs had.

The values are those of the SQL to the bit: counts are integers, and a median is
PostgreSQL's ``percentile_cont(0.5)``: the middle value, or with an even count
``lo + 0.5 * (hi - lo)`` in double precision (``float8_lerp`` in orderedsetaggs.c), the
same IEEE operations in numpy. Literals are written shortest-exact (``repr``) and parsed
back by ``float8in``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hub.score.columns import fetch_arrow, floats, micros

DAY_MICROS = 86_400_000_000


def _stamp(t: datetime) -> str:
    return f"cast('{t:%Y-%m-%d %H:%M:%S}' as timestamp)"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _real(value: float) -> str:
    return (
        "cast(null as double precision)"
        if np.isnan(value)
        else f"cast('{value!r}' as double precision)"
    )


def median(values: np.ndarray) -> float:
    """PostgreSQL's ``percentile_cont(0.5)`` of non-empty, NaN-free ``values``."""
    ordered = np.sort(values)
    n = len(ordered)
    lo, hi = float(ordered[(n - 1) // 2]), float(ordered[n // 2])
    return lo if n % 2 else lo + 0.5 * (hi - lo)


def _groups(keys: pa.ChunkedArray, at: np.ndarray) -> Iterable[tuple[str, np.ndarray]]:
    """(key, row indices ordered by ``at``) per non-null key."""
    valid = np.flatnonzero(keys.is_valid().to_numpy(zero_copy_only=False))
    if not len(valid):
        return
    present = keys.take(pa.array(valid))
    order = pc.sort_indices(
        pa.table({"k": present, "t": at[valid]}), [("k", "ascending"), ("t", "ascending")]
    )
    rows = valid[order.to_numpy()]
    ordered = present.take(order)
    changed = pc.not_equal(ordered[1:], ordered[:-1]).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(changed) + 1])
    ends = np.concatenate([starts[1:], [len(rows)]])
    names = ordered.take(pa.array(starts)).to_pylist()
    for name, start, end in zip(names, starts, ends, strict=True):
        yield name, rows[start:end]


def _values(name: str, columns: Sequence[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f"{name} as (select {empty} where false)"
    body = ",\n        ".join(rows)
    return f"{name} ({', '.join(columns)}) as (values\n        {body})"


def history_ctes(
    conn: sa.Connection,
    instants: Sequence[datetime],
    deals_sql: str,
    spells_sql: str,
    rep_window_days: int,
) -> str:
    """The CTEs ``norms``, ``rep_closed``, ``rep_amount``, ``pipeline_amount`` and
    ``company_closed`` as ``values`` lists, for ``instants`` (naive UTC, whole seconds).
    ``deals_sql`` and ``spells_sql`` are the query's ``deals`` and ``spells`` selects."""
    stamps = sorted(set(instants))
    at = np.array([np.datetime64(t, "us").astype(np.int64) for t in stamps])
    closed = fetch_arrow(
        conn,
        f"select rep_key, pipeline_key, company_key, amount_base, closed_at, status "
        f"from ({deals_sql}) d where status in ('won', 'lost') and closed_at is not null",
        {
            "rep_key": pa.string(),
            "pipeline_key": pa.string(),
            "company_key": pa.string(),
            "amount_base": pa.float64(),
            "closed_at": pa.timestamp("us"),
            "status": pa.string(),
        },
    )
    spells = fetch_arrow(
        conn,
        f"select sp.canonical_stage, sp.days, greatest(d.closed_at, sp.exited_at) as known_at "
        f"from ({deals_sql}) d inner join ({spells_sql}) sp on sp.deal_key = d.deal_key "
        f"where d.status in ('won', 'lost') and d.closed_at is not null "
        f"and sp.is_open_stage and sp.exited_at is not null",
        {"canonical_stage": pa.string(), "days": pa.float64(), "known_at": pa.timestamp("us")},
    )
    closed_at, _ = micros(closed.column("closed_at"))
    amount = floats(closed.column("amount_base"))
    won = pc.equal(closed.column("status"), "won").to_numpy(zero_copy_only=False).astype(np.int64)
    window = rep_window_days * DAY_MICROS

    norms: list[str] = []
    known_at, _ = micros(spells.column("known_at"))
    days = floats(spells.column("days"))
    for stage, rows in _groups(spells.column("canonical_stage"), known_at):
        ends = np.searchsorted(known_at[rows], at, side="right")
        for t, end in zip(stamps, ends, strict=True):
            if end:
                present = days[rows[:end]]
                present = present[~np.isnan(present)]
                value = median(present) if len(present) else float("nan")
                norms.append(f"({_stamp(t)}, {_text(stage)}, {_real(value)})")

    rep_closed: list[str] = []
    amounts = {"rep": [], "pipeline": []}  # type: dict[str, list[str]]
    for owner in ("rep", "pipeline"):
        for key, rows in _groups(closed.column(f"{owner}_key"), closed_at):
            times = closed_at[rows]
            ends = np.searchsorted(times, at, side="right")
            positive = amount[rows] > 0
            for t, t_us, end in zip(stamps, at, ends, strict=True):
                chosen = amount[rows[:end]][positive[:end]]
                if len(chosen):
                    amounts[owner].append(f"({_stamp(t)}, {_text(key)}, {_real(median(chosen))})")
                if owner == "rep":
                    start = np.searchsorted(times, t_us - window, side="right")
                    if end > start:
                        wins = int(won[rows[start:end]].sum())
                        rep_closed.append(f"({_stamp(t)}, {_text(key)}, {end - start}, {wins})")
    company: list[str] = []
    for key, rows in _groups(closed.column("company_key"), closed_at):
        ends = np.searchsorted(closed_at[rows], at, side="right")
        wins_before = np.concatenate([[0], np.cumsum(won[rows])])
        for t, end in zip(stamps, ends, strict=True):
            if end:
                w = int(wins_before[end])
                company.append(f"({_stamp(t)}, {_text(key)}, {w}, {int(end) - w})")

    stamp, text, real = (
        "cast(null as timestamp)",
        "cast(null as varchar)",
        "cast(null as double precision)",
    )
    count = "cast(null as bigint)"
    return ",\n".join(
        [
            _values(
                "norms",
                ("snap_at", "canonical_stage", "norm_days"),
                norms,
                f"{stamp} as snap_at, {text} as canonical_stage, {real} as norm_days",
            ),
            _values(
                "rep_closed",
                ("snap_at", "rep_key", "rep_closed", "rep_won"),
                rep_closed,
                f"{stamp} as snap_at, {text} as rep_key, {count} as rep_closed, {count} as rep_won",
            ),
            _values(
                "rep_amount",
                ("snap_at", "rep_key", "rep_median_amount"),
                amounts["rep"],
                f"{stamp} as snap_at, {text} as rep_key, {real} as rep_median_amount",
            ),
            _values(
                "pipeline_amount",
                ("snap_at", "pipeline_key", "pipeline_median_amount"),
                amounts["pipeline"],
                f"{stamp} as snap_at, {text} as pipeline_key, {real} as pipeline_median_amount",
            ),
            _values(
                "company_closed",
                ("snap_at", "company_key", "account_won", "account_lost"),
                company,
                f"{stamp} as snap_at, {text} as company_key, {count} as account_won, {count} as account_lost",
            ),
        ]
    )


__all__ = ["history_ctes", "median"]
