"""`warehouse: {kind: dlt}` reaches any dlt/dbt warehouse; proven here with DuckDB itself,
configured the way docs/warehouses.md tells a Snowflake or BigQuery user to do it."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from hub.generate import Generated
from models.config import load_config
from models.errors import ConfigError


def test_generic_warehouse_runs_sync_through_dlt_destination_and_own_dbt_profile(
    cli, tmp_path: Path, small_export: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    shutil.copytree(small_export.export.out_dir, project)
    database = tmp_path / "elsewhere" / "warehouse.duckdb"
    database.parent.mkdir()
    profiles = tmp_path / "my_profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        yaml.safe_dump(
            {
                "hub": {
                    "target": "mine",
                    "outputs": {"mine": {"type": "duckdb", "path": str(database), "threads": 1}},
                }
            }
        )
    )
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(database))
    monkeypatch.setenv("MY_WAREHOUSE_URL", f"duckdb:///{database}")
    raw = yaml.safe_load((project / "hub.yml").read_text())
    raw["warehouse"] = {
        "kind": "dlt",
        "destination": "duckdb",
        "sqlalchemy_url": "env:MY_WAREHOUSE_URL",
        "dbt_profiles_dir": str(profiles),
        "dbt_target": "mine",
    }
    (project / "hub.yml").write_text(yaml.safe_dump(raw))

    result = cli("sync", "--config", project / "hub.yml")
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM analytics.deals").fetchone()[0] == 400
        assert con.execute("SELECT count(*) FROM hub_meta.hub_runs").fetchone()[0] == 1
    assert not (project / ".hub" / "hub.duckdb").exists()


def test_generic_warehouse_config_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "hub.yml").write_text("warehouse: {kind: dlt, destination: snowflake}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "hub.yml")
    assert "sqlalchemy_url, dbt_profiles_dir, dbt_target" in str(info.value)
