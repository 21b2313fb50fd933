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
    """``dbt ARGS`` on the project as the hub runs it: the run-to-run vars (``as_of``...) by
    environment, so that a later run in the same ``target_path`` reuses the parse saved there
    (~5 CPU-s saved a run; test_mart_rewrites runs dbt ~35 times in two folders) while
    nothing the parse depends on changed, as :mod:`hub.dbt_parse` decides for the hub."""
    from dbt.cli.main import dbtRunner

    from hub.dbt_parse import parse_key, reuse_args, split_vars
    from hub.transform import temporary_environ

    static_vars, run_env = split_vars(variables)
    with temporary_environ({"HUB_DUCKDB_PATH": str(db_path), **run_env}):
        # the connection and whatever else the project reads from HUB_* (the run vars are
        # read only while executing: left out)
        connection = {
            k: v for k, v in os.environ.items() if k.startswith("HUB_") and k not in run_env
        }
        key = parse_key(REPO, REPO, connection, static_vars)
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
                    json.dumps(static_vars),
                    *reuse_args(target_path, key),
                    "--quiet",
                ]
            )
        finally:
            _release_duckdb()


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
