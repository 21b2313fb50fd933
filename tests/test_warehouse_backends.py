"""The warehouse's kind-specific parts (hub.warehouse.backends) and the stage-map defaults,
on real configs: a refused connection is one line naming the configured warehouse, and a
source whose connector is not installed still gets hub.yml's own stage map."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.warehouse import Warehouse, stage_map_rows
from models.config import ANY_PIPELINE, load_config
from models.errors import WarehouseError


def test_a_refused_dlt_warehouse_connection_names_the_dlt_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNREACHABLE_URL", "postgresql+psycopg2://hub@127.0.0.1:1/analytics")
    (tmp_path / "hub.yml").write_text(
        "warehouse: {kind: dlt, destination: postgres, sqlalchemy_url: env:UNREACHABLE_URL, "
        "dbt_profiles_dir: profiles, dbt_target: prod}\n"
    )
    with (
        pytest.raises(WarehouseError) as info,
        Warehouse(load_config(tmp_path / "hub.yml")).connect(),
    ):
        pass
    message = str(info.value)
    assert message.startswith("dlt destination postgres (dbt target prod): ")
    assert "\n" not in message


def test_a_kind_not_installed_here_keeps_the_stage_map_of_hub_yml(tmp_path: Path) -> None:
    (tmp_path / "hub.yml").write_text(
        "sources:\n"
        "  - {name: mine, kind: not_installed, stage_map: {'*': {Talking: qualification}}}\n"
        "  - {name: pd, kind: pipedrive}\n"
    )
    rows = stage_map_rows(load_config(tmp_path / "hub.yml"))
    assert [r for r in rows if r["source_name"] == "mine"] == [
        {
            "source_name": "mine",
            "pipeline": ANY_PIPELINE,
            "native_stage": "Talking",
            "canonical_stage": "qualification",
        }
    ]
    assert any(r["source_name"] == "pd" for r in rows)  # pipedrive's defaults still apply
