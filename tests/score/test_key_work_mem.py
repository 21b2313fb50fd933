"""The training key's statement runs with more ``work_mem`` on PostgreSQL, and only it.

At the default 4 MB its semi-joins on the training deals' keys spilled every spell,
activity and dimension row to temporary files (hub/score/prekey.py, ``KEY_WORK_MEM``). The
setting must be raised for the key's statement, never lowered below the server's own, and
set back after it: the training query may follow in the same transaction.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from hub.score.prekey import KEY_WORK_MEM, work_mem_at_least
from tests.pg import pg_engine

pytestmark = pytest.mark.postgres


def _bytes(conn: sa.Connection) -> int:
    return int(
        conn.execute(sa.text("select pg_size_bytes(current_setting('work_mem'))")).scalar_one()
    )


def _size(conn: sa.Connection, size: str) -> int:
    return int(conn.execute(sa.text("select pg_size_bytes(:s)"), {"s": size}).scalar_one())


def test_work_mem_is_raised_for_the_block_and_set_back(pg_database: dict[str, Any]) -> None:
    engine = pg_engine(pg_database)
    with engine.connect() as conn:
        conn.execute(sa.text("set work_mem = '4MB'"))
        conn.commit()
        with work_mem_at_least(conn, KEY_WORK_MEM):
            assert _bytes(conn) == _size(conn, KEY_WORK_MEM)
        assert _bytes(conn) == _size(conn, "4MB")  # the rest of the transaction
        conn.commit()
        assert _bytes(conn) == _size(conn, "4MB")


def test_a_larger_server_setting_is_kept(pg_database: dict[str, Any]) -> None:
    engine = pg_engine(pg_database)
    with engine.connect() as conn:
        conn.execute(sa.text("set work_mem = '1GB'"))
        conn.commit()
        with work_mem_at_least(conn, KEY_WORK_MEM):
            assert _bytes(conn) == _size(conn, "1GB")
        assert _bytes(conn) == _size(conn, "1GB")


def test_a_read_only_snapshot_transaction_may_raise_it(pg_database: dict[str, Any]) -> None:
    """The key runs on the second connection too (hub/score/ahead.py): read only."""
    engine = pg_engine(pg_database)
    with engine.connect() as conn:
        conn.execute(sa.text("set transaction isolation level repeatable read, read only"))
        with work_mem_at_least(conn, KEY_WORK_MEM):
            assert _bytes(conn) == _size(conn, KEY_WORK_MEM)
