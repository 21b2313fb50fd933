"""Commands that load nothing never import dlt (about a second of every command's start).

Loading hub.yml used to ask dlt how it would name each source's dataset; plain names
(``models.config._plain_names``) are now checked without it, and ``hub pull`` asks dlt
itself before it loads. Checked in a fresh interpreter, as a user runs the command, since
this test process has dlt loaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from models.config import load_config
from models.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MARK = "imports-probe:"

PROBE = f"""
import json, sys
from hub.cli import app
code = 0
try:
    app(sys.argv[1:], prog_name="hub")
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in sys.modules if m == "dlt" or m.startswith("dlt."))
print("{MARK}" + json.dumps({{"exit": code, "dlt": loaded[:3]}}), file=sys.stderr)
"""

LOAD_CONFIG = """
import sys
from models.config import load_config
load_config(sys.argv[1])
print(sorted(m for m in sys.modules if m == "dlt" or m.startswith("dlt."))[:3])
"""


def _run(*args: str | Path, cwd: Path = ROOT) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(),
        timeout=600,
    )
    line = next((x for x in out.stderr.splitlines() if x.startswith(MARK)), None)
    assert line is not None, out.stderr[-2000:]
    return {**json.loads(line[len(MARK) :]), "output": out.stdout + out.stderr}


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, small_export) -> tuple[Path, dict]:
    """The small export pulled, then transformed, each in its own interpreter: hub.yml and
    what the transform's probe saw."""
    folder = tmp_path_factory.mktemp("startup") / "project"
    shutil.copytree(small_export.export.out_dir, folder)
    config = folder / "hub.yml"
    pull = _run("pull", "--config", config, cwd=folder)
    assert pull["exit"] == 0, pull["output"]
    assert pull["dlt"], "a pull loads through dlt: the probe must see it"
    return config, _run("transform", "--config", config, cwd=folder)


@pytest.fixture
def pulled(synced: tuple[Path, dict]) -> Path:
    return synced[0]


def test_a_transform_imports_no_dlt(synced: tuple[Path, dict]) -> None:
    seen = synced[1]
    assert seen["exit"] == 0, seen["output"]
    assert seen["dlt"] == [], seen["dlt"]


@pytest.mark.parametrize(
    "warehouse",
    [None, {"kind": "postgres", "host": "h", "user": "u", "database": "d"}],
    ids=["duckdb", "postgres"],
)
def test_loading_hub_yml_imports_no_dlt(tmp_path: Path, warehouse: dict | None) -> None:
    config = {"sources": [{"name": "crm_export", "kind": "csv"}, {"name": "eu2", "kind": "csv"}]}
    if warehouse:
        config["warehouse"] = warehouse
    path = tmp_path / "hub.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", LOAD_CONFIG, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    )
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize(
    "command",
    [["--help"], ["status"], ["status", "--profile"], ["stages"], ["report"], ["push"]],
    ids=lambda c: " ".join(c),
)
def test_commands_that_load_nothing_import_no_dlt(pulled: Path, command: list[str]) -> None:
    args = [*command] if command == ["--help"] else [*command, "--config", str(pulled)]
    if command == ["report"]:
        args += ["--out", str(pulled.parent / "report.html")]
    seen = _run(*args, cwd=pulled.parent)
    assert seen["exit"] == 0, seen["output"]
    assert seen["dlt"] == [], seen["dlt"]


def test_the_pull_asks_dlt_under_dlts_own_settings(pulled: Path, tmp_path: Path) -> None:
    """A naming convention set in dlt's own config (here one that upper-cases) renames even a
    plain name: loading hub.yml cannot know it without dlt, the pull refuses before loading."""
    naming = tmp_path / "shouting_naming.py"
    naming.write_text(
        "from dlt.common.normalizers.naming.direct import NamingConvention as Direct\n"
        "class NamingConvention(Direct):\n"
        "    def normalize_identifier(self, identifier):\n"
        "        return super().normalize_identifier(identifier).upper()\n",
        encoding="utf-8",
    )
    folder = pulled.parent
    load_config(pulled)  # accepted: plain names
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "pull", "--config", str(pulled)],
        capture_output=True,
        text=True,
        cwd=folder,
        env={
            **_env(),
            "PYTHONPATH": f"{ROOT}:{tmp_path}",
            "SCHEMA__NAMING": "shouting_naming",
        },
        timeout=600,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "'SRC_CRM_EXPORT', not 'src_crm_export'" in out.stdout + out.stderr


def test_names_dlt_would_change_are_still_refused_at_load(tmp_path: Path) -> None:
    """Only plain names skip dlt: the others are still judged by dlt when hub.yml loads."""
    path = tmp_path / "hub.yml"
    path.write_text(yaml.safe_dump({"sources": [{"name": "crm_", "kind": "csv"}]}), "utf-8")
    with pytest.raises(ConfigError, match="'src_crmx'"):
        load_config(path)


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
@pytest.mark.parametrize(
    "names",
    [
        ["crm_export", "hubspot_eu", "2crm"],
        ["sales", "sales_staging"],  # a dataset named like another source's staging dataset
        ["a" * 51],  # src_<name>_staging is 63 characters: PostgreSQL's limit
        ["a" * 52],  # one more: dlt decides (it cuts the staging name on PostgreSQL)
        ["a" * 60],  # the dataset itself too long for PostgreSQL: refused there
        ["crm_x", "crm__x"],
    ],
    ids=["plain", "staging-collision", "at-the-limit", "past-the-limit", "too-long", "not-plain"],
)
def test_the_check_without_dlt_agrees_with_dlt(names: list[str], warehouse: str) -> None:
    """Whatever names load_config judges without dlt, dlt itself judges the same."""
    from models.config import HubConfig, _check_datasets

    raw: dict = {"sources": [{"name": n, "kind": "csv"} for n in names]}
    if warehouse == "postgres":
        raw["warehouse"] = {"kind": "postgres", "host": "h", "user": "u", "database": "d"}
    config = HubConfig.model_validate(raw)  # validated, datasets not checked yet

    def outcome(ask_dlt: bool) -> str:
        try:
            _check_datasets(config, None, ask_dlt=ask_dlt)
        except ConfigError as exc:
            return str(exc)
        return "accepted"

    assert outcome(ask_dlt=False) == outcome(ask_dlt=True)
