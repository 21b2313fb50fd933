"""PostgreSQL's kept sum of row hashes per row version (``xmin``) of a source table
(``hub.warehouse.row_versions``): a changed table hashes only the versions that are new or
lost rows, and its sum is the one computed whole.

Each test spoils a kept per-version sum on purpose: a version whose rows stayed must be
taken from it (it was not hashed again), one that lost a row must not.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from hub.incremental import table_sums
from hub.warehouse import row_versions
from hub.warehouse.row_hash import column_types, row_hash
from tests.pg import pg_engine

pytestmark = pytest.mark.postgres

SPOIL = 1000  # added to a kept per-version sum


def _sum(conn: sa.Connection) -> tuple[int, int]:
    (row,) = [r for r in table_sums(conn, ["s"]) if r[0] == "src_s.deals"]
    return row[1], int(row[2])


def _true_sum(conn: sa.Connection) -> int:
    types = column_types(conn, [("src_s", "deals")])[("src_s", "deals")]
    sql = f"SELECT sum({row_hash('postgresql', 'deals', types, 't')}) FROM src_s.deals AS t"
    return int(conn.execute(sa.text(sql)).scalar())


def _version_of(conn: sa.Connection, deal_key: str) -> str:
    sql = "SELECT xmin::text FROM src_s.deals WHERE deal_key = :k"
    return str(conn.execute(sa.text(sql), {"k": deal_key}).scalar())


def _spoil(conn: sa.Connection, version: str) -> None:
    conn.execute(
        sa.text(
            f"UPDATE {row_versions.VERSION_SUMS} SET sum_hash = "
            "CAST(CAST(sum_hash AS numeric) + :d AS varchar) "
            "WHERE name = 'src_s.deals' AND version = :v"
        ),
        {"d": SPOIL, "v": version},
    )


def test_only_new_versions_and_versions_that_lost_rows_are_hashed(
    pg_database: dict[str, Any],
) -> None:
    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA src_s"))
        conn.execute(sa.text("CREATE TABLE src_s.deals (deal_key text, amount numeric)"))
        conn.execute(sa.text("INSERT INTO src_s.deals VALUES ('a', 1), ('b', 2)"))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO src_s.deals VALUES ('c', 3), ('d', 4)"))
    with engine.begin() as conn:
        assert _sum(conn) == (4, _true_sum(conn))  # computed whole, every version kept
        first, second = _version_of(conn, "a"), _version_of(conn, "c")
        _spoil(conn, first)
    with engine.begin() as conn:  # a new version: the first is taken as kept (spoiled)
        conn.execute(sa.text("INSERT INTO src_s.deals VALUES ('e', 5)"))
    with engine.begin() as conn:
        assert _sum(conn) == (5, _true_sum(conn) + SPOIL)
    with engine.begin() as conn:  # the first version loses a row: hashed again
        conn.execute(sa.text("DELETE FROM src_s.deals WHERE deal_key = 'b'"))
    with engine.begin() as conn:
        assert _sum(conn) == (4, _true_sum(conn))
        _spoil(conn, second)
    with engine.begin() as conn:  # an update moves a row of the second into a new version
        conn.execute(sa.text("UPDATE src_s.deals SET amount = 30 WHERE deal_key = 'c'"))
    with engine.begin() as conn:
        assert _sum(conn) == (4, _true_sum(conn))
    with engine.begin() as conn:  # a whole version gone: the others' kept sums add up
        conn.execute(sa.text("DELETE FROM src_s.deals WHERE deal_key = 'c'"))
    with engine.begin() as conn:
        assert _sum(conn) == (3, _true_sum(conn))
    engine.dispose()


def test_a_version_counted_before_a_write_makes_the_table_hashed_whole(
    pg_database: dict[str, Any],
) -> None:
    """Counts read before a write (here: made up, one row more than the version holds) do
    not pair with the rows hashed after it: the table is hashed whole, its versions read
    in the same statement."""
    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA src_s"))
        conn.execute(sa.text("CREATE TABLE src_s.deals (deal_key text, amount numeric)"))
        conn.execute(sa.text("INSERT INTO src_s.deals VALUES ('a', 1), ('b', 2)"))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO src_s.deals VALUES ('c', 3)"))
    tables = [("src_s", "deals")]
    with engine.begin() as conn:
        types = column_types(conn, tables)
        _sum(conn)  # every version kept
        counts = row_versions.version_counts(conn, tables)
        newest = _version_of(conn, "c")
        _spoil(conn, _version_of(conn, "a"))
        stale = {"src_s.deals": {**counts["src_s.deals"], newest: 2}}
        sums, _ = row_versions._sums_by_version(conn, tables, types, stale)
        versions, n, total = sums["src_s.deals"]
        assert (n, int(total)) == (3, _true_sum(conn))
        assert versions == row_versions._digest(
            types[tables[0]], list(counts["src_s.deals"].items())
        )
    engine.dispose()
