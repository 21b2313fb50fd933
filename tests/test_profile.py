"""``--profile``: a real sync of a small sandbox world says where its time went, and the run
log (``hub_meta.hub_profile``) keeps it for ``hub status --profile``.

Checked against what the profile does not compute itself: the wall time measured around
the command, the relations dbt left in the warehouse (one per model), dlt's own trace of
the pull and the source's ``hub_runs`` row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hub import profile as hub_profile
from hub.profile import (
    AFTER_DBT,
    DBT_PARENT,
    STAGE_WARNINGS,
    START_UP,
    Profile,
    latest,
    record,
)
from models.config import load_config
from tests.harness import sandbox_entry, start_sandbox, stop_quietly, write_hub_yml
from tests.pg import pg_warehouse

DBT_SCHEMAS = ("hub_staging", "analytics", "outbound")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipedrive() -> Any:
    sandbox = start_sandbox("pipedrive", n_deals=40)
    yield sandbox
    stop_quietly([sandbox])


def _relations(db: Path) -> set[tuple[str, str]]:
    """Every table and view dbt built: one per model, (schema, name)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema "
            f"IN {DBT_SCHEMAS}"
        ).fetchall()
    return set(rows)


def test_sync_profile_names_every_step_and_model_and_adds_up(
    cli, pipedrive: Any, tmp_path: Path
) -> None:
    config = write_hub_yml(
        tmp_path, {"as_of": "2026-06-30T00:00:00Z", "sources": [sandbox_entry(pipedrive, "pd")]}
    )
    started = time.perf_counter()
    result = cli("sync", "--profile", "--config", config)
    wall = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert "profile: hub sync" in result.output and "model deals" in result.output

    profile = latest(load_config(config))
    assert profile is not None and profile.command == "sync"
    top = {s.name: s.seconds for s in profile.top_level()}
    total = next(s.seconds for s in profile.steps if s.name == "total")
    for step in ("extract", "normalize", "load", "after load"):
        assert top[f"pull pd: {step}"] >= 0
    assert top[DBT_PARENT] > 0
    assert top[STAGE_WARNINGS] > 0  # between the pull and the transform, no longer "other"
    # The steps account for the command's time: the total is the wall time less only the
    # CLI's start (config load), and what no named step covers stays small.
    assert 0.8 * wall <= total <= wall
    assert sum(top.values()) == pytest.approx(total, abs=0.01)
    assert top["other"] <= 0.1 * total

    # Every model dbt built has its own line, with a time no longer than dbt's own.
    nodes = [s for s in profile.steps if s.parent == DBT_PARENT]
    models = {s.name.removeprefix("model "): s for s in nodes if s.name.startswith("model ")}
    # deal_scores (analytics and outbound) are written by the hub after dbt, not by a model
    relations = _relations(tmp_path / ".hub" / "hub.duckdb") - {
        ("analytics", "deal_scores"),
        ("outbound", "deal_scores"),
    }
    assert "transform: deal scores (fit or reuse the model, score open deals)" in top
    # A first transform is full: after dbt it snapshots every deal's inputs for the next.
    assert 0 < top[AFTER_DBT] < top[DBT_PARENT]
    assert len(models) == len(relations)
    for schema, name in relations:  # outbound models are aliased: outbound_x builds outbound.x
        assert (f"outbound_{name}" if schema == "outbound" else name) in models, (schema, name)
    assert all(0 <= s.seconds <= top[DBT_PARENT] for s in nodes)
    assert all(s.detail == "success" for s in models.values())
    assert any(s.name.startswith("test ") for s in nodes)
    # dbt runs two nodes at a time (profiles.yml threads), so together at most twice its wall.
    assert sum(s.seconds for s in nodes) <= 2 * top[DBT_PARENT] + 0.5

    # The pull's steps are dlt's own, within the source's logged duration.
    with duckdb.connect(str(tmp_path / ".hub" / "hub.duckdb"), read_only=True) as con:
        (logged,) = con.execute(
            "SELECT duration_s FROM hub_meta.hub_runs WHERE source_name = 'pd'"
        ).fetchone()
    pulled = sum(v for k, v in top.items() if k.startswith("pull pd: "))
    assert pulled == pytest.approx(logged, abs=0.01)
    dlt_steps = sum(top[f"pull pd: {s}"] for s in ("extract", "normalize", "load"))
    assert 0 < dlt_steps <= logged

    shown = cli("status", "--profile", "--config", config)
    assert shown.exit_code == 0, shown.output
    assert "profile: hub sync" in shown.output and "model deal_stage_history" in shown.output

    # A plain pull is recorded too (without --profile nothing is printed), and is the latest.
    again = cli("pull", "--config", config)
    assert again.exit_code == 0, again.output
    assert "profile:" not in again.output
    pulled_again = latest(load_config(config))
    assert pulled_again is not None and pulled_again.command == "pull"
    assert not [s for s in pulled_again.steps if s.parent == DBT_PARENT]


