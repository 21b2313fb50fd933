"""PostgreSQL fixtures (imported by tests/conftest.py): the throwaway server that
`.ci/postgres.sh` starts (CI starts it).

Locally the tests skip, with the reason, when no server is configured; with CI=true a
missing server is a failure, so CI can never pass without running them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

PG_ENV = (
    "HUB_TEST_PG_HOST",
    "HUB_TEST_PG_PORT",
    "HUB_TEST_PG_USER",
    "HUB_TEST_PG_PASSWORD",
    "HUB_TEST_PG_DATABASE",
)


def _server() -> dict[str, Any] | None:
    if not all(os.environ.get(k) for k in PG_ENV):
        return None
    return {
        "host": os.environ["HUB_TEST_PG_HOST"],
        "port": int(os.environ["HUB_TEST_PG_PORT"]),
        "user": os.environ["HUB_TEST_PG_USER"],
        "password": os.environ["HUB_TEST_PG_PASSWORD"],
        "database": os.environ["HUB_TEST_PG_DATABASE"],
    }


@pytest.fixture(scope="session")
def pg_server() -> dict[str, Any]:
    server = _server()
    if server is None:
        message = (
            'no PostgreSQL test server: run `eval "$(.ci/postgres.sh start)"` '
            "(CI does this in .ci/run)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return server


def pg_engine(params: dict[str, Any], **options: Any) -> sa.Engine:
    """An engine on the test server's database ``params['database']`` (no pooling, so a
    dropped database has no connection left behind)."""
    return sa.create_engine(
        sa.URL.create(
            "postgresql+psycopg2",
            username=params["user"],
            password=params["password"],
            host=params["host"],
            port=params["port"],
            database=params["database"],
        ),
        poolclass=sa.pool.NullPool,
        **options,
    )


@contextmanager
def fresh_database(pg_server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A new, empty database on the test server, dropped when the block ends."""
    name = f"hub_t_{uuid.uuid4().hex[:10]}"
    admin = pg_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield {**pg_server, "database": name}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_database(pg_server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A fresh database per test, dropped afterwards."""
    with fresh_database(pg_server) as database:
        yield database


def pg_warehouse(db: dict[str, Any]) -> dict[str, Any]:
    """The hub.yml warehouse section for ``db``; the password travels by env var."""
    os.environ["HUB_TEST_WAREHOUSE_PASSWORD"] = db["password"]
    return {
        "kind": "postgres",
        "host": db["host"],
        "port": db["port"],
        "user": db["user"],
        "database": db["database"],
        "password": "env:HUB_TEST_WAREHOUSE_PASSWORD",
    }
