"""An edited mapping re-reads an unchanged file, and the run says so (issue #14 item 4).

A file's fingerprint is its sha256 and a digest of every option that shapes its rows, so
changing ``columns``, ``value_maps``, ``status_from_stage``, ``stage_dates``, ``defaults``
or ``custom_fields`` (or the date, number and encoding options) reads the file again, and
the progress line names what changed. Options that do not change rows (``chunk_rows``,
``fast_path``) do not.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.csv_helpers import MAVEN_HEADER, csv_config, pull, query

ROWS = (
    "W1,Moses,GTX,Cancity,Won,2016-10-20,2017-03-01,1054\n"
    "L1,Darcel,GTX,Isdom,Lost,2016-10-25,2017-03-11,0\n"
    "E1,Darcel,MG,Cancity,Engaging,2016-10-25,,\n"
)
DEALS: dict[str, Any] = {
    "path": "p.csv",
    "columns": {"source_deal_id": "opportunity_id", "stage_id": "deal_stage"},
}


def _edit(name: str, deals: dict[str, Any]) -> str:
    """Apply one edit; returns the SQL whose answer it changes."""
    if name == "columns":
        deals["columns"]["owner_id"] = "sales_agent"
        return "SELECT count(owner_id) FROM src_exp.deals"
    if name == "value_maps":
        deals["value_maps"] = {"stage_id": {"Engaging": "Qualified"}}
        return "SELECT count(*) FROM src_exp.deals WHERE stage_id = 'Qualified'"
    if name == "status_from_stage":
        deals["status_from_stage"] = {"Won": "won"}
        return "SELECT count(*) FROM src_exp.deals WHERE status = 'won'"
    if name == "stage_dates":
        deals["stage_dates"] = {"Engaging": "engage_date"}
        return "SELECT count(*) FROM src_exp.stage_changes"
    if name == "defaults":
        deals["defaults"] = {"currency": "EUR"}
        return "SELECT count(*) FROM src_exp.deals WHERE currency = 'EUR'"
    if name == "custom_fields":
        deals["custom_fields"] = ["product"]
        return "SELECT count(custom_fields) FROM src_exp.deals"
    raise AssertionError(name)


@pytest.mark.parametrize(
    "option",
    ["columns", "value_maps", "status_from_stage", "stage_dates", "defaults", "custom_fields"],
)
def test_an_edited_option_reads_the_unchanged_file_again(tmp_path: Path, option: str) -> None:
    (tmp_path / "p.csv").write_text(MAVEN_HEADER + "\n" + ROWS)
    deals = copy.deepcopy(DEALS)
    config = csv_config(tmp_path, deals)
    assert pull(config).status == "ok"
    assert pull(config).rows == {}  # unchanged file, unchanged mapping: nothing read

    check = _edit(option, deals)
    before = query(config, check) if option != "stage_dates" else [(0,)]
    run = pull(csv_config(tmp_path, deals))
    assert run.status == "ok", run.error
    assert run.rows.get("deals") == 3
    assert run.notes == [f"p.csv read again: its mapping changed ({option})"]
    assert query(config, check) != before

    again = pull(csv_config(tmp_path, deals))
    assert again.rows == {} and again.notes == []


def test_options_that_do_not_shape_rows_do_not_reread(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(MAVEN_HEADER + "\n" + ROWS)
    assert pull(csv_config(tmp_path, DEALS)).status == "ok"
    run = pull(csv_config(tmp_path, DEALS, chunk_rows=100, fast_path=False))
    assert run.rows == {} and run.notes == []


def test_max_amount_and_date_options_shape_rows(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(MAVEN_HEADER + "\n" + ROWS)
    deals = copy.deepcopy(DEALS)
    deals["columns"]["amount"] = "close_value"
    assert pull(csv_config(tmp_path, deals)).status == "ok"
    run = pull(csv_config(tmp_path, deals, max_amount=1000))
    assert run.notes == ["p.csv read again: its mapping changed (max_amount)"]
    assert run.quarantined == 1  # 1054 is now above max_amount
    deals["day_first"] = True
    deals["timezone"] = "Europe/Berlin"
    run = pull(csv_config(tmp_path, deals, max_amount=1000))
    assert run.notes == ["p.csv read again: its mapping changed (day_first, timezone)"]


def test_a_warehouse_from_before_the_options_were_recorded_reads_once_more(
    tmp_path: Path,
) -> None:
    """State written by an older hub has the file's sha256 but no options: the file is read
    once more (its mapping may have changed since), then skipped as usual."""
    import dlt

    (tmp_path / "p.csv").write_text(MAVEN_HEADER + "\n" + ROWS)
    config = csv_config(tmp_path, DEALS)
    assert pull(config).status == "ok"
    pipeline = dlt.attach("hub_exp", pipelines_dir=str(config.hub_dir / "pipelines"))
    with pipeline.managed_state(extract_state=True) as state:
        resource = state["sources"]["csv_exp"]["resources"]["deals_file"]
        del resource["options"]
    run = pull(config)
    assert run.notes == [
        "p.csv read again: the last load did not record the options it was read with"
    ]
    assert pull(config).notes == []


def test_the_progress_line_says_the_file_was_read_again(tmp_path: Path, cli) -> None:
    (tmp_path / "p.csv").write_text(MAVEN_HEADER + "\n" + ROWS)
    deals = copy.deepcopy(DEALS)
    hub_yml = tmp_path / "hub.yml"
    raw = {"sources": [{"name": "exp", "kind": "csv", "options": {"deals": deals}}]}
    hub_yml.write_text(yaml.safe_dump(raw))
    assert cli("pull", "--config", hub_yml).exit_code == 0
    deals["defaults"] = {"currency": "EUR"}
    hub_yml.write_text(yaml.safe_dump(raw))
    result = cli("pull", "--config", hub_yml)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.lstrip().startswith("pull exp"))
    assert " ok " in line, line
    assert "p.csv read again: its mapping changed (defaults)" in line, line
