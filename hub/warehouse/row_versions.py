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
and computed again only for a table whose versions changed. The sums stay the content's: a
table written with the values it had (a replaced table, a re-read deal's links) keeps its
sum, and the transform is skipped as before.

A changed table's sum is the sum of its versions' sums, and a version keeps its rows while
it keeps its count: rows are never added to a committed transaction's version, only deleted
(an update deletes the old version of the row). So the sum of every version is kept too, in
``hub_meta.hub_table_version_sums`` (with the table's columns: an added column changes every
row's hash), and only the versions that are new or lost rows are hashed again, which an
hourly sync's writes are: at a million deals the tables it writes (deals, their links, stage
history, observations) had every row hashed again on every run. The statement that hashes
them also counts their rows; a version whose count is not the one read before (a write in
between) makes that table's sum be computed whole, with its versions, in one statement.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import sqlalchemy as sa

from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import row_hash

CACHE = f"{HUB_SCHEMA}.hub_table_sums"
VERSION_SUMS = f"{HUB_SCHEMA}.hub_table_version_sums"  # per table and xmin
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
    counts = version_counts(conn, tables)
    if counts_out is not None:
        counts_out.update(counts)
    now = {f"{s}.{t}": _digest(types[(s, t)], list(counts[f"{s}.{t}"].items())) for s, t in tables}
    kept = _kept(conn)
    out = [(name, n, h) for name, (version, n, h) in kept.items() if now.get(name) == version]
    known = {name for name, _, _ in out}
    missing = [t for t in tables if f"{t[0]}.{t[1]}" not in known]
    if missing:
        fresh, parts = _sums_by_version(conn, missing, types, counts)
        _keep(conn, fresh, parts)
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


def _columns(columns: list[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(columns).encode()).hexdigest()


Parts = dict[str, tuple[str, dict[str, tuple[int, int]]]]  # name -> (columns, version -> n, h)


def _sums_by_version(
    conn: sa.Connection, tables: list[tuple[str, str]], types: Types, counts: Counts
) -> tuple[dict[str, tuple[str, int, str]], Parts]:
    """name -> (versions, row count, sum of row hashes) of ``tables`` as ``counts`` found
    them, hashing only the versions whose kept sum does not hold (new, or lost rows); and
    every version's sum, to keep."""
    kept = _kept_parts(conn, [f"{s}.{t}" for s, t in tables])
    reused: dict[str, dict[str, tuple[int, int]]] = {}
    todo: dict[tuple[str, str], list[str] | None] = {}  # None: every row
    for schema, table in tables:
        name = f"{schema}.{table}"
        columns, sums = kept.get(name, ("", {}))
        same = columns == _columns(types[(schema, table)])
        reused[name] = {
            v: (n, h) for v, (n, h) in sums.items() if same and counts[name].get(v) == n
        }
        versions = [v for v in counts[name] if v not in reused[name]]
        if versions:
            todo[(schema, table)] = versions if reused[name] else None
    found = _version_sums(conn, todo, types)
    counts = {name: dict(c) for name, c in counts.items()}
    whole = [t for t, versions in todo.items() if not _as_counted(t, versions, counts, found)]
    if whole:  # written meanwhile: those tables whole, their versions read with the sums
        again = _version_sums(conn, dict.fromkeys(whole), types)
        for schema, table in whole:
            name = f"{schema}.{table}"
            reused[name], found[name] = {}, again.get(name, {})
            counts[name] = {v: n for v, (n, _) in found[name].items()}
    out: dict[str, tuple[str, int, str]] = {}
    parts: Parts = {}
    for schema, table in tables:
        name = f"{schema}.{table}"
        per_version = {**reused[name], **found.get(name, {})}
        per_version = {v: per_version[v] for v in counts[name]}
        rows = sum(n for n, _ in per_version.values())
        # as the whole-table sum reads: SQL's sum of no rows is NULL
        total = str(sum(h for _, h in per_version.values())) if per_version else "None"
        listed = [(v, n) for v, (n, _) in per_version.items()]
        out[name] = (_digest(types[(schema, table)], listed), rows, total)
        parts[name] = (_columns(types[(schema, table)]), per_version)
    return out, parts


def _as_counted(
    table: tuple[str, str],
    versions: list[str] | None,
    counts: Counts,
    found: dict[str, dict[str, tuple[int, int]]],
) -> bool:
    """Whether the versions hashed have the rows ``counts`` read (no write in between)."""
    name = f"{table[0]}.{table[1]}"
    hashed = found.get(name, {})
    listed = counts[name] if versions is None else versions
    if versions is None and set(hashed) != set(listed):
        return False
    return all(hashed.get(v, (0, 0))[0] == counts[name][v] for v in listed)


def _version_sums(
    conn: sa.Connection, todo: dict[tuple[str, str], list[str] | None], types: Types
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per table, its rows and sum of row hashes per ``xmin``, of the listed versions (all
    of them for None), in one statement."""
    parts, params = [], {}
    for i, ((schema, table), versions) in enumerate(sorted(todo.items())):
        where = ""
        if versions is not None:
            params[f"v{i}"] = "{" + ",".join(versions) + "}"
            where = f" WHERE xmin = ANY(CAST(:v{i} AS xid[]))"
        parts.append(
            f"SELECT '{schema}.{table}' AS name, xmin::text AS version, count(*) AS n, "
            f"sum({row_hash('postgresql', table, types[(schema, table)], 't')}) AS h "
            f"FROM {schema}.{table} AS t{where} GROUP BY xmin"
        )
    out: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    if parts:
        rows = conn.execute(sa.text(" UNION ALL ".join(parts)), params).tuples()
        for name, version, n, h in rows:
            out[str(name)][str(version)] = (int(n), int(h))
    return out


def _kept(conn: sa.Connection) -> dict[str, tuple[str, int, str]]:
    if not has_table(conn, HUB_SCHEMA, "hub_table_sums"):
        return {}
    rows = conn.execute(sa.text(f"SELECT name, versions, n_rows, sum_hash FROM {CACHE}"))
    return {r[0]: (r[1], int(r[2]), r[3]) for r in rows}


def _kept_parts(conn: sa.Connection, names: list[str]) -> Parts:
    if not names or not has_table(conn, HUB_SCHEMA, "hub_table_version_sums"):
        return {}
    rows = conn.execute(
        sa.text(
            f"SELECT name, columns, version, n_rows, sum_hash FROM {VERSION_SUMS} "
            "WHERE name IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"names": sorted(names)},
    )
    out: Parts = {}
    for name, columns, version, n, h in rows.tuples():
        out.setdefault(str(name), (str(columns), {}))[1][str(version)] = (int(n), int(h))
    return out


def _keep(conn: sa.Connection, fresh: dict[str, tuple[str, int, str]], parts: Parts) -> None:
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {HUB_SCHEMA}"))
    conn.execute(
        sa.text(
            f"CREATE TABLE IF NOT EXISTS {CACHE} "
            "(name varchar, versions varchar, n_rows bigint, sum_hash varchar)"
        )
    )
    conn.execute(
        sa.text(
            f"CREATE TABLE IF NOT EXISTS {VERSION_SUMS} (name varchar, columns varchar, "
            "version varchar, n_rows bigint, sum_hash varchar)"
        )
    )
    for table in (CACHE, VERSION_SUMS):
        conn.execute(
            sa.text(f"DELETE FROM {table} WHERE name IN :names").bindparams(
                sa.bindparam("names", expanding=True)
            ),
            {"names": sorted(fresh)},
        )
    conn.execute(
        sa.text(f"INSERT INTO {CACHE} (name, versions, n_rows, sum_hash) VALUES (:a, :v, :n, :h)"),
        [{"a": name, "v": v, "n": n, "h": h} for name, (v, n, h) in fresh.items()],
    )
    rows = [
        {"a": name, "c": columns, "v": version, "n": n, "h": str(h)}
        for name, (columns, sums) in parts.items()
        for version, (n, h) in sums.items()
    ]
    if rows:
        conn.execute(
            sa.text(
                f"INSERT INTO {VERSION_SUMS} (name, columns, version, n_rows, sum_hash) "
                "VALUES (:a, :c, :v, :n, :h)"
            ),
            rows,
        )
