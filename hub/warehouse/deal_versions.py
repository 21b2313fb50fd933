"""PostgreSQL: which deals own a row written since the kept per-deal snapshot was taken, so a
changed part of the snapshot (:mod:`hub.warehouse.changes`) is read for those deals only.

A part whose source tables changed was read whole: every deal's rows hashed and grouped
(about 20 server CPU-s at a million deals), for the 1 % of deals an hourly sync touches.
PostgreSQL stamps every row version with the id of the transaction that wrote it (``xmin``)
and never changes a stored row: an insert or update writes a new version, a delete removes
one (:mod:`hub.warehouse.row_versions`). With each table's rows per ``xmin`` kept beside the
snapshot (``hub_meta.hub_deal_input_versions``), a version whose count grew (new ids; an id
given again after wraparound) holds every row written since, and its rows' ``deal_key``
names the deals to read again (the *candidates*).

A deal owning no such row can only have lost rows since: its rows now are rows it had then
(``deal_key`` and the part's filter read the row alone, and a row never changes). So its kept
``n``/``h`` are right unless its row count dropped, and that shows in the part's total: the
new snapshot's row count summed over every deal (candidates read now, the rest kept) equals
the part's rows now exactly when no other deal lost a row. When they differ (a deal deleted,
an activity removed without a new one on its deal) the part is read whole, as before. The
lists of changed deals are therefore the ones a whole read gives; ``tests/test_deal_versions.py``
compares the two for each kind of write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_versions import Counts, version_counts

KEPT = f"{HUB_SCHEMA}.hub_deal_input_versions"
NEXT = f"{HUB_SCHEMA}.hub_deal_input_versions_next"


def source_tables(conn: sa.Connection, names: Iterable[str]) -> list[tuple[str, str]]:
    """Every ``src_*`` schema's tables of these names."""
    wanted = sorted(set(names))
    rows = conn.execute(
        sa.text(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE 'src\\_%' AND table_name IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"names": wanted},
    ).tuples()
    return sorted((str(s), str(t)) for s, t in rows)


def current(conn: sa.Connection, names: Iterable[str]) -> Counts:
    """Rows per ``xmin`` of every source's tables of these names, now."""
    return version_counts(conn, source_tables(conn, names))


def kept(conn: sa.Connection) -> Counts | None:
    """The counts kept with the snapshot (None: none kept, e.g. taken before this module)."""
    if not has_table(conn, HUB_SCHEMA, "hub_deal_input_versions"):
        return None
    out: Counts = {}
    for name, version, n in conn.execute(sa.text(f"SELECT tbl, version, n FROM {KEPT}")).tuples():
        out.setdefault(str(name), {})[str(version)] = int(n)
    return out


def grown(kept_counts: Mapping[str, Mapping[str, int]], now: Counts, table: str) -> list[str]:
    """The versions of ``table`` (schema.table) with more rows now than kept: every row
    written since the kept snapshot has one of them."""
    before = kept_counts.get(table, {})
    return sorted(v for v, n in now.get(table, {}).items() if n > before.get(v, 0))


def write_owners(
    conn: sa.Connection,
    name: str,
    kept_counts: Mapping[str, Mapping[str, int]],
    now: Counts,
    tables: Iterable[str],
) -> int:
    """A temporary table ``name`` of the deals owning a row of ``tables`` (schema.table) in a
    version grown since ``kept_counts`` (:func:`grown`), analyzed; returns how many rows it
    has (a deal may be listed once per table)."""
    selects = []
    params: dict[str, str] = {}
    for i, table in enumerate(tables):
        versions = grown(kept_counts, now, table)
        if versions:
            params[f"v{i}"] = "{" + ",".join(versions) + "}"
            selects.append(f"SELECT deal_key FROM {table} WHERE xmin = ANY(CAST(:v{i} AS xid[]))")
    body = " UNION ".join(selects) or "SELECT CAST(NULL AS varchar) AS deal_key WHERE 1 = 0"
    conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{name}"))
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} AS {body}"), params)
    conn.execute(sa.text(f"ANALYZE pg_temp.{name}"))
    return int(conn.execute(sa.text(f"SELECT count(*) FROM pg_temp.{name}")).scalar() or 0)


def write_next(conn: sa.Connection, now: Counts) -> None:
    """The counts the snapshot being written belongs to (kept with it by :func:`keep`)."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {NEXT}"))
    conn.execute(sa.text(f"CREATE TABLE {NEXT} (tbl varchar, version varchar, n bigint)"))
    rows = [{"t": t, "v": v, "n": n} for t, versions in now.items() for v, n in versions.items()]
    if rows:
        conn.execute(sa.text(f"INSERT INTO {NEXT} (tbl, version, n) VALUES (:t, :v, :n)"), rows)


def keep(conn: sa.Connection) -> None:
    """The snapshot was kept: so are its counts. Without counts for it (another warehouse,
    an older snapshot), none are kept: the next run reads changed parts whole."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {KEPT}"))
    if has_table(conn, HUB_SCHEMA, "hub_deal_input_versions_next"):
        conn.execute(sa.text(f"ALTER TABLE {NEXT} RENAME TO hub_deal_input_versions"))
