"""One warehouse and one ``dbt build`` per test session, shared by every transforms test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from .fixtures import ExpectedDeal, build_warehouse, dbt_vars

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Built:
    path: Path
    expected: list[ExpectedDeal]
    results: list[tuple[str, str, str]]  # (unique_id, status, message)
    success: bool

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()

    def table(self, name: str, where: str = "true") -> list[dict[str, Any]]:
        return self.rows(f"select * from {name} where {where}")


def run_dbt(db_path: Path, target_path: Path, args: list[str], variables: dict[str, Any]) -> Any:
    from dbt.cli.main import dbtRunner

    old = os.environ.get("HUB_DUCKDB_PATH")
    os.environ["HUB_DUCKDB_PATH"] = str(db_path)
    try:
        return dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(REPO),
                "--profiles-dir",
                str(REPO),
                "--target-path",
                str(target_path),
                "--log-path",
                str(target_path / "logs"),
                "--vars",
                json.dumps(variables),
                "--quiet",
            ]
        )
    finally:
        _release_duckdb()
        if old is None:
            os.environ.pop("HUB_DUCKDB_PATH", None)
        else:
            os.environ["HUB_DUCKDB_PATH"] = old


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open in-process after ``invoke``; opening the same file
    again with another configuration then fails, so close it (dbt reopens it on next use)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
        DuckDBConnectionManager._ENV = None


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("dbt_hub")
    db_path = root / "hub.duckdb"
    expected = build_warehouse(db_path)
    variables = dbt_vars()
    # A configured source with no schema at all (never synced) must not break anything.
    variables["sources"] = [*variables["sources"], "ghost"]
    res = run_dbt(db_path, root / "target", ["build"], variables)
    results = []
    if res.result is not None:
        for r in res.result:
            results.append((r.node.unique_id, str(r.status), r.message or ""))
    yield Built(db_path, expected, results, bool(res.success))