def _profile(command: str, seconds: float) -> Profile:
    profile = Profile(command, started_at=datetime.now(UTC))
    profile.add("pull x: extract", seconds)
    profile.add(DBT_PARENT, 2 * seconds)
    profile.add("model deals", seconds, parent=DBT_PARENT, detail="success")
    return profile.finish()


def _keeps_the_last_runs(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_profile, "KEEP_RUNS", 2)
    cfg = load_config(config)
    for i in range(3):
        record(cfg, _profile(f"run{i}", 1.0 + i))
        time.sleep(0.01)  # distinct started_at
    newest = latest(cfg)
    assert newest is not None and newest.command == "run2"
    assert [(s.name, s.parent) for s in newest.steps][:3] == [
        ("pull x: extract", None),
        (DBT_PARENT, None),
        ("model deals", DBT_PARENT),
    ]
    assert next(s for s in newest.steps if s.name == "model deals").seconds == 3.0
    kept = {p for p in _commands(cfg)}
    assert kept == {"run1", "run2"}


def _commands(cfg: Any) -> set[str]:
    import sqlalchemy as sa

    from hub.warehouse import Warehouse

    with Warehouse(cfg).connect() as conn:
        return set(conn.execute(sa.select(hub_profile.hub_profile.c.command)).scalars())


def test_run_log_keeps_the_last_runs_on_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keeps_the_last_runs(write_hub_yml(tmp_path, {"sources": []}), monkeypatch)


def test_run_log_keeps_the_last_runs_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_database: dict[str, Any]
) -> None:
    config = write_hub_yml(tmp_path, {"sources": [], "warehouse": pg_warehouse(pg_database)})
    _keeps_the_last_runs(config, monkeypatch)


def test_no_profile_yet(tmp_path: Path, cli) -> None:
    config = write_hub_yml(tmp_path, {"sources": []})
    assert latest(load_config(config)) is None
    shown = cli("status", "--profile", "--config", config)
    assert shown.exit_code == 0 and "no profile recorded yet" in shown.output


def test_start_up_is_timed_from_the_process_start(pipedrive: Any, tmp_path: Path) -> None:
    """Run as a user does, in its own process: the profile's first step is the start-up, from
    the process's start to hub.yml loaded. The process sleeps a known second before it even
    imports the hub, so the start-up must hold it; the total is within the process's wall time
    as its parent measures it (which adds the interpreter's exit)."""
    config = write_hub_yml(tmp_path, {"sources": [sandbox_entry(pipedrive, "pd")]})
    delay = 1.0
    entry = (
        f"import runpy, time; time.sleep({delay}); runpy.run_module('hub.cli', run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", entry, "pull", "--profile", "--config", str(config)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert START_UP in done.stdout

    profile = latest(load_config(config))
    assert profile is not None and profile.steps[0].name == START_UP
    startup = profile.steps[0].seconds
    total = next(s.seconds for s in profile.steps if s.name == "total")
    assert delay < startup < total <= wall
    assert sum(s.seconds for s in profile.top_level()) == pytest.approx(total, abs=0.01)
    # The run's start is the process's, not the moment hub.yml was loaded.
    assert profile.started_at <= datetime.now(UTC) - timedelta(seconds=total - 0.05)


def test_in_process_calls_have_no_start_up(cli, pipedrive: Any, tmp_path: Path) -> None:
    """A test's in-process call (CliRunner) started with the test process: no start-up line,
    whose figure would be the test process's age."""
    config = write_hub_yml(tmp_path, {"sources": [sandbox_entry(pipedrive, "pd")]})
    assert cli("pull", "--config", config).exit_code == 0
    profile = latest(load_config(config))
    assert profile is not None and profile.command == "pull"
    assert START_UP not in {s.name for s in profile.steps}
