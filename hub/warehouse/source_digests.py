"""Which source tables hold the same rows as at the last complete transform, so the data tests
of the staging views over them alone may read none of their rows.

A staging view tested whole (``stg_activities``: 5M rows at a million deals; the
associations, owners, accounts, ...) is a function of each source's table of one name: its
SQL and the sources are in the build's fingerprint, so a change of either makes the build
full and tests every row. When every source's table of that name has the rows it had at the
last complete build, and that build's data tests all passed, the view's rows are the ones
those tests passed on, and testing them again answers nothing new. The transform already
sums a hash of every row of every source table (:func:`hub.incremental.table_sums`); this
module keeps, per table name, a digest of those sums at each complete build and names the
tables whose digest is the same now. The views say which table they read in their config
(``meta.hub_test_source_tables``; macro ``get_where_subquery`` in ``hub_incremental``).

The hub_meta tables dbt reads are kept the same way, each under ``hub_meta.<table>``, and
every digest covers the tables' columns as well as their rows: a model over such tables alone
(a staging view's SQL follows the columns it finds) is then the same model with the same rows
while its digests are, so a run may leave it out altogether (:mod:`hub.dbt_skip`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import column_types

KEPT = f"{HUB_SCHEMA}.hub_source_digests"


def digests(conn: sa.Connection, sums: Iterable[tuple[str, int, str]]) -> dict[str, str]:
    """Per source table name (``activities``), a digest of the row count, sum of row hashes
    and columns of every source's table of that name (``sums``: ``src_<source>.<table>``, n,
    h); per hub_meta table, the same of it alone, under ``hub_meta.<table>``."""
    by_name: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for name, n, h in sums:
        schema, table = name.rsplit(".", 1)
        if schema.startswith("src_"):
            by_name[table].append((name, n, h))
        elif schema == HUB_SCHEMA:
            by_name[name].append((name, n, h))
    columns = column_types(conn, [_relation(row[0]) for rows in by_name.values() for row in rows])
    return {
        table: hashlib.sha256(
            repr([(row, columns.get(_relation(row[0]))) for row in sorted(rows)]).encode()
        ).hexdigest()
        for table, rows in by_name.items()
    }


def _relation(name: str) -> tuple[str, str]:
    schema, table = name.rsplit(".", 1)
    return schema, table


def unchanged(conn: sa.Connection, current: Mapping[str, str]) -> list[str]:
    """The table names whose digest now is the one kept at the last complete build (none
    without a kept record). A name no source has now is never unchanged."""
    if not has_table(conn, HUB_SCHEMA, "hub_source_digests"):
        return []
    rows = conn.execute(sa.text(f"SELECT name, digest FROM {KEPT}")).tuples()
    kept = {str(name): str(digest) for name, digest in rows}
    return sorted(t for t, d in current.items() if kept.get(t) == d)


def keep(conn: sa.Connection, current: Mapping[str, str]) -> None:
    """The build ended complete: its digests are the ones the next run compares with."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {KEPT}"))
    conn.execute(sa.text(f"CREATE TABLE {KEPT} (name varchar, digest varchar)"))
    if current:
        conn.execute(
            sa.text(f"INSERT INTO {KEPT} (name, digest) VALUES (:n, :d)"),
            [{"n": n, "d": d} for n, d in sorted(current.items())],
        )
