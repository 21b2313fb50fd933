"""hub.yml hygiene through the real ``hub`` CLI (a subprocess): secrets written into the file,
a folder passed as --config, a missing environment variable, a source name dlt would rename.

A password or token written in hub.yml (it gets committed) is refused (exit 2) unless
``allow_literal_secrets: true``, which accepts it with a warning; neither message shows the
value. The sandboxes' own entries (``hub sandbox``, ``hub demo``: throwaway tokens for a
server on 127.0.0.1) stay accepted as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness import sandbox_entry, write_hub_yml
from tests.reliability.harness import Ran, run_hub

TOKEN = "pat-na1-literal0secret-77c1"
PASSWORD = "hunter2-literal0password"


def _hub(folder: Path, config: dict[str, Any], *args: str) -> Ran:
    write_hub_yml(folder, config)
    return run_hub(*args, "--config", "hub.yml", cwd=folder)


def _clean(ran: Ran) -> None:
    assert "Traceback" not in ran.output and "unexpected error" not in ran.output, ran.output
    assert TOKEN not in ran.output and PASSWORD not in ran.output, ran.output


HUBSPOT = {"name": "hs", "kind": "hubspot", "credentials": {"token": TOKEN}}


def test_a_literal_token_is_refused_naming_the_key(tmp_path: Path) -> None:
    ran = _hub(tmp_path, {"sources": [HUBSPOT]}, "status")
    _clean(ran)
    assert ran.code == 2
    assert "sources[hs].credentials.token" in ran.stderr
    assert "env:NAME" in ran.stderr and "allow_literal_secrets" in ran.stderr


def test_a_literal_warehouse_password_is_refused(tmp_path: Path) -> None:
    warehouse = {"kind": "postgres", "host": "db.example", "user": "hub", "database": "hub"}
    ran = _hub(tmp_path, {"warehouse": {**warehouse, "password": PASSWORD}}, "status")
    _clean(ran)
    assert ran.code == 2
    assert "warehouse.password" in ran.stderr
    url = f"postgresql://hub:{PASSWORD}@db.example/hub"
    dlt_kind = {
        "kind": "dlt",
        "destination": "postgres",
        "sqlalchemy_url": url,
        "dbt_profiles_dir": ".",
        "dbt_target": "dev",
    }
    ran = _hub(tmp_path, {"warehouse": dlt_kind}, "status")
    _clean(ran)
    assert ran.code == 2
    assert "warehouse.sqlalchemy_url" in ran.stderr


def test_the_override_accepts_a_literal_token_with_a_warning(tmp_path: Path) -> None:
    ran = _hub(tmp_path, {"allow_literal_secrets": True, "sources": [HUBSPOT]}, "status")
    _clean(ran)
    assert ran.code == 0, ran.output
    assert "warning:" in ran.stderr and "sources[hs].credentials.token" in ran.stderr
    assert "no runs yet" in ran.stdout


def test_references_are_accepted_without_a_warning(tmp_path: Path) -> None:
    source = {**HUBSPOT, "credentials": {"token": "env:HUB18_TOKEN"}}
    warehouse = {"kind": "duckdb", "password": "dlt:warehouse_password"}  # a reference
    ran = _hub(tmp_path, {"warehouse": warehouse, "sources": [source]}, "status")
    assert ran.code == 0, ran.output
    assert "warning" not in ran.output


def test_a_sandbox_entry_with_its_own_token_still_syncs(sandboxes, tmp_path: Path) -> None:
    """What ``hub sandbox`` prints and ``hub demo`` writes: a literal token for 127.0.0.1."""
    entry = sandbox_entry(sandboxes("hubspot", n_deals=5), "hs")
    assert not entry["credentials"]["token"].startswith(("env:", "dlt:"))
    ran = _hub(tmp_path, {"sources": [entry]}, "pull")
    assert ran.code == 0, ran.output
    assert "warning" not in ran.output
    # the same token sent anywhere else is a secret in a file
    entry["options"]["base_url"] = "https://api.hubapi.com"
    ran = _hub(tmp_path, {"sources": [entry]}, "pull")
    assert ran.code == 2 and "sources[hs].credentials.token" in ran.stderr


def test_config_given_a_folder_is_a_config_error(tmp_path: Path) -> None:
    write_hub_yml(tmp_path, {"sources": []})
    ran = run_hub("status", "--config", str(tmp_path), cwd=tmp_path)
    assert ran.code == 2, ran.output
    assert "is a folder" in ran.stderr and f"--config {tmp_path / 'hub.yml'}" in ran.stderr
    assert "unexpected error" not in ran.output


def test_a_missing_environment_variable_names_the_source(tmp_path: Path) -> None:
    source = {**HUBSPOT, "credentials": {"token": "env:HUB18_NOT_SET"}}
    ran = _hub(tmp_path, {"sources": [source]}, "pull")
    _clean(ran)
    assert ran.code == 2
    assert "sources[hs].credentials.token" in ran.stderr
    assert "HUB18_NOT_SET is not set" in ran.stderr


@pytest.mark.parametrize("name", ["crm_", "crm²"])
def test_a_source_name_dlt_would_rename_is_a_config_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "d.csv").write_text("id\n1\n", encoding="utf-8")
    source = {"name": name, "kind": "csv", "options": {"deals": {"path": "d.csv"}}}
    ran = _hub(tmp_path, {"sources": [source]}, "sync")
    assert ran.code == 2, ran.output
    assert f"sources[{name}].name" in ran.stderr and "src_crmx" in ran.stderr
