"""`hub sync` end to end on CSV: idempotent, history grows by exactly the edited step, and
the CLI's exit codes and commands behave as documented."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from hub.cli import app

TABLES = [
    "src_crm_export.deals",
    "src_crm_export.stage_changes",
    "src_crm_export.activities",
    "src_crm_export.owners",
    "src_crm_export.stage_observations",
    "analytics.deals",
    "analytics.deal_stage_history",
]


def _counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def _history(db: Path, deal_key: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT canonical_stage, entered_at FROM analytics.deal_stage_history "
            f"WHERE deal_key = '{deal_key}' ORDER BY entered_at"
        ).fetchall()


def test_sync_twice_changes_nothing_and_an_edit_adds_exactly_one_step(cli, hub_dir: Path) -> None:
    config = hub_dir / "hub.yml"
    db = hub_dir / ".hub" / "hub.duckdb"
    first = cli("sync", "--config", config)
    assert first.exit_code == 0, first.output
    assert "transform:" in first.output
    counts = _counts(db)
    assert counts["analytics.deals"] == 400

    second = cli("sync", "--config", config)
    assert second.exit_code == 0, second.output
    assert _counts(db) == counts
    with duckdb.connect(str(db), read_only=True) as con:
        for table, key in [("src_crm_export.deals", "deal_key"), ("analytics.deals", "deal_key")]:
            assert (
                con.execute(f"SELECT count(*) - count(DISTINCT {key}) FROM {table}").fetchone()[0]
                == 0
            )

    # A re-export where one open deal moved from Proposal Sent to Negotiation.
    path = hub_dir / "deals.csv"
    rows = list(csv.reader(path.open(encoding="utf-8")))
    header = rows[0]
    col = {name: header.index(name) for name in header}
    row = next(
        r for r in rows[1:] if r[col["status"]] == "open" and r[col["stage"]] == "Proposal Sent"
    )
    deal_key = f"crm_export:{row[col['deal_id']]}"
    before = _history(db, deal_key)
    assert before[-1][0] == "proposal"
    as_of = datetime(2026, 6, 30, tzinfo=UTC)
    moved_at = as_of - timedelta(hours=1)
    row[col["stage"]] = "Negotiation"
    row[col["updated_at"]] = moved_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)

    third = cli("sync", "--config", config)
    assert third.exit_code == 0, third.output
    after = _history(db, deal_key)
    assert after[:-1] == before
    assert after[-1][0] == "negotiation"
    assert after[-1][1] == moved_at
    new_counts = _counts(db)
    assert new_counts["analytics.deal_stage_history"] == counts["analytics.deal_stage_history"] + 1
    assert (
        new_counts["src_crm_export.stage_observations"]
        == counts["src_crm_export.stage_observations"] + 1
    )


def test_status_shows_runs_and_stages_strict_flags_unmapped(cli, hub_dir: Path) -> None:
    config_path = hub_dir / "hub.yml"
    raw = yaml.safe_load(config_path.read_text())
    del raw["sources"][0]["stage_map"]["*"]["Negotiation"]
    config_path.write_text(yaml.safe_dump(raw))
    assert cli("pull", "--config", config_path).exit_code == 0
    status = cli("status", "--config", config_path)
    assert status.exit_code == 0
    assert "crm_export" in status.output and "ok" in status.output
    stages = cli("stages", "--config", config_path)
    assert stages.exit_code == 0
    assert re.search(r"Negotiation.*unmapped.*negotiation", stages.output), stages.output
    strict = cli("stages", "--config", config_path, "--strict")
    assert strict.exit_code == 1


def test_exit_codes_config_error_and_partial_failure(cli, hub_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("sources: [{name: a, kind: nope}]\n")
    result = cli("pull", "--config", bad)
    assert result.exit_code == 2
    assert "'nope' is not a known connector kind" in result.output
    assert "Traceback" not in result.output

    # A file that is there but unreadable fails its source only (a missing file is a
    # configuration error: tests/test_messages.py).
    config_path = hub_dir / "hub.yml"
    (hub_dir / "empty.csv").write_text("", encoding="utf-8")
    raw = yaml.safe_load(config_path.read_text())
    broken = {
        "name": "broken",
        "kind": "csv",
        "options": {"deals": {"path": "empty.csv", "columns": {"source_deal_id": "id"}}},
    }
    raw["sources"].append(broken)
    config_path.write_text(yaml.safe_dump(raw))
    partial = cli("sync", "--config", config_path)
    assert partial.exit_code == 3, partial.output
    assert "empty.csv: the file is empty" in partial.output


def test_transform_out_of_memory_names_the_setting_to_raise(cli, hub_dir: Path) -> None:
    """dbt's DuckDB has its own limit (warehouse.transform_memory_limit); when a model runs
    out of it the message says which setting to raise, not only "Runtime Error"."""
    config_path = hub_dir / "hub.yml"
    assert cli("pull", "--config", config_path).exit_code == 0
    raw = yaml.safe_load(config_path.read_text())
    raw["warehouse"] = {**(raw.get("warehouse") or {}), "transform_memory_limit": "2MB"}
    config_path.write_text(yaml.safe_dump(raw))
    result = cli("transform", "--config", config_path)
    assert result.exit_code != 0
    assert "raise warehouse.transform_memory_limit in hub.yml (now 2MB)" in result.output
    assert "Traceback" not in result.output


def test_init_writes_a_config_that_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    target = tmp_path / "hub.yml"
    assert cli("init", "--config", target).exit_code == 0
    assert target.read_text().startswith("# hub.yml")
    again = cli("init", "--config", target)
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize(
    "command", sorted(c.name or c.callback.__name__ for c in app.registered_commands)
)
def test_every_command_is_documented_in_the_readme(command: str) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"hub {command}" in readme, f"README.md does not document 'hub {command}'"
