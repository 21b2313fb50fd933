"""``stage_history`` reads long-form change logs directly (issue #14 item 8).

A change log is one row per change of any field. ``where`` keeps the stage rows; owner,
amount and status changes never become stage events; a row that keeps its stage is no move;
stage ids in the log are translated to the deals file's labels with ``value_maps``. The
fixtures are the vendor layouts of tests/csv_exports (see its README).
"""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.csv_helpers import csv_config, pull, query

EXPORTS = Path(__file__).parent / "csv_exports"
SF_DEALS = {
    "path": "report1735722300000.csv",
    "columns": {"source_deal_id": "Opportunity ID", "stage_id": "Stage"},
    "status_from_stage": {"Closed Won": "won", "Closed Lost": "lost"},
}
SF_FIELD_HISTORY = {
    "path": "report1735722420000.csv",
    "columns": {
        "deal_id": "Opportunity ID",
        "stage_id": "New Value",
        "from_stage_id": "Old Value",
        "changed_at": "Edit Date",
        "changed_by": "Edited By",
    },
    "where": {"Field / Event": "Stage"},
}


def _raw(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return [dict(zip(header, r, strict=True)) for r in reader if len(r) == len(header)]


def _events(config: Any) -> set[tuple]:
    return set(
        query(
            config,
            "SELECT d.source_deal_id, c.stage_id, c.from_stage_id, c.changed_at, c.changed_by "
            "FROM src_exp.stage_changes c JOIN src_exp.deals d USING (deal_key) "
            "WHERE c.origin = 'crm_history'",
        )
    )


def test_salesforce_field_history_gives_exactly_its_stage_rows(tmp_path: Path) -> None:
    for name in ("report1735722300000.csv", "report1735722420000.csv"):
        shutil.copy(EXPORTS / "salesforce" / name, tmp_path / name)
    config = csv_config(tmp_path, SF_DEALS, stage_history=SF_FIELD_HISTORY)
    run = pull(config)
    assert run.status == "ok", run.error

    rows = _raw(tmp_path / "report1735722420000.csv")
    stage_rows = [r for r in rows if r["Field / Event"] == "Stage"]
    other = len(rows) - len(stage_rows)
    assert other and {r["Field / Event"] for r in rows} == {
        "Stage",
        "Created.",
        "Opportunity Owner",
        "Amount",
    }
    expected = {
        (
            r["Opportunity ID"],
            r["New Value"],
            r["Old Value"],
            datetime.strptime(r["Edit Date"], "%m/%d/%Y %I:%M %p").replace(tzinfo=UTC),
            r["Edited By"],
        )
        for r in stage_rows
    }
    assert _events(config) == expected
    assert f"report1735722420000.csv: {other:,} row(s) left out (where Field / Event = Stage)" in (
        run.notes
    )
    # No owner name, amount or empty value was taken for a stage.
    stages = {s for (s,) in query(config, "SELECT DISTINCT stage_id FROM src_exp.stage_changes")}
    others = {
        r[v] for r in rows if r["Field / Event"] != "Stage" for v in ("Old Value", "New Value")
    }
    assert stages and stages.isdisjoint(others)


def test_pipedrive_change_log_translates_stage_ids_and_skips_other_fields(tmp_path: Path) -> None:
    for name in ("deals-export.csv", "deal-changelog.csv"):
        shutil.copy(EXPORTS / "pipedrive" / name, tmp_path / name)
    ids = {"1": "Qualified", "2": "Contact Made", "3": "Demo Scheduled", "4": "Proposal Made",
           "5": "Negotiations Started"}  # fmt: skip
    config = csv_config(
        tmp_path,
        {
            "path": "deals-export.csv",
            "columns": {
                "source_deal_id": "Deal - ID",
                "stage_id": "Deal - Stage",
                "status": "Deal - Status",
            },  # fmt: skip
        },
        stage_history={
            "path": "deal-changelog.csv",
            "columns": {
                "deal_id": "deal_id",
                "stage_id": "new_value",
                "from_stage_id": "old_value",
                "changed_at": "time",
            },  # fmt: skip
            "where": {"field_key": ["stage_id"]},
            "value_maps": {"stage_id": ids, "from_stage_id": ids},
        },
    )
    run = pull(config)
    assert run.status == "ok", run.error
    rows = _raw(tmp_path / "deal-changelog.csv")
    kinds = {r["field_key"] for r in rows}
    assert kinds == {"stage_id", "status", "user_id", "value"}
    expected = {
        (r["deal_id"], ids[r["new_value"]], ids[r["old_value"]],
         datetime.fromisoformat(r["time"]).replace(tzinfo=UTC), None)
        for r in rows if r["field_key"] == "stage_id"
    }  # fmt: skip
    assert _events(config) == expected
    left_out = sum(r["field_key"] != "stage_id" for r in rows)
    assert f"deal-changelog.csv: {left_out:,} row(s) left out (where field_key = stage_id)" in (
        run.notes
    )


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_large_change_log_reads_the_same_on_both_paths(tmp_path: Path, fast_path: bool) -> None:
    """ISO times and plain values: the fast path takes the blocks, filters them, and
    gives exactly the rows the row path gives."""
    deals = ["id,stage"] + [f"D{n},S{n % 4}" for n in range(400)]
    (tmp_path / "d.csv").write_text("\n".join(deals) + "\n")
    log = ["deal,field,old,new,at"]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(3000):
        field = ["stage", "owner", "stage", "status", "Stage "][n % 5]
        old, new = (f"S{n % 3}", f"S{n % 4}") if "tage" in field else ("a", "b")
        at = (start + timedelta(minutes=7 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.append(f"D{n % 400},{field},{old},{new},{at}")
    (tmp_path / "h.csv").write_text("\n".join(log) + "\n")
    config = csv_config(
        tmp_path,
        {"path": "d.csv", "columns": {"source_deal_id": "id", "stage_id": "stage"}},
        stage_history={
            "path": "h.csv",
            "columns": {
                "deal_id": "deal",
                "stage_id": "new",
                "from_stage_id": "old",
                "changed_at": "at",
            },  # fmt: skip
            "where": {"FIELD": "Stage"},
        },
        chunk_rows=200,
        fast_path=fast_path,
    )
    run = pull(config)
    assert run.status == "ok", run.error
    stage_rows = [line.split(",") for line in log[1:] if "tage" in line.split(",")[1]]
    moves = [r for r in stage_rows if r[2] != r[3]]
    assert query(config, "SELECT count(*) FROM src_exp.stage_changes") == [(len(moves),)]
    assert run.notes == [
        f"h.csv: {3000 - len(stage_rows):,} row(s) left out (where FIELD = Stage)",
        f"h.csv: {len(stage_rows) - len(moves):,} row(s) left out (new = old: no stage move)",
    ]


def test_a_where_column_the_file_lacks_is_one_clear_error(tmp_path: Path) -> None:
    for name in ("report1735722300000.csv", "report1735722420000.csv"):
        shutil.copy(EXPORTS / "salesforce" / name, tmp_path / name)
    history = {**SF_FIELD_HISTORY, "where": {"Field": "Stage"}}
    run = pull(csv_config(tmp_path, SF_DEALS, stage_history=history))
    assert run.status == "failed"
    assert "report1735722420000.csv: where: no column 'Field'" in run.error
    assert "Field / Event" in run.error  # the file's columns are listed
