"""PostgreSQL: a source table's sum of row hashes, kept while its row versions stay the same.

The transform's check of what dbt reads, and resolution's of what it reads, sum a hash of
every row of every source table (:func:`hub.incremental.table_sums`) on every run: seconds of
the server's CPU at a million deals, for tables most syncs do not touch. PostgreSQL never
changes a stored row: an insert or update writes a new row version stamped with its
transaction's id (``xmin``), a delete removes one. A transaction id is never given twice
(until the counter wraps around after 2^32 transactions), and a query sees only the rows of
committed transactions, whose ids no later write can carry. So any write (insert, update,
delete, a table emptied and filled again) changes the table's count of rows per ``xmin``,
and the same counts (and the same columns: adding one rewrites no row) mean the same rows.
Counting rows per ``xmin`` reads no column.

So each table's sum is kept in ``hub_meta.hub_table_sums`` under that count (its *versions*),
and computed again only for a table whose versions changed, in one statement that also
reads the versions its sum belongs to (one snapshot: a write committed meanwhile cannot pair
one table state's versions with another's sum). The sums stay the content's: a table written
with the values it had (a replaced table, a re-read deal's links) keeps its sum, and the
transform is skipped as before.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import sqlalchemy as sa

from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import row_hash

CACHE = f"{HUB_SCHEMA}.hub_table_sums"
Types = dict[tuple[str, str], list[tuple[str, str]]]
Counts = dict[str, dict[str, int]]  # schema.table -> xmin (as text) -> rows


def table_sums(
    conn: sa.Connection,
    tables: list[tuple[str, str]],
    types: Types,
    counts_out: Counts | None = None,
) -> list[tuple[str, int, str]]:
    """(schema.table, row count, sum of row hashes) of each table, from the kept sums where
    the table's versions are those they were computed at. ``counts_out`` receives each
    table's rows per ``xmin`` (:mod:`hub.warehouse.deal_versions` reads them)."""
    if not tables:
        return []
    now = _versions(conn, tables, types, counts_out)
    kept = _kept(conn)
    out = [(name, n, h) for name, (version, n, h) in kept.items() if now.get(name) == version]
    known = {name for name, _, _ in out}
    missing = [t for t in tables if f"{t[0]}.{t[1]}" not in known]
    if missing:
        fresh = _sums_with_versions(conn, missing, types)
        _keep(conn, fresh)
        out += [(name, n, h) for name, (_, n, h) in fresh.items()]
    return sorted(out)


def _digest(columns: list[tuple[str, str]], counts: list[tuple[str, int]]) -> str:
    return hashlib.sha256(repr([columns, sorted(counts)]).encode()).hexdigest()


def version_counts(conn: sa.Connection, tables: list[tuple[str, str]]) -> Counts:
    """Each table's rows per ``xmin``, in one statement (reads no column)."""
    if not tables:
        return {}
    parts = [
        f"SELECT '{schema}.{table}' AS name, xmin::text AS version, count(*) AS n "
        f"FROM {schema}.{table} GROUP BY xmin"
        for schema, table in sorted(tables)
    ]
    counts: Counts = {f"{s}.{t}": {} for s, t in tables}
    for name, version, n in conn.execute(sa.text(" UNION ALL ".join(parts))).tuples():
        counts[str(name)][str(version)] = int(n)
    return counts


def _versions(
    conn: sa.Connection, tables: list[tuple[str, str]], types: Types, counts_out: Counts | None
) -> dict[str, str]:
    counts = version_counts(conn, tables)
    if counts_out is not None:
        counts_out.update(counts)
    return {f"{s}.{t}": _digest(types[(s, t)], list(counts[f"{s}.{t}"].items())) for s, t in tables}


def _sums_with_versions(
    conn: sa.Connection, tables: list[tuple[str, str]], types: Types
) -> dict[str, tuple[str, int, str]]:
    """name -> (versions, row count, sum of row hashes), all from one statement."""
    parts = [
        f"SELECT '{schema}.{table}' AS name, xmin::text AS version, count(*) AS n, "
        f"sum({row_hash('postgresql', table, types[(schema, table)], 't')}) AS h "
        f"FROM {schema}.{table} AS t GROUP BY xmin"
        for schema, table in sorted(tables)
    ]
    counts: dict[str, list[tuple[str, int]]] = defaultdict(list)
    sums: dict[str, int] = defaultdict(int)
    for name, version, n, h in conn.execute(sa.text(" UNION ALL ".join(parts))).tuples():
        counts[name].append((str(version), int(n)))
        sums[name] += int(h)
    out = {}
    for schema, table in tables:
        name = f"{schema}.{table}"
        rows = sum(n for _, n in counts[name])
        # as the whole-table sum reads: SQL's sum of no rows is NULL
        total = str(sums[name]) if counts[name] else "None"
        out[name] = (_digest(types[(schema, table)], counts[name]), rows, total)
    return out


def _kept(conn: sa.Connection) -> dict[str, tuple[str, int, str]]:
    if not has_table(conn, HUB_SCHEMA, "hub_table_sums"):
        return {}
    rows = conn.execute(sa.text(f"SELECT name, versions, n_rows, sum_hash FROM {CACHE}"))
    return {r[0]: (r[1], int(r[2]), r[3]) for r in rows}


def _keep(conn: sa.Connection, fresh: dict[str, tuple[str, int, str]]) -> None:
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {HUB_SCHEMA}"))
    conn.execute(
        sa.text(
            f"CREATE TABLE IF NOT EXISTS {CACHE} "
            "(name varchar, versions varchar, n_rows bigint, sum_hash varchar)"
        )
    )
    conn.execute(
        sa.text(f"DELETE FROM {CACHE} WHERE name IN :names").bindparams(
            sa.bindparam("names", expanding=True)
        ),
        {"names": sorted(fresh)},
    )
    conn.execute(
        sa.text(f"INSERT INTO {CACHE} (name, versions, n_rows, sum_hash) VALUES (:a, :v, :n, :h)"),
        [{"a": name, "v": v, "n": n, "h": h} for name, (v, n, h) in fresh.items()],
    )
