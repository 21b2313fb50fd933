"""The contract every connector kind meets, parametrized over the registry.

A new kind (built in or from a `hub.connectors` entry point) gets these tests for free:
it pulls into the canonical tables with the canonical columns, unique keys, its own
source name and kind on every row, native stages that its default stage map covers, a
second unchanged pull that changes nothing, and no credential in the run log. Kinds that
pull accounts (``ACCOUNT_KINDS``) also land them keyed, with normalised domains, deals
linked to one primary account, and custom-field values in their declared types.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.registry import all_connectors
from connectors.values import web_domain
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
    yield from _world_of(request.param, tmp_path, small_export)


def _world_of(kind: str, tmp_path: Path, small_export: Generated) -> Iterator[World]:
    connector = CONNECTORS[kind]
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


# ----- accounts and custom fields (issue #15) -------------------------------------------------

ACCOUNT_KINDS = {"csv", "hubspot", "pipedrive", "salesforce"}
# The custom fields every generated source serves, with the type each must keep.
VOCABULARY = {
    "lead_source": "enum",
    "legacy_id": "text",
    "segment": "enum",
    "employees": "number",
}  # kinds that pull accounts; each adds itself when it does
_JSON_TYPES = {  # FieldDefinition.data_type -> the JSON types DuckDB may report for it
    "text": {"VARCHAR"},
    "enum": {"VARCHAR"},
    "date": {"VARCHAR"},
    "datetime": {"VARCHAR"},
    "number": {"UBIGINT", "BIGINT", "DOUBLE"},
    "bool": {"BOOLEAN"},
}


@pytest.fixture(params=sorted(ACCOUNT_KINDS & set(CONNECTORS)), ids=lambda k: f"kind={k}")
def account_world(
    request: pytest.FixtureRequest, tmp_path: Path, small_export: Generated
) -> Iterator[World]:
    """The world of a kind that pulls accounts (the others are not started for nothing)."""
    yield from _world_of(request.param, tmp_path, small_export)


def test_accounts_land_keyed_with_normalised_domains_and_deals_link_to_them(
    account_world: World,
) -> None:
    world = account_world
    source = world.config.sources[0]
    (run,) = run_pull(world.config)
    assert run.status == "ok", run.error
    schema = f"src_{source.name}"
    with _db(world.config) as con:
        accounts = con.execute(
            f"SELECT account_key, source_account_id, website, domain FROM {schema}.accounts"
        ).fetchall()
        assert accounts
        for key, native, website, domain in accounts:
            assert key == f"{source.name}:{native}"
            assert domain is None or web_domain(domain) == domain, domain  # normalised
            assert domain is not None or web_domain(website) is None, website
        primaries = dict(
            con.execute(
                f"SELECT deal_key, account_key FROM {schema}.deal_accounts WHERE is_primary"
            ).fetchall()
        )
        assert (
            con.execute(
                f"SELECT count(*) FROM {schema}.deal_accounts WHERE is_primary GROUP BY deal_key "
                "HAVING count(*) > 1"
            ).fetchall()
            == []
        )
        linked = dict(
            con.execute(
                f"SELECT deal_key, account_key FROM {schema}.deals WHERE account_key IS NOT NULL"
            ).fetchall()
        )
        assert linked and linked == primaries


def test_custom_field_values_have_the_type_their_definition_declares(
    account_world: World,
) -> None:
    world = account_world
    source = world.config.sources[0]
    (run,) = run_pull(world.config)
    assert run.status == "ok", run.error
    schema = f"src_{source.name}"
    with _db(world.config) as con:
        definitions = {
            (entity, column): data_type
            for key, entity, column, data_type in con.execute(
                f"SELECT field_key, entity, column_name, data_type FROM {schema}.field_definitions"
            ).fetchall()
            if key == f"{source.name}:{entity}:{column}"
        }
        assert definitions
        for entity, table in (("deal", "deals"), ("account", "accounts")):
            seen = con.execute(
                f"SELECT k, json_type(custom_fields, '$.' || k), count(*) FROM {schema}.{table}, "
                "unnest(json_keys(custom_fields)) AS t(k) GROUP BY ALL"
            ).fetchall()
            for column, json_type, _ in seen:
                declared = definitions.get((entity, column))
                assert declared is not None, f"{table}.custom_fields.{column} has no definition"
                assert json_type in _JSON_TYPES[declared], (table, column, json_type, declared)


def test_accounts_link_every_deal_and_custom_fields_are_described(account_world: World) -> None:
    """Every deal's account_key is an account of the source and its one primary link in
    deal_accounts; domains are values.web_domain of the website; every custom_fields key
    has a field_definitions row, and option fields hold labels, never ids."""
    world = account_world
    source = world.config.sources[0]
    (run,) = run_pull(world.config)
    assert run.status == "ok", run.error
    s = f"src_{source.name}"
    with _db(world.config) as con:

        def one(sql: str) -> Any:
            return con.execute(sql).fetchone()[0]

        assert one(f"SELECT count(*) FROM {s}.accounts") > 0
        assert one(f"SELECT count(*) FROM {s}.deals WHERE account_key IS NOT NULL") > 0
        dangling = one(
            f"SELECT count(*) FROM {s}.deals d WHERE d.account_key IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {s}.accounts a WHERE a.account_key = d.account_key)"
        )
        assert dangling == 0, "deals point at accounts the source did not land"
        mismatched = one(
            f"SELECT count(*) FROM {s}.deals d LEFT JOIN {s}.deal_accounts l "
            "ON l.deal_key = d.deal_key AND l.is_primary "
            "WHERE coalesce(l.account_key, '') <> coalesce(d.account_key, '')"
        )
        assert mismatched == 0, "deals.account_key is not the deal's primary link"
        assert (
            one(
                f"SELECT coalesce(max(n), 1) FROM (SELECT count(*) AS n FROM {s}.deal_accounts "
                "WHERE is_primary GROUP BY deal_key)"
            )
            == 1
        )
        dangling = one(
            f"SELECT count(*) FROM {s}.deal_accounts l LEFT JOIN {s}.deals d USING (deal_key) "
            f"LEFT JOIN {s}.accounts a ON a.account_key = l.account_key "
            "WHERE d.deal_key IS NULL OR a.account_key IS NULL"
        )
        assert dangling == 0, "deal_accounts links a deal or account the source did not land"
        for website, domain in con.execute(f"SELECT website, domain FROM {s}.accounts").fetchall():
            assert domain == web_domain(website), website
        types = {
            (entity, column): data_type
            for entity, column, data_type in con.execute(
                f"SELECT entity, column_name, data_type FROM {s}.field_definitions"
            ).fetchall()
        }
        for (_, column), data_type in types.items():
            assert VOCABULARY.get(column, data_type) == data_type, column
        for table, entity in (("deals", "deal"), ("accounts", "account")):
            rows = con.execute(
                f"SELECT custom_fields FROM {s}.{table} WHERE custom_fields IS NOT NULL"
            ).fetchall()
            for (custom,) in rows:
                for column, value in json.loads(custom).items():
                    assert (entity, column) in types, f"{entity}.{column} has no definition"
                    if types[entity, column] == "enum":
                        labels = value if isinstance(value, list) else [value]
                        assert all(isinstance(v, str) and not v.isdigit() for v in labels)
