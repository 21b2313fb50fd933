"""Shared fixtures: generated exports, isolated hub folders, a CLI runner, virtual time and
sandboxes (see tests/harness.py); and how `pytest -n` (pytest-xdist) groups the tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

from connectors.sandbox import SandboxServer  # noqa: E402
from hub.generate import Generated, generate  # noqa: E402
from tests.harness import VirtualClock, start_sandbox, stop_quietly  # noqa: E402


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """400 generated deals as CSV, with the hub.yml that reads them (read-only: copy it)."""
    return generate(tmp_path_factory.mktemp("export"), seed=7, deals=400)


@pytest.fixture
def hub_dir(tmp_path: Path, small_export: Generated) -> Path:
    """A private copy of the small export and its hub.yml."""
    target = tmp_path / "project"
    shutil.copytree(small_export.export.out_dir, target)
    return target


def write_config(folder: Path, config: dict) -> Path:
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def cli() -> Callable[..., object]:
    from hub.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        # Wide enough that rich tables are not truncated in captured output.
        return runner.invoke(
            app, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": "200"}
        )

    return invoke


@pytest.fixture
def virtual_clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """Sleeps in the HTTP clients advance virtual time instead of waiting."""
    return VirtualClock().install(monkeypatch)


@pytest.fixture
def sandboxes() -> Iterator[Callable[..., SandboxServer]]:
    """``start(kind, **kwargs)``: a sandbox from the registry, stopped after the test."""
    started: list[SandboxServer] = []

    def start(kind: str, **kwargs: Any) -> SandboxServer:
        started.append(start_sandbox(kind, **kwargs))
        return started[-1]

    yield start
    stop_quietly(started)


from tests.pg import pg_database, pg_server  # noqa: E402, F401  (PostgreSQL fixtures)

# ----- parallel runs (`make test` runs `pytest -n 2 --dist loadgroup`) --------------------------

# Session fixtures that cost a dbt build or a whole sync. Each xdist worker builds its own
# copy of a session fixture, so every file that uses one runs on the same worker. Matched by
# name and session scope: tests/csv_exports has a module fixture also called `built`.
SHARED_SESSION_FIXTURES = ("built", "report_world", "driven_book")

# The groups that take longest, longest first (by `--durations` of a two-worker run), handed
# out before the others so that no long group starts near the end of a run: xdist would hand
# groups out by their number of tests, and the one-test incremental parity groups, the
# longest, came last. Only the order matters; keep it in step when a group grows or shrinks.
# Groups of few tests that still take 15 s or more are listed too: unlisted, they went out
# last (test_incremental_data_tests last of all, test_column_rules' 140 s as 95th of 130).
LONG_GROUPS_FIRST = (
    "tests/transforms/test_column_rules.py",  # four tests, each a pull and six transforms
    "incremental-postgres",  # seven transforms on PostgreSQL
    "tests/push/test_scale.py",  # two pushes of 10,000 scores
    "tests/transforms/test_incremental.py",  # seven transforms on DuckDB
    "tests/reliability/test_crash.py",
    "tests/csv_exports/test_vendor_exports.py",  # six pulls and dbt builds
    "tests/reliability/test_secrets.py",  # every hub command as a subprocess
    "tests/score/test_hourly_sync.py",  # two days of syncs and fits, DuckDB and PostgreSQL
    "session:report_world",  # hub demo, then Chromium
    "session:built",  # one dbt build, then dbt runs of a few models
    "tests/postgres/test_postgres_warehouse.py",
    "tests/reliability/test_disk_full.py",
    "tests/hubspot/test_search_cap.py",  # 30,000 deals past the search cap
    "tests/report/test_report_hostile.py",
    "tests/reliability/test_atomic_transform.py",
    "tests/reliability/test_concurrency.py",
    "tests/test_end_to_end.py",
    "tests/test_bench_smoke.py",
    "tests/transforms/test_dbt_skip.py",  # 27 s in one test; unlisted, 110th of 148 files
    "tests/transforms/test_dbt_parse.py",
    "tests/transforms/test_incremental_data_tests.py",
    "tests/reliability/test_hostile_text.py",
    "tests/transforms/test_duckdb_materializations.py",
    "tests/score/test_columnar.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """The controller hands out groups in collection order (ours, below), not by size."""
    if getattr(config.option, "dist", "no") == "loadgroup":
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, one xdist group per test file (its module fixtures are built
    once), and one group for all the files that use the same costly session fixture; the
    long groups first, then the others by number of tests, most first."""
    if not config.getoption("loadgroup", default=False):
        return
    groups = xdist_groups(items)
    for item, group in zip(items, groups, strict=True):
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))
    named = [_group_of(item) for item in items]
    items[:] = [items[i] for i in schedule_order(named)]


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_tag_ids(config: pytest.Config, items: list[pytest.Item]) -> None:
    """xdist's controller reads a test's group from the ``@group`` end of its id, which xdist
    writes to ``item._nodeid``; pytest 9 reads ids from ``item._id``, so the suffix was lost
    and every test was a group of its own (the costly fixtures built once per test batch on
    each worker). Write the suffix where the running pytest keeps the id."""
    if not config.getoption("loadgroup", default=False):
        return
    for item in items:  # after xdist's own hook (this one runs last)
        suffix = "@" + _group_of(item)
        if not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = type(item._id).parse(item.nodeid + suffix)


def _group_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    assert marker is not None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))


def schedule_order(groups: list[str]) -> list[int]:
    """Item indexes grouped by group (first appearance order kept within), the groups of
    LONG_GROUPS_FIRST first in that order, then the rest by number of tests, most first."""
    members: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    rank = {group: position for position, group in enumerate(LONG_GROUPS_FIRST)}
    ordered = sorted(
        members,
        key=lambda g: (rank.get(g, len(rank)), -len(members[g]) if g not in rank else 0),
    )
    return [index for group in ordered for index in members[group]]


def xdist_groups(items: list[pytest.Item]) -> list[str]:
    """Each item's group: its file, or the files it shares a costly session fixture with."""
    files = [item.nodeid.split("::", 1)[0] for item in items]
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for item, file in zip(items, files, strict=True):
        for fixture in SHARED_SESSION_FIXTURES:
            if _uses_session_fixture(item, fixture):
                parent[root(file)] = root(f"session:{fixture}")
    return [root(file) for file in files]


def _uses_session_fixture(item: pytest.Item, name: str) -> bool:
    """Whether ``item`` asks for the session-scoped fixture ``name`` (not a namesake)."""
    if name not in getattr(item, "fixturenames", ()):
        return False
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.get(name, ()) if info is not None else ()
    return bool(definitions) and definitions[-1].scope == "session"
