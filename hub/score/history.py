"""What a deal is compared with at each instant, computed in numpy from the closed deals read
once (PostgreSQL's feature query).

The feature query compares a deal at T with the deals closed by T: the stage norms (the
median days of the open-stage spells those deals had left by T), the rep's and the
pipeline's median amounts, the rep's last-365-days record and the account's record. In SQL
each of these joins every closed deal (or spell) with every instant and sorts the result
per instant: at 1M deals and 17 monthly instants, tens of millions of rows sorted, most of
PostgreSQL's time in the fit. Here the closed deals and their spells are fetched once
(a few columns, by COPY), each comparison is a prefix of one sort per key, and the results
(a row per instant and key) go back to the query by COPY into temp tables on the same
connection, read by CTEs under the names the query's own CTEs had. (Not as ``values``
lists in the query's text: at 100k accounts that text was 73 MB, the server 2.7 GB.)

The values are those of the SQL to the bit: counts are integers, and a median is
PostgreSQL's ``percentile_cont(0.5)``: the middle value, or with an even count
``lo + 0.5 * (hi - lo)`` in double precision (``float8_lerp`` in orderedsetaggs.c), the
same IEEE operations in numpy. Floats are written shortest-exact (``repr``) and parsed
back by ``float8in`` to the same bits.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hub.score.columns import fetch_arrow, floats, micros

DAY_MICROS = 86_400_000_000

# The comparison tables: name, then (column, PostgreSQL type) in the CTEs' order.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "norms": (
        ("snap_at", "timestamp"),
        ("canonical_stage", "varchar"),
        ("norm_days", "double precision"),
    ),
    "rep_closed": (
        ("snap_at", "timestamp"),
        ("rep_key", "varchar"),
        ("rep_closed", "bigint"),
        ("rep_won", "bigint"),
    ),
    "rep_amount": (
        ("snap_at", "timestamp"),
        ("rep_key", "varchar"),
        ("rep_median_amount", "double precision"),
    ),
    "pipeline_amount": (
        ("snap_at", "timestamp"),
        ("pipeline_key", "varchar"),
        ("pipeline_median_amount", "double precision"),
    ),
    "company_closed": (
        ("snap_at", "timestamp"),
        ("company_key", "varchar"),
        ("account_won", "bigint"),
        ("account_lost", "bigint"),
    ),
}
TEMP_PREFIX = "hub_score_"  # pg_temp.hub_score_<name>: this session's only

# COPY's text format: a backslash starts an escape, tab and newline end a field or a row.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """``value`` as one field of COPY's text format (so ``\\N`` stays text, not NULL)."""
    return value.translate(_COPY_ESCAPES)


def copy_real(value: float) -> str:
    """A float as COPY text: shortest-exact (``repr``), which ``float8in`` reads back to the
    same bits; NaN (no value) as NULL."""
    return "\\N" if np.isnan(value) else repr(float(value))


