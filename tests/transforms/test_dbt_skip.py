"""An incremental transform leaves out of dbt's selection the models over tables that did not
change since the last passing build (the staging views, account_fields), with their tests
(``hub/dbt_skip.py``), and runs them again the moment one of their tables changes or their
relation is gone. Real pull, real dbt, DuckDB.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from hub import dbt_project, dbt_skip
from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import TransformResult, run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config


def _project(tmp_path: Path, export: Generated) -> HubConfig:
    root = tmp_path / "project"
    shutil.copytree(export.export.out_dir, root)
    raw = yaml.safe_load((root / "hub.yml").read_text())
    raw["as_of"] = "2026-06-30T00:00:00Z"
    (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(root / "hub.yml")
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    return config


def _sql(config: HubConfig, sql: str) -> Any:
    with Warehouse(config).connect() as conn:
        return conn.execute(sa.text(sql)).all()


def _touch_a_deal(config: HubConfig, schema: str) -> None:
    """A deal the per-deal snapshot sees changed, so the next transform runs dbt."""
    _sql(
        config,
        f"UPDATE {schema}.deals SET updated_at = updated_at - interval '1 second' "
        f"WHERE deal_key = (SELECT min(deal_key) FROM {schema}.deals)",
    )


def _typed_fields(config: HubConfig, account_key: str) -> tuple[Any, ...]:
    """The account's typed custom-field columns in analytics.account_fields."""
    (row,) = _sql(
        config,
        "SELECT * EXCLUDE (account_key, source_name) FROM analytics.account_fields "
        f"WHERE account_key = '{account_key}'",
    )
    return tuple(row)


def _ran(result: TransformResult) -> set[str]:
    return {node_id for node_id, _seconds, _status in result.nodes}


def _tests_of(model: str, ran: set[str]) -> set[str]:
    return {n for n in ran if n.startswith(f"test.hub.column_rules_{model}.")}


def test_models_declare_their_tables() -> None:
    """The views over source tables alone and the copies of hub_meta's tables say so."""
    over = dbt_skip.models_over_tables(dbt_project.project_dir())
    assert over["stg_owners"] == ("owners",)
    assert over["stg_hub_fx_rates"] == ("hub_meta.hub_fx_rates",)
    assert over["account_fields"] == ("accounts", "field_definitions")
    assert "stg_deals" not in over and "int_deal_facts" not in over
    # stg_hub_stage_map's rules check its stages against stg_hub_canonical_stages
    referring = dbt_skip.tests_referring(dbt_project.project_dir())
    assert referring["stg_hub_canonical_stages"] == {"stg_hub_stage_map"}
    assert "reps" in referring and "stg_owners" not in referring


def test_unchanged_staging_left_out_changed_or_missing_run(
    tmp_path: Path, small_export: Generated
) -> None:
    config = _project(tmp_path, small_export)
    schema = f"src_{config.sources[0].name}"
    full = run_transform(config)
    assert full.plan is not None and full.plan.full and not full.failures
    ran_full = _ran(full)
    assert "model.hub.stg_owners" in ran_full and _tests_of("stg_owners", ran_full)

    # Only a deal changed: the owners view, the FX rates copy and their tests are left out;
    # the deals view and everything downstream run.
    _touch_a_deal(config, schema)
    quiet = run_transform(config)
    assert quiet.plan is not None and quiet.plan.test_changed_only and not quiet.failures
    ran = _ran(quiet)
    for model in (
        "stg_owners",
        "stg_pipelines",
        "stg_stages",
        "stg_hub_fx_rates",
        "account_fields",
    ):
        assert f"model.hub.{model}" not in ran, model
        assert not _tests_of(model, ran), model
    assert {"model.hub.stg_deals", "model.hub.int_owners_unified", "model.hub.reps"} <= ran
    assert {"stg_hub_canonical_stages", "stg_hub_stage_map"} <= set(quiet.left_out)
    assert _tests_of("stg_deals", ran) and _tests_of("reps", ran)

    # An owner's row changed: the owners view and its test run again.
    _sql(
        config,
        f"UPDATE {schema}.owners SET name = name || ' Jr' WHERE owner_key = "
        f"(SELECT min(owner_key) FROM {schema}.owners)",
    )
    _touch_a_deal(config, schema)
    changed = run_transform(config)
    assert not changed.failures
    ran = _ran(changed)
    assert "model.hub.stg_owners" in ran and _tests_of("stg_owners", ran)
    assert "model.hub.stg_pipelines" not in ran
    names = [r[0] for r in _sql(config, "SELECT rep_name FROM analytics.reps")]
    assert any(name.endswith(" Jr") for name in names), names

    # An account's custom fields are emptied: account_fields and its test run again, and the
    # account's typed columns follow.
    (key,) = _sql(
        config,
        f"SELECT min(account_key) FROM {schema}.accounts "
        "WHERE custom_fields IS NOT NULL AND CAST(custom_fields AS varchar) <> '{}'",
    )[0]
    assert key is not None and any(v is not None for v in _typed_fields(config, key))
    _sql(config, f"UPDATE {schema}.accounts SET custom_fields = '{{}}' WHERE account_key = '{key}'")
    _touch_a_deal(config, schema)
    account = run_transform(config)
    assert not account.failures
    ran = _ran(account)
    assert "model.hub.account_fields" in ran and _tests_of("account_fields", ran)
    assert "model.hub.stg_owners" not in ran
    assert all(v is None for v in _typed_fields(config, key))

    # The owners view is gone (its tables did not change): built again, not left out, so the
    # models that read it still build.
    _sql(config, "DROP VIEW hub_staging.stg_owners")
    _touch_a_deal(config, schema)
    rebuilt = run_transform(config)
    assert not rebuilt.failures
    ran = _ran(rebuilt)
    assert "model.hub.stg_owners" in ran and "model.hub.stg_pipelines" not in ran
    assert _sql(config, "SELECT count(*) FROM hub_staging.stg_owners")[0][0] > 0
