"""On DuckDB a table or view model is one ``create or replace`` (transforms/macros/
duckdb_materializations.sql), not dbt's build-under-a-temporary-name, rename and drop.

Real pull, real dbt, real DuckDB: the statements dbt logged for a table and a view model
are one ``create or replace`` each, with no backup or temporary relation; a relation of the
other kind under a model's name (a view where a table model lives, and the reverse) is
replaced by the model's kind with the model's rows; nothing temporary is left behind. An
incremental model is one ``create or replace table`` on a full refresh and, on an
incremental run, its pre-hook's delete and one ``insert into ... by name``: no temporary
table, no rename.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
import yaml

from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config


def _config(root: Path, as_of: str) -> HubConfig:
    raw = yaml.safe_load((root / "hub.yml").read_text())
    raw["as_of"] = as_of
    (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(root / "hub.yml")


def _kinds(config: HubConfig) -> dict[str, str]:
    with Warehouse(config).connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_schema || '.' || table_name, table_type "
                "FROM information_schema.tables WHERE table_schema IN "
                "('hub_staging', 'analytics', 'outbound')"
            )
        ).all()
    return {name: kind for name, kind in rows}


def _rows(config: HubConfig, sql: str) -> list[tuple[object, ...]]:
    with Warehouse(config).connect() as conn:
        return sorted(conn.execute(sa.text(sql)).all(), key=repr)


def test_duckdb_models_are_replaced_in_one_statement(
    tmp_path: Path, small_export: Generated
) -> None:
    root = tmp_path / "project"
    shutil.copytree(small_export.export.out_dir, root)
    config = _config(root, "2026-06-30T00:00:00Z")
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    first = run_transform(config)
    assert first.plan is not None and first.plan.full and not first.failures
    win_rate = _rows(config, "SELECT * FROM analytics.win_rate")
    deals = _rows(config, "SELECT deal_key, deal_name FROM analytics.deals")
    assert win_rate and deals

    # Each model under the other kind of relation, as a changed materialization leaves it.
    with Warehouse(config).connect() as conn:
        conn.execute(sa.text("DROP TABLE analytics.win_rate"))
        conn.execute(sa.text("CREATE VIEW analytics.win_rate AS SELECT 1 AS stale"))
        conn.execute(sa.text("DROP VIEW analytics.deals"))
        conn.execute(sa.text("CREATE TABLE analytics.deals AS SELECT 1 AS stale"))
        conn.commit()

    log = config.hub_dir / "dbt" / "logs" / "dbt.log"
    offset = log.stat().st_size
    second = run_transform(config, full_refresh=True)
    assert second.plan is not None and not second.failures
    kinds = _kinds(config)
    assert kinds["analytics.win_rate"] == "BASE TABLE"
    assert kinds["analytics.deals"] == "VIEW"
    assert _rows(config, "SELECT * FROM analytics.win_rate") == win_rate
    assert _rows(config, "SELECT deal_key, deal_name FROM analytics.deals") == deals
    assert not [name for name in kinds if "__dbt_" in name]  # no temporary or backup left

    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        logged = handle.read().lower()
    assert 'create or replace table "hub"."analytics"."win_rate"' in logged
    assert 'create or replace view "hub"."analytics"."deals"' in logged
    assert 'create or replace table "hub"."hub_staging"."int_deal_created"' in logged
    # dbt's own materializations (dbt-duckdb's incremental one too) built under __dbt_tmp and
    # renamed through __dbt_backup; none does now.
    assert " rename to " not in logged
    assert "__dbt_tmp" not in logged

    # An incremental run: the changed deal's rows deleted, the query inserted by name.
    source = f"src_{config.sources[0].name}"
    with Warehouse(config).connect() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {source}.deals SET updated_at = updated_at - interval '1 second' "
                f"WHERE deal_key = (SELECT min(deal_key) FROM {source}.deals)"
            )
        )
        conn.commit()
    offset = log.stat().st_size
    third = run_transform(config)
    assert third.plan is not None and not third.plan.full and not third.failures
    assert third.plan.changed_deals == 1
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        logged = handle.read().lower()
    assert 'insert into "hub"."hub_staging"."int_deal_created" by name' in logged
    assert 'delete from "hub"."hub_staging"."int_deal_created"' in logged
    assert " rename to " not in logged
    assert "__dbt_tmp" not in logged
    assert _rows(config, "SELECT deal_key, deal_name FROM analytics.deals") == deals
