"""What the CLI says on first contact with a real export (issue #14 items 6, 7 and 12): unmapped
stages and stage_map typos, tracebacks with --debug, a missing file, no stage column,
quarantine listings, progress lines and table widths. Everything runs through the real CLI."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hub.demo import pulled_line
from hub.pull import SourceRun
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parent.parent


def _edit(config_path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    change(raw)
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def _deals_in_stage(hub_dir: Path, label: str) -> int:
    """Counted from the export itself, not from the warehouse."""
    with (hub_dir / "deals.csv").open(encoding="utf-8") as handle:
        return sum(1 for row in csv.DictReader(handle) if row["stage"] == label)


def _typo_in_stage_map(raw: dict[str, Any]) -> None:
    mapping = raw["sources"][0]["stage_map"]["*"]
    mapping["Qualifed"] = mapping.pop("Qualified")


# ----- item 6: unmapped native stages and stage_map keys matching nothing --------------------


def test_sync_names_unmapped_stages_and_the_typo_key_status_repeats_it(cli, hub_dir: Path) -> None:
    config = hub_dir / "hub.yml"
    _edit(config, _typo_in_stage_map)
    qualified = _deals_in_stage(hub_dir, "Qualified")
    assert qualified > 0

    synced = cli("sync", "--config", config)
    assert synced.exit_code == 0, synced.output
    assert "transform:" in synced.output
    unmapped = (
        f"crm_export: native stage 'Qualified' (pipeline 'Sales') is unmapped "
        f"({qualified:,} deal(s), closest stage_map key 'Qualifed'"
    )
    assert unmapped in synced.output
    typo = "stage_map key 'Qualifed' (pipeline '*') matches no native stage; closest: 'Qualified'"
    assert typo in synced.output
    # Only the typo: every other key names a stage of the export (some only in its history).
    assert synced.output.count("matches no native stage") == 1

    status = cli("status", "--config", config)
    assert status.exit_code == 0
    assert unmapped in status.output and typo in status.output


def test_strict_stages_fails_the_sync_before_transforming(cli, hub_dir: Path) -> None:
    config = hub_dir / "hub.yml"
    _edit(config, _typo_in_stage_map)
    strict = cli("sync", "--config", config, "--strict-stages")
    assert strict.exit_code == 1, strict.output
    assert "--strict-stages: not transformed" in strict.output
    assert "transform:" not in strict.output

    _edit(config, lambda raw: raw["sources"][0]["stage_map"]["*"].update(Qualified="qualification"))
    fixed = cli("sync", "--config", config, "--strict-stages")
    assert fixed.exit_code == 0, fixed.output
    assert "is unmapped" not in fixed.output
    assert "transform:" in fixed.output


def test_a_clean_stage_map_says_nothing(cli, hub_dir: Path) -> None:
    synced = cli("sync", "--config", hub_dir / "hub.yml", "--strict-stages")
    assert synced.exit_code == 0, synced.output
    assert "unmapped" not in synced.output and "matches no native stage" not in synced.output


# ----- item 7: --debug shows the traceback of a source that fails ---------------------------


def test_debug_prints_the_traceback_of_a_failing_source(cli, hub_dir: Path) -> None:
    config = hub_dir / "hub.yml"
    (hub_dir / "empty.csv").write_text("", encoding="utf-8")

    def add_broken(raw: dict[str, Any]) -> None:
        raw["sources"].append(
            {
                "name": "broken",
                "kind": "csv",
                "options": {"deals": {"path": "empty.csv", "columns": {"source_deal_id": "id"}}},
            }
        )

    _edit(config, add_broken)
    plain = cli("pull", "--config", config)
    assert plain.exit_code == 3, plain.output
    assert "empty.csv: the file is empty" in plain.output
    assert "Traceback" not in plain.output

    debug = cli("--debug", "pull", "--config", config)
    assert debug.exit_code == 3, debug.output
    assert "Traceback (most recent call last)" in debug.output
    # the frame that raised, in the connector, not dlt's wrapper
    assert re.search(r"connectors/csv/reading\.py\", line \d+, in inspect_file", debug.output)
    assert "InputError" in debug.output


# ----- item 12: messages --------------------------------------------------------------------


def test_a_missing_csv_file_is_a_config_error_naming_file_and_option(cli, hub_dir: Path) -> None:
    config = hub_dir / "hub.yml"
    _edit(config, lambda raw: raw["sources"][0]["options"]["activities"].update(path="gone.csv"))
    result = cli("sync", "--config", config)
    assert result.exit_code == 2, result.output
    assert "gone.csv: file not found" in result.output
    assert "sources[crm_export].options.activities.path" in result.output
    assert "Traceback" not in result.output


def _no_stage_source(folder: Path) -> Path:
    (folder / "deals.csv").write_text(
        "id,name,amount\nD1,One,100\nD2,Two,250\nD3,Three,75\n", encoding="utf-8"
    )
    return write_config(
        folder,
        {
            "sources": [
                {
                    "name": "flat",
                    "kind": "csv",
                    "options": {
                        "deals": {
                            "path": "deals.csv",
                            "columns": {"source_deal_id": "id", "name": "name", "amount": "amount"},
                        }
                    },
                }
            ]
        },
    )


def test_stages_tells_no_stage_column_from_nothing_pulled(cli, tmp_path: Path) -> None:
    config = _no_stage_source(tmp_path)
    before = cli("stages", "--config", config)
    assert before.exit_code == 0, before.output
    assert "flat: nothing pulled yet; run 'hub pull'" in before.output
    assert "no stage column" not in before.output

    assert cli("pull", "--config", config).exit_code == 0
    after = cli("stages", "--config", config)
    assert after.exit_code == 0, after.output
    assert "flat: no stage column mapped: none of its 3 deals has a stage" in after.output
    assert "sources[flat].options.deals.columns.stage_id" in after.output
    assert "nothing pulled" not in after.output


def _quarantine_source(folder: Path) -> tuple[Path, list[tuple[int, str]]]:
    """Deals with a bad amount or a bad date on known lines; returns (line, reason) pairs."""
    lines = ["id,name,amount,created"]
    bad: list[tuple[int, str]] = []
    for i in range(1, 25):
        line = i + 1  # the header is line 1
        if i % 3 == 0:
            lines.append(f"D{i},Deal {i},lots,2026-01-05")
            bad.append((line, "not a number: 'lots'"))
        elif i % 3 == 1:
            lines.append(f"D{i},Deal {i},100,someday")
            bad.append((line, "not a date/time"))
        else:
            lines.append(f"D{i},Deal {i},100,2026-01-05")
    (folder / "deals.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = write_config(
        folder,
        {
            "sources": [
                {
                    "name": "q",
                    "kind": "csv",
                    "options": {
                        "deals": {
                            "path": "deals.csv",
                            "columns": {
                                "source_deal_id": "id",
                                "name": "name",
                                "amount": "amount",
                                "created_at": "created",
                            },
                        }
                    },
                }
            ]
        },
    )
    return config, bad


def _quarantine_rows(output: str) -> list[tuple[str, int]]:
    """(reason cell, line) per table row, in printed order."""
    out = []
    for row in output.splitlines():
        match = re.search(r"deals\.csv:(\d+)", row)
        if match:
            out.append((row.split("│")[-2].strip(), int(match.group(1))))
    return out


def test_status_quarantine_sorts_by_line_honours_limit_and_writes_each_reason_once(
    cli, tmp_path: Path
) -> None:
    config, bad = _quarantine_source(tmp_path)
    assert cli("pull", "--config", config).exit_code == 0
    everything = cli("status", "--config", config, "--quarantine", "q", "--limit", "100")
    assert everything.exit_code == 0, everything.output
    rows = _quarantine_rows(everything.output)
    assert len(rows) == len(bad) == 16
    # Groups in order of their first line; lines ascending (9 before 10) inside each group.
    dates = [line for line, reason in bad if reason.startswith("not a date")]
    numbers = [line for line, reason in bad if reason.startswith("not a number")]
    assert [line for _, line in rows] == dates + numbers
    assert dates == sorted(dates) and 11 in dates and 8 in dates
    reasons = [reason for reason, _ in rows if reason]
    assert len(reasons) == 2, rows
    assert reasons[0].startswith("not a date") and rows[0][0] == reasons[0]
    assert reasons[1].startswith("not a number: 'lots'") and rows[len(dates)][0] == reasons[1]
    assert everything.output.count("not a number: 'lots'") == 1
    assert everything.output.count("not a date/time") == 1

    limited = cli("status", "--config", config, "--quarantine", "q", "--limit", "5")
    assert limited.exit_code == 0
    first_five = sorted(line for line, _ in bad)[:5]
    assert sorted(line for _, line in _quarantine_rows(limited.output)) == first_five
    assert "showing 5 of 16 quarantined records" in limited.output


def test_progress_lines_leave_no_dangling_separator(cli, hub_dir: Path) -> None:
    run = SourceRun("hubspot_demo", "hubspot")
    assert pulled_line(run) == "pulled hubspot_demo: ok; no new rows"
    run.rows = {"deals": 5, "activities": 12}
    run.stats.record("GET /deals", 200)
    run.stats.record("GET /deals", 200)
    run.stats.record("GET /activities", 200)
    assert pulled_line(run) == "pulled hubspot_demo: ok in 3 requests; 12 activities, 5 deals"

    config = hub_dir / "hub.yml"
    assert cli("pull", "--config", config).exit_code == 0
    again = cli("pull", "--config", config)  # nothing changed: nothing read
    assert again.exit_code == 0
    for line in again.output.splitlines():
        assert not re.search(r"[;,:]\s*$", line.split("0:00")[0].rstrip()), line


def test_tables_are_not_cut_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    long_name = "hubspot_emea_enterprise_accounts_2026"  # what "hubspo…" was cut from
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "deals.csv").write_text("id,stage\nD1,Qualified\n", encoding="utf-8")
    config = write_config(
        folder,
        {
            "sources": [
                {
                    "name": long_name,
                    "kind": "csv",
                    "options": {
                        "deals": {
                            "path": "deals.csv",
                            "columns": {"source_deal_id": "id", "stage_id": "stage"},
                        }
                    },
                }
            ]
        },
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(ROOT)

    def hub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", *args, "--config", str(config)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )

    assert hub("pull").returncode == 0
    status = hub("status")
    assert status.returncode == 0, status.stderr
    assert long_name in status.stdout
    assert "…" not in status.stdout
    assert max(len(line) for line in status.stdout.splitlines()) > 80


def test_a_pull_failure_names_the_error_not_the_stop_it_interrupted(tmp_path: Path) -> None:
    """dlt's extract loop asks each resource for an item while handling another generator's
    StopIteration, so a resource's error carries that StopIteration as its context: the
    message once read "unexpected StopIteration" for a DuckDB catalog error in a CSV merge."""
    import dlt
    import pytest
    from dlt.pipeline.exceptions import PipelineStepFailed

    from hub.pull import _unwrap

    def first() -> Any:
        yield {"n": 1}

    def failing() -> Any:
        try:
            next(iter(()))
        except StopIteration:
            raise ValueError("Catalog Error: the real one")  # noqa: B904 - the case itself
        yield {"n": 2}

    pipeline = dlt.pipeline(
        pipeline_name="unwrap", pipelines_dir=str(tmp_path), destination="duckdb"
    )
    with pytest.raises(PipelineStepFailed) as raised:
        pipeline.extract([dlt.resource(first, name="first"), dlt.resource(failing, name="f")])
    found = _unwrap(raised.value)
    assert isinstance(found, ValueError) and str(found) == "Catalog Error: the real one"
    assert isinstance(found.__context__, StopIteration)  # what the old walk stopped at


def test_a_postgresql_too_old_for_the_hub_is_refused_in_one_line() -> None:
    """PostgreSQL 13 lacks hash_record_extended (the deal score's training key): the check
    a pull starts with says so, naming the server, instead of a missing function later."""
    import pytest

    from hub.warehouse.backends import require_server_version
    from models.errors import WarehouseError

    where = "PostgreSQL db.internal:5432/analytics (user hub)"
    with pytest.raises(WarehouseError) as refused:
        require_server_version(130012, where)
    assert str(refused.value) == (
        f"{where}: server version 13 is too old; the hub needs PostgreSQL 14 or later"
    )
    with pytest.raises(WarehouseError, match="server version 9.6 is too old"):
        require_server_version(90624, where)
    require_server_version(140000, where)
    require_server_version(150018, where)
