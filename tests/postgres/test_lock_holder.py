"""The advisory lock's holder is looked up in the warehouse's own database: pg_locks lists
the locks of every database on the server, and two hub warehouses on one server (two teams,
or the test suite's parallel workers) each hold the same lock key in their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.locks import PgAdvisoryLock
from hub.warehouse import Warehouse
from models.config import parse_config
from tests.pg import fresh_database, pg_warehouse

pytestmark = pytest.mark.postgres


def _lock(tmp_path: Path, db: dict[str, Any]) -> PgAdvisoryLock:
    raw = {"warehouse": pg_warehouse(db), "sources": []}
    return PgAdvisoryLock(Warehouse(parse_config(raw, tmp_path / "hub.yml")))


def test_each_warehouse_names_its_own_lock_holder(
    tmp_path: Path, pg_server: dict[str, Any]
) -> None:
    with fresh_database(pg_server) as first, fresh_database(pg_server) as second:
        locks = {
            "hub transform, pid 1": _lock(tmp_path, first),
            "hub sync, pid 2": _lock(tmp_path, second),
        }
        try:
            for holder, lock in locks.items():
                assert lock.try_acquire(holder)
            for holder, lock in locks.items():
                assert lock.holder() == holder
        finally:
            for lock in locks.values():
                lock.release()
