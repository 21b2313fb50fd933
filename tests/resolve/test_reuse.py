"""Resolution before dbt is kept while the tables it reads stay the same, and a hub with one
source never reads its deals for duplicates (there is no second CRM to hold a copy), so a
change of its deals keeps the resolution too."""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
import yaml

from hub.pull import run_pull
from hub.resolve import resolve, reuse
from hub.transform import prepare_warehouse
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.resolve.checks import assert_resolution_current


def _pull(config: HubConfig) -> None:
    runs = run_pull(config)
    assert runs and all(run.status == "ok" for run in runs), [run.error for run in runs]


def _digest(config: HubConfig) -> str:
    with Warehouse(config).connect() as conn:
        return reuse.inputs_digest(conn, config)


def _edit_first_row(path: Path, column: str, value: str) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    rows[0][column] = value
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def test_new_activities_or_deals_of_one_source_keep_the_resolution_an_account_change_not(
    hub_dir: Path,
) -> None:
    config = load_config(hub_dir / "hub.yml")
    _pull(config)
    prepare_warehouse(config)
    kept = _digest(config)
    with Warehouse(config).connect() as conn:
        assert reuse.kept_warnings(conn, kept) is not None  # stored with this digest

    _edit_first_row(hub_dir / "activities.csv", "occurred_at", "2026-06-01T08:00:00Z")
    _pull(config)
    assert _digest(config) == kept  # activities are not read by resolution
    # nor, with one source, deals: duplicate detection has no second CRM to look in
    _edit_first_row(hub_dir / "deals.csv", "deal_name", "Renamed for the test")
    _pull(config)
    assert _digest(config) == kept
    prepare_warehouse(config)
    assert_resolution_current(config)

    _edit_first_row(hub_dir / "accounts.csv", "name", "Renamed Company for the test")
    _pull(config)
    _assert_resolved_again(config, kept)


def test_with_two_sources_a_deal_change_resolves_again(hub_dir: Path) -> None:
    raw = yaml.safe_load((hub_dir / "hub.yml").read_text(encoding="utf-8"))
    raw["sources"].append({**raw["sources"][0], "name": "crm_copy"})  # the same export twice
    (hub_dir / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    config = load_config(hub_dir / "hub.yml")
    _pull(config)
    prepare_warehouse(config)
    kept = _digest(config)
    assert_resolution_current(config)
    with Warehouse(config).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM hub_meta.hub_deal_duplicates")).scalar()

    _edit_first_row(hub_dir / "deals.csv", "deal_name", "Renamed for the test")
    _pull(config)
    _assert_resolved_again(config, kept)


def test_one_source_reads_no_deals_for_duplicates(hub_dir: Path) -> None:
    config = load_config(hub_dir / "hub.yml")
    assert len([s for s in config.sources if s.enabled]) == 1 and config.duplicates.enabled
    _pull(config)
    with Warehouse(config).connect() as conn:
        n_deals = conn.execute(sa.text("SELECT count(*) FROM src_crm_export.deals")).scalar()
        result = resolve(conn, config)
    assert n_deals and n_deals > 300
    assert result.deals_read == 0 and result.duplicates == []
    assert result.accounts  # account resolution itself still runs


def _assert_resolved_again(config: HubConfig, kept: str) -> None:
    """The pulled change is one resolution reads: a new digest, resolved and stored again."""
    changed = _digest(config)
    assert changed != kept
    prepare_warehouse(config)
    with Warehouse(config).connect() as conn:
        assert reuse.kept_warnings(conn, changed) is not None
    assert_resolution_current(config)
