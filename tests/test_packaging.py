"""The hub finds its dbt project wherever it runs: in a checkout and in a built package.

The full proof (wheel -> fresh venv -> every command from an empty folder) is
.ci/wheel-check; these are the fast checks of the same rules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from hub.dbt_project import CHECKOUT, project_dir

REPO = Path(__file__).resolve().parents[1]


def _assert_complete_project(folder: Path) -> None:
    project = yaml.safe_load((folder / "dbt_project.yml").read_text(encoding="utf-8"))
    assert (folder / "profiles.yml").is_file()
    for key in ("model-paths", "macro-paths", "test-paths"):
        for path in project[key]:
            assert (folder / path).is_dir(), f"{key} {path!r} missing under {folder}"
    assert any((folder / "transforms" / "marts").glob("*.sql"))


def test_a_checkout_runs_the_repository_dbt_project() -> None:
    assert project_dir() == CHECKOUT == REPO
    _assert_complete_project(project_dir())


@pytest.mark.slow
def test_a_built_package_carries_the_dbt_project_and_runs_its_own_copy(tmp_path: Path) -> None:
    build = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)]
        + ["build_py", "--build-lib", str(build)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    located = subprocess.run(
        [sys.executable, "-c", "from hub.dbt_project import project_dir; print(project_dir())"],
        env={**os.environ, "PYTHONPATH": str(build)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(located) == build / "hub" / "_dbt_project"
    _assert_complete_project(Path(located))


def test_hub_version_prints_the_package_version(cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"hub {version('crm-sync-hub')}"
