"""Reuse dbt's parse of the project while nothing it depends on changed.

dbt parses the whole project on every invocation unless it may reuse the parse it saved
(``partial_parse.msgpack`` in the target folder). Parsing renders every model, macro and test
(~250 nodes, whatever the data size): dbt's start before its first node took 17 s, 3.8 s
with the parse reused (300k deals, 2 cores, load 13). dbt throws its saved parse away whenever any ``--vars`` value differs, and
``as_of`` differs on every run, so the values that change from run to run (:data:`RUN_VARS`)
reach dbt as environment variables instead, read by macro ``hub_run_var`` only while
executing, never while parsing.

dbt checks its saved parse itself (vars, profile, dbt's version) and re-parses only the
files that changed, but that partial re-parse misses macro files added under a model path
(why ``dbt_project.yml`` keeps ``partial_parse: false`` for dbt run by hand). So the hub lets
dbt use a saved parse only when :func:`parse_key` (the project's files, dbt's version, the
connection, the profile, the other vars) is the one it was saved under: dbt then only ever
skips parsing an identical project; any difference deletes the saved parse and dbt parses
in full.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# dbt vars whose value changes from run to run: passed as HUB_DBT_VAR_<NAME> (JSON).
RUN_VARS = ("as_of", "hub_changed_deals", "hub_test_changed_deals", "hub_test_unchanged_tables")
SAVED_PARSE = "partial_parse.msgpack"  # dbt's file name in the target folder
KEY_FILE = "hub_parse_key"  # beside it: the key the saved parse was made under


def run_var_env(name: str) -> str:
    """The environment variable macro ``hub_run_var`` reads for ``name``."""
    return f"HUB_DBT_VAR_{name.upper()}"


def split_vars(variables: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(vars for ``--vars``, environment for the run-to-run values)."""
    static = {k: v for k, v in variables.items() if k not in RUN_VARS}
    env = {run_var_env(k): json.dumps(v) for k, v in variables.items() if k in RUN_VARS}
    return static, env


def project_files(project: Path) -> Iterator[Path]:
    """Every file of the dbt project that shapes a parse or a build, in a stable order."""
    for path in sorted([project / "dbt_project.yml", *(project / "transforms").rglob("*")]):
        if path.is_file():
            yield path


def parse_key(
    project: Path, profiles_dir: Path, dbt_env: dict[str, str], static_vars: dict[str, Any]
) -> str:
    """What a saved parse depends on. Passwords are left out (they shape no parse)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        dbt_version = version("dbt-core")
    except PackageNotFoundError:  # pragma: no cover - dbt is a dependency
        dbt_version = "unknown"
    digest = hashlib.sha256()
    connection = {k: v for k, v in dbt_env.items() if "PASSWORD" not in k.upper()}
    digest.update(json.dumps([dbt_version, connection, static_vars], sort_keys=True).encode())
    named = [(str(p.relative_to(project)), p) for p in project_files(project)]
    for name, path in [*named, ("profiles.yml", profiles_dir / "profiles.yml")]:
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


def reuse_args(target_path: Path, key: str) -> list[str]:
    """dbt's parse flag for this run: reuse the saved parse only if it was made under ``key``
    (else delete it, so dbt parses in full and saves a new one, recorded under ``key``)."""
    target_path.mkdir(parents=True, exist_ok=True)
    key_file = target_path / KEY_FILE
    saved_key = key_file.read_text(encoding="utf-8") if key_file.is_file() else None
    if saved_key != key:
        (target_path / SAVED_PARSE).unlink(missing_ok=True)
        key_file.write_text(key, encoding="utf-8")
    return ["--partial-parse"]
