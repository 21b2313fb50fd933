"""DuckDB: which deals own a row appended since the kept per-deal snapshot, when nothing else
was written, so a changed part of the snapshot (:mod:`hub.warehouse.changes`) is read for
those deals only.

DuckDB stamps no row with the write that made it (PostgreSQL's ``xmin``,
:mod:`hub.warehouse.deal_versions`), and the rows dlt loads carry ``_dlt_load_id`` but the
CSV connector's (its Arrow loads, DuckDB's own merges, :mod:`connectors.csv.duck`) and the
stage observations do not, and an ``UPDATE`` in place stamps nothing anywhere. What DuckDB
has is ``rowid``: a row appended gets one above every row then in the table. It is not a
proof of anything (an update keeps it, a checkpoint after deletes may renumber), so it is
used only to pick the rows that *should* be the kept ones, and their content proves it:

With the snapshot this module keeps, per source table, its highest ``rowid`` and the row
count and sum of row hashes of all its rows (the hash of :mod:`hub.warehouse.row_hash`,
over every column). The next run counts and sums the rows at or below that ``rowid``. When
both equal the kept ones, those rows are the kept rows (up to a 64-bit hash collision, the
bar every sum in the incremental transform is held to), whatever happened to their
``rowid``s, so the table now is the kept table plus the rows above: nothing was deleted or
changed, and only the deals owning a row above (the *candidates*) can differ. When they
differ (an update, a delete, a table replaced) the part is read whole, as before.

The stage history and observations an hourly sync writes are appended; the deals file's
merge deletes and inserts the rows that changed, so ``deals`` is read whole.
``tests/test_deal_appends.py`` compares both ways for each kind of write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import column_types, row_hash

KEPT = f"{HUB_SCHEMA}.hub_deal_input_appends"
NEXT = f"{HUB_SCHEMA}.hub_deal_input_appends_next"


@dataclass(frozen=True)
class State:
    """A table's highest ``rowid`` (None when empty), rows and sum of row hashes, and a
    digest of its columns (the hash covers them)."""

    last: int | None
    rows: int
    sum: str
    columns: str


@dataclass(frozen=True)
class Now:
    """A table now (:class:`State`), and whether it is its kept state plus rows appended."""

    state: State
    appended_only: bool


def source_tables(
    conn: sa.Connection, sources: Iterable[str], names: Iterable[str]
) -> list[tuple[str, str]]:
    """Each source's tables of these names that exist."""
    return sorted(
        (f"src_{source}", name)
        for source in set(sources)
        for name in set(names)
        if has_table(conn, f"src_{source}", name)
    )


def kept(conn: sa.Connection) -> dict[str, State]:
    """The states kept with the snapshot (none before the first one this module kept)."""
    if not has_table(conn, HUB_SCHEMA, "hub_deal_input_appends"):
        return {}
    rows = conn.execute(sa.text(f"SELECT tbl, last_rowid, n, h, columns FROM {KEPT}")).tuples()
    return {
        str(t): State(None if last is None else int(last), int(n), str(h), str(c))
        for t, last, n, h, c in rows
    }


def current(
    conn: sa.Connection, tables: list[tuple[str, str]], before: Mapping[str, State]
) -> dict[str, Now]:
    """Each table's state now and whether it only grew since ``before``: one scan of each
    table, in one statement."""
    if not tables:
        return {}
    types = column_types(conn, tables)
    parts = [select(schema, table, types[(schema, table)], before) for schema, table in tables]
    rows = conn.execute(sa.text(" UNION ALL ".join(parts))).tuples()
    return {str(row[0]): judge(row, types, before) for row in rows}


def select(
    schema: str, table: str, columns: list[tuple[str, str]], before: Mapping[str, State]
) -> str:
    """SQL of one row for a table: its name, rows, sum of row hashes (as the transform's
    table sums compute them), highest ``rowid``, and the rows and sum at or below the kept
    highest ``rowid``."""
    name = f"{schema}.{table}"
    kept_state = before.get(name)
    last = -1 if kept_state is None or kept_state.last is None else int(kept_state.last)
    hashed = row_hash("duckdb", table, columns, "t")
    return (
        f"SELECT '{name}' AS name, count(*) AS n, sum(h) AS h, max(r) AS last, "
        f"count(*) FILTER (WHERE r <= {last}) AS kn, sum(h) FILTER (WHERE r <= {last}) AS kh "
        f"FROM (SELECT t.rowid AS r, {hashed} AS h FROM {schema}.{table} AS t) AS rows_"
    )


def judge(
    row: tuple[Any, ...],
    types: Mapping[tuple[str, str], list[tuple[str, str]]],
    before: Mapping[str, State],
) -> Now:
    """A table's :class:`Now` from its row of :func:`select`."""
    name, n, h, last, kn, kh = row[:6]
    schema, table = str(name).rsplit(".", 1)
    columns = _columns(types[(schema, table)])
    state = State(None if last is None else int(last), int(n), str(h), columns)
    kept_state = before.get(str(name))
    grown_only = (
        kept_state is not None
        and kept_state.columns == columns
        and int(kn) == kept_state.rows
        and str(kh) == kept_state.sum
    )
    return Now(state, grown_only)


def _columns(columns: list[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(columns).encode()).hexdigest()


def write_owners(
    conn: sa.Connection, name: str, before: Mapping[str, State], tables: Iterable[str]
) -> int:
    """A temporary table ``name`` of the deals owning a row above ``before``'s highest
    ``rowid`` in ``tables`` (schema.table, each grown only); returns how many rows it has."""
    selects, params = [], {}
    for i, table in enumerate(sorted(tables)):
        last = before[table].last
        params[f"m{i}"] = -1 if last is None else last
        selects.append(f"SELECT deal_key FROM {table} WHERE rowid > :m{i}")
    body = " UNION ".join(selects) or "SELECT CAST(NULL AS varchar) AS deal_key WHERE 1 = 0"
    conn.execute(sa.text(f"DROP TABLE IF EXISTS temp.main.{name}"))
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} AS {body}"), params)
    return int(conn.execute(sa.text(f"SELECT count(*) FROM temp.main.{name}")).scalar() or 0)


def write_next(conn: sa.Connection, now: Mapping[str, Now] | None) -> None:
    """The states the snapshot being written belongs to (kept with it by :func:`keep`);
    None: no states, and none left from an earlier run."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {NEXT}"))
    if now is None:
        return
    conn.execute(
        sa.text(
            f"CREATE TABLE {NEXT} (tbl varchar, last_rowid bigint, n bigint, h varchar, "
            "columns varchar)"
        )
    )
    rows = [
        {"t": t, "l": s.state.last, "n": s.state.rows, "h": s.state.sum, "c": s.state.columns}
        for t, s in now.items()
    ]
    if rows:
        conn.execute(sa.text(f"INSERT INTO {NEXT} VALUES (:t, :l, :n, :h, :c)"), rows)


def keep(conn: sa.Connection) -> None:
    """The snapshot was kept: so are its states. Without states for it (another warehouse,
    an older snapshot), none are kept: the next run reads changed parts whole."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {KEPT}"))
    if has_table(conn, HUB_SCHEMA, "hub_deal_input_appends_next"):
        conn.execute(sa.text(f"ALTER TABLE {NEXT} RENAME TO hub_deal_input_appends"))
