"""The hub's PostgreSQL sessions run with JIT off unless ``warehouse.jit`` says otherwise:
the transforms' row estimates cross the server's JIT cost threshold and compiling cost more
than it saved. Both ways in: the hub's own SQL sessions and dbt's (libpq's PGOPTIONS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa

from hub.warehouse import Warehouse
from models.config import parse_config
from tests.pg import pg_warehouse

pytestmark = pytest.mark.postgres


def _warehouse(tmp_path: Path, db: dict[str, Any], **settings: Any) -> Warehouse:
    raw = {"warehouse": {**pg_warehouse(db), **settings}, "sources": []}
    return Warehouse(parse_config(raw, tmp_path / "hub.yml"))


def _dbt_session_jit(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> str:
    """What a libpq connection made as dbt-postgres makes it (no options of its own, the
    environment hub.transform sets for dbt) sees."""
    env = warehouse.dbt_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    connection = psycopg2.connect(
        host=env["HUB_PG_HOST"],
        port=env["HUB_PG_PORT"],
        user=env["HUB_PG_USER"],
        password=env["HUB_PG_PASSWORD"],
        dbname=env["HUB_PG_DATABASE"],
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            (value,) = cursor.fetchone() or ("?",)
    finally:
        connection.close()
    return str(value)


def test_jit_is_off_for_the_hubs_sessions_unless_asked_for(
    tmp_path: Path, pg_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=8MB")  # a user's own options are kept
    default = _warehouse(tmp_path, pg_server)
    with default.connect() as conn:
        assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
    assert _dbt_session_jit(default, monkeypatch) == "off"
    assert default.dbt_env()["PGOPTIONS"] == "-c work_mem=8MB -c jit=off"

    monkeypatch.setenv("PGOPTIONS", "")
    asked = _warehouse(tmp_path, pg_server, jit=True)
    with asked.connect() as conn:
        server = conn.execute(sa.text("SELECT boot_val FROM pg_settings WHERE name = 'jit'"))
        server_default = server.scalar()
        assert conn.execute(sa.text("SHOW jit")).scalar() == server_default == "on"
    assert asked.dbt_env()["PGOPTIONS"] == ""
    assert _dbt_session_jit(asked, monkeypatch) == server_default
