"""Shared fixtures: generated exports, isolated hub folders, and a CLI runner."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

from hub.generate import Generated, generate  # noqa: E402


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


from tests.pg import pg_database, pg_server  # noqa: E402, F401  (PostgreSQL fixtures)
