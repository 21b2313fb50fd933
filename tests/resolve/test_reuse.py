"""Resolution before dbt is kept while the tables it reads stay the same, and a hub with one
source never reads its deals for duplicates (there is no second CRM to hold a copy)."""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa

from hub.pull import run_pull
from hub.resolve import resolve, reuse
from hub.transform import prepare_warehouse
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config


def _pull(config: HubConfig) -> None:
    (run,) = run_pull(config)
    assert run.status == "ok", run.error


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


def test_new_activities_keep_the_resolution_and_a_deal_change_resolves_again(
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

    _edit_first_row(hub_dir / "deals.csv", "deal_name", "Renamed for the test")
    _pull(config)
    changed = _digest(config)
    assert changed != kept
    prepare_warehouse(config)
    with Warehouse(config).connect() as conn:
        assert reuse.kept_warnings(conn, changed) is not None
        expected = resolve(conn, config)
        stored = conn.execute(
            sa.text("SELECT account_key, company_key FROM hub_meta.hub_account_resolution")
        ).all()
    assert sorted(map(tuple, stored)) == sorted(
        (a.account_key, a.company_key) for a in expected.accounts
    )


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
