"""The contract every connector kind meets, parametrized over the registry.

A new kind (built in or from a `hub.connectors` entry point) gets these tests for free:
it pulls into the canonical tables with the canonical columns, unique keys, its own
source name and kind on every row, native stages that its default stage map covers, a
second unchanged pull that changes nothing, and no credential in the run log.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.registry import all_connectors
from hub.generate import Generated, csv_source_entry
from hub.pull import run_pull
from hub.stages import stage_report
from models.canonical import CANONICAL_MODELS
from models.config import UNMAPPED, HubConfig, parse_config
from tests.harness import has_sandbox, sandbox_entry, start_sandbox, stop_quietly

CONNECTORS = {c.kind: c for c in all_connectors()}
REQUIRED_TABLES = ("deals", "pipelines", "stages", "stage_changes")


@dataclass
class World:
    config: HubConfig
    secrets: list[str]
    expected_deals: int | None


def _sandbox_world(kind: str, folder: Path) -> Iterator[World]:
    sandbox = start_sandbox(kind, n_deals=60)
    try:
        entry = sandbox_entry(sandbox, f"{kind}_c")
        config = parse_config({"sources": [entry]}, folder / "hub.yml")
        expected = None
        if hasattr(sandbox, "expected_canonical"):
            expected = len(sandbox.expected_canonical(f"{kind}_c")["deals"])
        secrets = [
            v for v in entry.get("credentials", {}).values() if isinstance(v, str) and len(v) > 6
        ]
        yield World(config, secrets, expected)
    finally:
        stop_quietly([sandbox])


@pytest.fixture(params=sorted(CONNECTORS), ids=lambda kind: f"kind={kind}")
def world(
    request: pytest.FixtureRequest, tmp_path: Path, small_export: Generated
) -> Iterator[World]:
    connector = CONNECTORS[request.param]
    if has_sandbox(connector.kind):
        yield from _sandbox_world(connector.kind, tmp_path)
    elif connector.kind == "csv":
        shutil.copytree(small_export.export.out_dir, tmp_path, dirs_exist_ok=True)
        entry = csv_source_entry(small_export.export, "csv_c", small_export.export.out_dir)
        yield World(
            parse_config({"sources": [entry]}, tmp_path / "hub.yml"),
            [],
            small_export.export.row_counts["deals"],
        )
    else:
        pytest.skip(f"kind {connector.kind} ships no sandbox, so it cannot be pulled offline")


def _db(config: HubConfig) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(config.resolve_path(config.warehouse.path)), read_only=True)


def _counts(config: HubConfig, schema: str) -> dict[str, Any]:
    with _db(config) as con:
        tables = [
            r[0]
            for r in con.execute(
                f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' "
                "AND table_name NOT LIKE '_dlt%'"
            ).fetchall()
        ]
        return {t: con.execute(f"SELECT count(*) FROM {schema}.{t}").fetchone()[0] for t in tables}


def test_pull_lands_canonical_tables_with_canonical_columns_and_unique_keys(world: World) -> None:
    config = world.config
    source = config.sources[0]
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    schema = f"src_{source.name}"
    with _db(config) as con:
        present = {
            r[0]
            for r in con.execute(
                f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
            ).fetchall()
        }
        assert set(REQUIRED_TABLES) <= present
        for model in CANONICAL_MODELS:
            if model.table_name not in present:
                continue
            columns = {
                r[0] for r in con.execute(f"DESCRIBE {schema}.{model.table_name}").fetchall()
            }
            assert set(model.model_fields) <= columns, (
                model.table_name,
                set(model.model_fields) - columns,
            )
            key = ", ".join(model.primary_key)
            dupes = con.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM {schema}.{model.table_name} "
                f"GROUP BY {key} HAVING count(*) > 1)"
            ).fetchone()[0]
            assert dupes == 0, f"duplicate keys in {model.table_name}"
            wrong = con.execute(
                f"SELECT count(*) FROM {schema}.{model.table_name} WHERE source_name <> "
                f"'{source.name}' OR crm <> '{source.kind}'"
            ).fetchone()[0]
            assert wrong == 0, f"{model.table_name} rows without this source's name and kind"
        bad_keys = con.execute(
            f"SELECT count(*) FROM {schema}.deals WHERE deal_key NOT LIKE '{source.name}:%'"
        ).fetchone()[0]
        assert bad_keys == 0
        n_deals = con.execute(f"SELECT count(*) FROM {schema}.deals").fetchone()[0]
        assert con.execute(f"SELECT count(*) FROM {schema}.stage_changes").fetchone()[0] > 0
    if world.expected_deals is not None:
        assert n_deals == world.expected_deals


def test_default_stage_map_covers_the_default_pipeline(world: World) -> None:
    """The kind's shipped stage map covers its main pipeline; other pipelines may need a
    mapping in hub.yml, which `hub stages` lists."""
    (run,) = run_pull(world.config)
    assert run.status == "ok", run.error
    rows = stage_report(world.config)
    deals_per_pipeline: dict[str | None, int] = {}
    for r in rows:
        deals_per_pipeline[r.pipeline_id] = deals_per_pipeline.get(r.pipeline_id, 0) + r.deals
    main = max(deals_per_pipeline, key=lambda p: deals_per_pipeline[p])
    unmapped = [
        (r.stage_id, r.stage_label)
        for r in rows
        if r.pipeline_id == main and r.canonical_stage == UNMAPPED
    ]
    assert unmapped == []


def test_unchanged_second_pull_changes_nothing_and_run_log_has_no_secret(world: World) -> None:
    config = world.config
    schema = f"src_{config.sources[0].name}"
    (first,) = run_pull(config)
    assert first.status == "ok", first.error
    before = _counts(config, schema)
    (second,) = run_pull(config)
    assert second.status == "ok", second.error
    after = _counts(config, schema)
    assert after == before
    with _db(config) as con:
        log = " ".join(
            str(v) for row in con.execute("SELECT * FROM hub_meta.hub_runs").fetchall() for v in row
        )
    assert "ok" in log
    for secret in world.secrets:
        assert secret not in log


# ----- accounts (issue #15) -------------------------------------------------------------------
# Kinds that pull accounts, deal_accounts and field_definitions; each adds itself here.
ACCOUNT_KINDS = {"hubspot"}


def test_accounts_deal_links_and_field_definitions_hang_together(world: World) -> None:
    """Every account key a deal or association names is an account of the source, a deal
    has at most one primary account and it is deals.account_key, and every custom field an
    account or deal carries has its definition."""
    source = world.config.sources[0]
    if source.kind not in ACCOUNT_KINDS:
        pytest.skip(f"kind {source.kind} does not pull accounts yet")
    (run,) = run_pull(world.config)
    assert run.status == "ok", run.error
    s = f"src_{source.name}"
    with _db(world.config) as con:

        def one(sql: str) -> Any:
            return con.execute(sql).fetchone()[0]

        assert one(f"SELECT count(*) FROM {s}.accounts") > 0
        assert one(f"SELECT count(*) FROM {s}.deal_accounts") > 0
        assert one(f"SELECT count(*) FROM {s}.deals WHERE account_key IS NOT NULL") > 0
        orphans = f"""
            SELECT count(*) FROM (
                SELECT account_key FROM {s}.deals WHERE account_key IS NOT NULL
                UNION ALL SELECT account_key FROM {s}.deal_accounts
            ) k WHERE account_key NOT IN (SELECT account_key FROM {s}.accounts)"""
        assert one(orphans) == 0
        assert (
            one(
                f"SELECT count(*) FROM {s}.deal_accounts "
                f"WHERE deal_key NOT IN (SELECT deal_key FROM {s}.deals)"
            )
            == 0
        )
        primaries = f"""
            SELECT count(*) FROM {s}.deals d FULL JOIN (
                SELECT deal_key, min(account_key) AS account_key, count(*) AS n
                FROM {s}.deal_accounts WHERE is_primary GROUP BY deal_key
            ) p USING (deal_key)
            WHERE p.n > 1 OR d.account_key IS DISTINCT FROM p.account_key"""
        assert one(primaries) == 0
        assert (
            one(
                f"SELECT count(*) FROM {s}.field_definitions WHERE field_key <> "
                f"source_name || ':' || entity || ':' || column_name "
                f"OR entity NOT IN ('deal', 'account')"
            )
            == 0
        )
        for table, entity in (("accounts", "account"), ("deals", "deal")):
            undefined = f"""
                SELECT count(*) FROM (
                    SELECT unnest(json_keys(custom_fields)) AS column_name
                    FROM {s}.{table} WHERE custom_fields IS NOT NULL
                ) f WHERE column_name NOT IN (
                    SELECT column_name FROM {s}.field_definitions WHERE entity = '{entity}'
                )"""
            assert one(undefined) == 0, f"{table} carry custom fields without a definition"