def _stamp(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"


def median(values: np.ndarray) -> float:
    """PostgreSQL's ``percentile_cont(0.5)`` of non-empty, NaN-free ``values``."""
    ordered = np.sort(values)
    n = len(ordered)
    lo, hi = float(ordered[(n - 1) // 2]), float(ordered[n // 2])
    return lo if n % 2 else lo + 0.5 * (hi - lo)


def _groups(keys: pa.ChunkedArray, at: np.ndarray) -> Iterable[tuple[str, np.ndarray]]:
    """(key, row indices ordered by ``at``) per non-null key. Sorted by the keys' dictionary
    codes, not their text: a stable numpy sort of two integer columns (sorting the strings
    was most of the comparisons' time at one instant, hub/score/bases.py)."""
    valid = np.flatnonzero(keys.is_valid().to_numpy(zero_copy_only=False))
    if not len(valid):
        return
    encoded = keys.take(pa.array(valid)).combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.lexsort((at[valid], codes))
    rows, ordered = valid[order], codes[order]
    starts = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
    ends = np.concatenate([starts[1:], [len(rows)]])
    names = encoded.dictionary.to_pylist()
    for code, start, end in zip(ordered[starts].tolist(), starts, ends, strict=True):
        yield names[code], rows[start:end]


CLOSED_COLUMNS: dict[str, pa.DataType] = {
    "rep_key": pa.string(),
    "pipeline_key": pa.string(),
    "company_key": pa.string(),
    "amount_base": pa.float64(),
    "closed_at": pa.timestamp("us"),
    "status": pa.string(),
}
SPELL_COLUMNS: dict[str, pa.DataType] = {
    "canonical_stage": pa.string(),
    "days": pa.float64(),
    "known_at": pa.timestamp("us"),
}


def closed_sql(deals_sql: str, where: str = "true") -> str:
    """The closed deals' columns the comparisons read (``where`` on the deal, ``d``)."""
    return (
        f"select {', '.join(CLOSED_COLUMNS)} from ({deals_sql}) d "
        f"where status in ('won', 'lost') and closed_at is not null and ({where})"
    )


def closed_spells_sql(deals_sql: str, spells_sql: str, where: str = "true") -> str:
    """The closed deals' left open-stage spells: stage, days and when the spell counts in a
    norm (``known_at``: the later of the deal's close and the spell's exit); ``where`` on
    the deal ``d`` and the spell ``sp``."""
    return (
        f"select sp.canonical_stage, sp.days, greatest(d.closed_at, sp.exited_at) as known_at "
        f"from ({deals_sql}) d inner join ({spells_sql}) sp on sp.deal_key = d.deal_key "
        f"where d.status in ('won', 'lost') and d.closed_at is not null "
        f"and sp.is_open_stage and sp.exited_at is not null and ({where})"
    )


def _comparisons(
    conn: sa.Connection,
    instants: Sequence[datetime],
    deals_sql: str,
    spells_sql: str,
    rep_window_days: int,
) -> dict[str, list[str]]:
    """Each comparison table's rows as lines of COPY text, for ``instants``."""
    closed = fetch_arrow(conn, closed_sql(deals_sql), CLOSED_COLUMNS)
    spells = fetch_arrow(conn, closed_spells_sql(deals_sql, spells_sql), SPELL_COLUMNS)
    return comparison_lines(closed, spells, instants, rep_window_days)


def comparison_lines(
    closed: pa.Table, spells: pa.Table, instants: Sequence[datetime], rep_window_days: int
) -> dict[str, list[str]]:
    """Each comparison table's rows as lines of COPY text, for ``instants``, from the closed
    deals (:data:`CLOSED_COLUMNS`) and their spells (:data:`SPELL_COLUMNS`); rows of either
    past an instant are left out at that instant, so any superset of what each instant reads
    gives the same lines."""
    stamps = sorted(set(instants))
    at = np.array([np.datetime64(t, "us").astype(np.int64) for t in stamps])
    shown = [_stamp(t) for t in stamps]
    closed_at, _ = micros(closed.column("closed_at"))
    amount = floats(closed.column("amount_base"))
    won = pc.equal(closed.column("status"), "won").to_numpy(zero_copy_only=False).astype(np.int64)
    window = rep_window_days * DAY_MICROS
    rows: dict[str, list[str]] = {name: [] for name in TABLES}

    known_at, _ = micros(spells.column("known_at"))
    days = floats(spells.column("days"))
    for stage, picked in _groups(spells.column("canonical_stage"), known_at):
        key = copy_text(stage)
        ends = np.searchsorted(known_at[picked], at, side="right")
        for t, end in zip(shown, ends, strict=True):
            if end:
                present = days[picked[:end]]
                present = present[~np.isnan(present)]
                value = median(present) if len(present) else float("nan")
                rows["norms"].append(f"{t}\t{key}\t{copy_real(value)}")

    for owner in ("rep", "pipeline"):
        for name, picked in _groups(closed.column(f"{owner}_key"), closed_at):
            key = copy_text(name)
            times = closed_at[picked]
            ends = np.searchsorted(times, at, side="right")
            positive = amount[picked] > 0
            for t, t_us, end in zip(shown, at, ends, strict=True):
                chosen = amount[picked[:end]][positive[:end]]
                if len(chosen):
                    rows[f"{owner}_amount"].append(f"{t}\t{key}\t{copy_real(median(chosen))}")
                if owner == "rep":
                    start = np.searchsorted(times, t_us - window, side="right")
                    if end > start:
                        wins = int(won[picked[start:end]].sum())
                        rows["rep_closed"].append(f"{t}\t{key}\t{end - start}\t{wins}")
    rows["company_closed"] = _account_records(
        closed.column("company_key"), closed_at, won, at, shown
    )
    return rows


def _account_records(
    keys: pa.ChunkedArray,
    closed_at: np.ndarray,
    won: np.ndarray,
    at: np.ndarray,
    shown: Sequence[str],
) -> list[str]:
    """``company_closed``'s COPY lines: per instant, each account's deals won and lost by
    then. Counted per instant over all accounts at once (a CRM may hold 200k accounts; a
    loop per account, as for the few reps, would cost seconds)."""
    valid = np.flatnonzero(keys.is_valid().to_numpy(zero_copy_only=False))
    encoded = keys.take(pa.array(valid)).combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    names = [copy_text(name) for name in encoded.dictionary.to_pylist()]
    times, wins = closed_at[valid], won[valid].astype(bool)
    lines: list[str] = []
    for t, t_us in zip(shown, at, strict=True):
        known = times <= t_us
        closed_count = np.bincount(codes[known], minlength=len(names))
        won_count = np.bincount(codes[known & wins], minlength=len(names))
        present = np.flatnonzero(closed_count)
        lines.extend(
            f"{t}\t{names[k]}\t{w}\t{n - w}"
            for k, n, w in zip(
                present.tolist(),
                closed_count[present].tolist(),
                won_count[present].tolist(),
                strict=True,
            )
        )
    return lines


def _fill(conn: sa.Connection, name: str, lines: list[str]) -> None:
    """A fresh temp table ``hub_score_<name>`` (typed as its CTE) holding ``lines``, analyzed:
    autovacuum never analyzes temp tables, and the planner sizes the joins by these counts."""
    relation = f"pg_temp.{TEMP_PREFIX}{name}"
    columns = ", ".join(f"{column} {kind}" for column, kind in TABLES[name])
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(f"drop table if exists {relation}; create temp table {relation} ({columns})")
        if lines:
            text = io.StringIO("\n".join(lines) + "\n")
            cursor.copy_expert(f"copy {relation} from stdin with (format text)", text)
        cursor.execute(f"analyze {relation}")


def _drop(conn: sa.Connection) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(
            "; ".join(f"drop table if exists pg_temp.{TEMP_PREFIX}{name}" for name in TABLES)
        )


@contextmanager
def history_tables(
    conn: sa.Connection,
    instants: Sequence[datetime],
    deals_sql: str,
    spells_sql: str,
    rep_window_days: int,
) -> Iterator[str]:
    """The CTEs ``norms``, ``rep_closed``, ``rep_amount``, ``pipeline_amount`` and
    ``company_closed`` for ``instants`` (naive UTC, whole seconds), each reading a temp
    table filled by COPY on ``conn``: the query's text stays a few KB however many accounts
    there are (as ``values`` lists it held a row per account and instant: hundreds of MB for
    a CRM with 200k accounts, every literal a node in PostgreSQL's parse tree). The tables
    are dropped when the block ends (a failed query's transaction drops them with it).
    ``deals_sql`` and ``spells_sql`` are the query's ``deals`` and ``spells`` selects."""
    lines = _comparisons(conn, instants, deals_sql, spells_sql, rep_window_days)
    with comparison_tables(conn, lines) as history:
        yield history


@contextmanager
def comparison_tables(conn: sa.Connection, lines: dict[str, list[str]]) -> Iterator[str]:
    """:func:`history_tables`' CTEs over temp tables holding ``lines``
    (:func:`comparison_lines`), for the block."""
    for name, rows in lines.items():
        _fill(conn, name, rows)
    yield ",\n".join(
        f"{name} as (select {', '.join(column for column, _ in columns)} "
        f"from pg_temp.{TEMP_PREFIX}{name})"
        for name, columns in TABLES.items()
    )
    _drop(conn)


__all__ = [
    "CLOSED_COLUMNS",
    "SPELL_COLUMNS",
    "TABLES",
    "closed_spells_sql",
    "closed_sql",
    "comparison_lines",
    "comparison_tables",
    "copy_real",
    "copy_text",
    "history_tables",
    "median",
]
