"""PostgreSQL: the deals the stage-observation rule must look at after a load, those with a
``deals`` row or a stage observation written since its last run; the others cannot need one.

The rule (:func:`hub.warehouse.observations.record_observations`) appends a deal's stage when
it differs from the deal's latest observation, and what it appends becomes that latest one.
So right after a run every live deal with a stage agrees with its latest observation, and a
deal can disagree again only when its ``deals`` row or its observations are written: an
update, a re-insert, a deal marked deleted or back, an observation written by anyone else.
Each run read every deal and sorted every observation by deal (a table that grows with every
hourly sync) for the 1 % of deals a sync writes.

PostgreSQL stamps each row version with the id of the transaction that wrote it (``xmin``;
:mod:`hub.warehouse.row_versions`). After each run the rows per ``xmin`` of the source's
``deals`` and ``stage_observations`` are kept (``hub_meta.hub_observed_versions``, with the
run's own rows counted in); the next run's *candidates* are the deals owning a row of a
version that grew since. Every other deal has the rows it had then, less any deleted: a
deleted deal needs no observation, but an observation deleted could make an older one the
latest, so when any version of ``stage_observations`` lost rows (or nothing is kept, or the
counts were kept by this very transaction, whose later writes keep its id) every deal is
looked at, as before. ``tests/test_observations.py`` checks both ways give the same rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.warehouse import deal_versions
from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_versions import Counts, version_counts

KEPT = f"{HUB_SCHEMA}.hub_observed_versions"
CANDIDATES = "pg_temp.hub_observed_candidates"
TABLES = ("deals", "stage_observations")
# Candidates at most one in this many deals are looked up by key (deal_indexes); more, and
# one scan of every row costs less.
BY_KEY_SHARE = 20
# this transaction's id as its rows' xmin reads (txid_current() carries the epoch above the
# 32 bits of xmin; pg_current_xact_id() would need PostgreSQL 13)
_THIS_XACT = "CAST(txid_current() % 4294967296 AS text)"


def write_candidates(conn: sa.Connection, schema: str) -> tuple[Counts, str | None]:
    """The rows per ``xmin`` of ``schema``'s tables now, and a condition on the column
    ``{col}`` keeping the candidates (in a temporary table), or None: every deal is to be
    looked at."""
    now = version_counts(conn, [(schema, t) for t in TABLES])
    kept = _kept(conn, schema)
    if kept is None:
        return now, None
    observations = f"{schema}.stage_observations"
    if any(now[observations].get(v, 0) < n for v, n in kept.get(observations, {}).items()):
        return now, None  # an observation deleted: an older one may be the latest now
    tables = [f"{schema}.{table}" for table in TABLES]
    found = deal_versions.write_owners(conn, CANDIDATES.removeprefix("pg_temp."), kept, now, tables)
    deals = sum(now[f"{schema}.deals"].values())
    if found * BY_KEY_SHARE <= deals:  # through the deal_key indexes
        return now, "{col} = ANY(ARRAY(SELECT deal_key FROM " + CANDIDATES + "))"
    return now, "{col} IN (SELECT deal_key FROM " + CANDIDATES + ")"


def _kept(conn: sa.Connection, schema: str) -> Counts | None:
    if not has_table(conn, HUB_SCHEMA, "hub_observed_versions"):
        return None
    rows = conn.execute(
        sa.text(f"SELECT tbl, version, n, {_THIS_XACT} = xact FROM {KEPT} WHERE schema_name = :s"),
        {"s": schema},
    ).tuples()
    out: Counts = {}
    for table, version, n, this_transaction in rows:
        if this_transaction:
            return None
        out.setdefault(str(table), {})[str(version)] = int(n)
    return out or None


def keep(conn: sa.Connection, schema: str, now: Counts, appended: int) -> None:
    """After the run: ``now`` (counted before it) and the ``appended`` observations, under
    this transaction's id, are what the next run compares with."""
    xact = str(conn.execute(sa.text(f"SELECT {_THIS_XACT}")).scalar())
    counts = {name: dict(versions) for name, versions in now.items()}
    observations = counts.setdefault(f"{schema}.stage_observations", {})
    if appended:
        observations[xact] = observations.get(xact, 0) + appended
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {HUB_SCHEMA}"))
    conn.execute(
        sa.text(
            f"CREATE TABLE IF NOT EXISTS {KEPT} (schema_name varchar, tbl varchar, "
            "version varchar, n bigint, xact varchar)"
        )
    )
    conn.execute(sa.text(f"DELETE FROM {KEPT} WHERE schema_name = :s"), {"s": schema})
    rows = [
        {"s": schema, "t": t, "v": v, "n": n, "x": xact}
        for t, versions in counts.items()
        for v, n in versions.items()
    ]
    if rows:
        conn.execute(
            sa.text(
                f"INSERT INTO {KEPT} (schema_name, tbl, version, n, xact) "
                "VALUES (:s, :t, :v, :n, :x)"
            ),
            rows,
        )
