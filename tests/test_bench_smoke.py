"""Smoke test of the benchmark entry points (``python -m bench ... --quick``) at tiny sizes.

Checks that each benchmark runs end to end and produces well-formed figures (the fields
docs/benchmarks.md is filled from, with sane types and relations). No timing assertions:
on a shared 2-core machine they only flake.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import __main__ as cli
from bench import (
    changes,
    csv_bench,
    limits_bench,
    sandbox_bench,
    scale_bench,
    score_bench,
    transform_bench,
)
from connectors.registry import sandbox_class

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def test_cli_parses_every_mode_and_quick() -> None:
    for which in ("csv", "sandbox", "limits", "scale", "transform", "score", "all"):
        args = cli.parse([which, "--quick"])
        assert args.which == which and args.quick
    assert cli.parse([]).which == "all"  # make bench = python -m bench = the full set
    assert cli.sizes(cli.parse(["sandbox"]), sandbox_bench) == {
        "deals": 100_000,
        "activities_per_deal": 5.0,
    }
    assert cli.sizes(cli.parse(["scale"]), scale_bench)["deals"] == 1_000_000
    assert cli.sizes(cli.parse(["transform"]), transform_bench) == {
        "deals": 1_000_000,
        "activities_per_deal": 5.0,
    }
    assert cli.parse(["transform", "--warehouse", "postgres"]).warehouse == ["postgres"]


def test_page_minimum_formulas() -> None:
    hub = {
        "deals_live": 100,
        "deals_archived": 0,
        "owners_live": 3,
        "owners_archived": 0,
        **{f"{t}_live": 100 for t in ("calls", "emails", "meetings", "notes", "tasks")},
    }
    # metadata 3, owners 2, deal recycle bin 1, deals 2 + their companies 1, companies and
    # their recycle bin 1 each, activities 5 x (1 page + 1 association call)
    assert sandbox_class("hubspot").page_minimum(hub) == 3 + 2 + 1 + 2 + 1 + 2 + 5 * (1 + 1)
    pd = {
        "deals_live": 1000,
        "deals_archived": 0,
        "activities": 501,
        "notes": 1,
        "moved_deals": 600,
    }
    # deals 2 + archived 1, activities 2, notes 1, organisations 1, metadata 5, flows 600
    assert sandbox_class("pipedrive").page_minimum(pd) == 2 + 1 + 2 + 1 + 1 + 5 + 600
    sf = {
        o: 2001
        for o in (
            "Opportunity",
            "OpportunityHistory",
            "Task",
            "Event",
            "User",
            "OpportunityStage",
            "Account",
        )
    }
    assert sandbox_class("salesforce").page_minimum(sf) == 1 + 2 + 7 * 2  # token, describes


def test_csv_entry_point(tmp_path: Path) -> None:
    records = csv_bench.run(deals=200, activities_per_deal=2.0, keep=str(tmp_path), transform=False)
    pull = next(r for r in records if r["step"] == "pull")
    assert pull["rows"] > 200 and _number(pull["seconds"]) and pull["peak_rss_mb"] > 0


def test_csv_vs_duckdb_entry_point(tmp_path: Path) -> None:
    records = csv_bench.run(deals=200, activities_per_deal=2.0, keep=str(tmp_path), vs_duck=True)
    *rounds, ratio = records[1:]
    assert [r["step"] for r in rounds] == ["duckdb_read_csv"] * 3 + ["pull"] * 3
    files = tmp_path.glob("*.csv")
    data_rows = sum(len(p.read_text(encoding="utf-8").splitlines()) - 1 for p in files)
    assert ratio["file_rows"] == data_rows == rounds[0]["rows"]  # DuckDB's tables: every row
    assert ratio["hub_rows_loaded"] > data_rows  # plus deal_accounts, stages, pipelines
    assert ratio["ratio"] == round(ratio["hub_rows_per_s"] / ratio["duckdb_rows_per_s"], 2)
    assert ratio["hub_rows_per_s"] == round(data_rows / ratio["hub_pull_seconds"])
    # The CPU ratio compares each side's cheapest round, whichever round was fastest.
    duck_cpu = min(r["cpu_seconds"] for r in rounds[:3])
    hub_cpu = min(r["cpu_seconds"] for r in rounds[3:])
    assert (ratio["duckdb_cpu_seconds"], ratio["hub_cpu_seconds"]) == (duck_cpu, hub_cpu)
    assert ratio["cpu_ratio"] == round(duck_cpu / hub_cpu, 2)


def test_sandbox_entry_point(tmp_path: Path) -> None:
    records = sandbox_bench.run(deals=40, activities_per_deal=3.0, keep=str(tmp_path))
    assert [r["crm"] for r in records] == list(sandbox_bench.KINDS)
    for r in records:
        assert r["exit"] == 0 and r["run_status"] == "ok", r
        assert r["deals"] == 40 and r["activities"] > 0
        assert r["requests"] >= r["page_minimum"] > 0
        assert r["requests_vs_minimum"] == round(r["requests"] / r["page_minimum"], 3)
        assert r["peak_rss_mb"] > 0 and _number(r["seconds"]) and r["status_429"] == 0
        json.dumps(r)


def test_limits_entry_point(tmp_path: Path) -> None:
    records = limits_bench.run(kinds=("pipedrive", "salesforce"), seconds=1.0, keep=str(tmp_path))
    pd, pd_ceiling, sf = records
    assert pd["crm"] == "pipedrive" and pd["allowed_per_s"] == 20.0
    assert pd_ceiling["phase"].startswith("ceiling") and pd_ceiling["status_429"] == 0
    assert pd["requests"] > 0 and 0 <= pd["share_429"] <= 1 and pd["run_status"] == "ok"
    assert pd["efficiency"] is None or pd["efficiency"] > 0
    assert sf["crm"] == "salesforce" and sf["run_status"] == "stopped"  # stopped at its share
    assert sf["api_requests"] > 0 and sf["allowed_requests"] > 0 and _number(sf["efficiency"])


def test_scale_entry_point(tmp_path: Path) -> None:
    (record,) = scale_bench.run(
        deals=90, activities_per_deal=2.0, keep=str(tmp_path), transform=False
    )
    assert record["exit"] == 0 and set(record["per_crm"]) == set(sandbox_bench.KINDS)
    assert record["deals"] == 90
    assert record["requests"] == sum(p["requests"] for p in record["per_crm"].values())
    assert record["requests_vs_minimum"] >= 1.0 and record["peak_rss_mb"] > 0


def test_transform_entry_point(tmp_path: Path) -> None:
    records = transform_bench.run(
        deals=150, activities_per_deal=1.0, keep=str(tmp_path), warehouses=("duckdb",)
    )
    export, *steps = records
    assert export["step"] == "export" and export["rows"]["deals"] == 150
    assert [r["step"] for r in steps] == [
        "build",
        "full_transform",
        "no_change_sync",
        "changed_sync",
    ]
    full = steps[1]
    for r in steps:
        assert r["exit"] == 0 and r["warehouse"] == "duckdb", r
        assert _number(r["seconds"]) and _number(r["hub_cpu_s"]) and r["peak_rss_mb"] > 0
        assert len(r["load_avg_before"]) == len(r["load_avg_after"]) == 3
        assert r["profile"]["total"] > 0 and "other" in r["profile"]
        if r["step"] == "no_change_sync":  # nothing changed, as_of fixed: dbt does not run
            assert r["models"] == 0 and r["profile"]["transform: dbt"] == 0
        elif r["step"] != "build":  # every other transform builds every model, with its time
            assert r["models"] > 40 and r["tests"] > 0
            assert r["profile"]["transform: dbt"] > 0 and r["slowest_models"]
        if r["step"] in transform_bench.TARGETS:
            assert r["ratio_to_full"] == round(r["seconds"] / full["seconds"], 3)
            assert r["target"] == transform_bench.TARGETS[r["step"]]
    assert steps[3]["changed"] == {"moved": 1, "new": 1, "deleted": 1}  # 1 % of 150, at least 3
    # The kept export is unchanged (the edits replaced the warehouse's links), and reused.
    assert sum(1 for _ in (tmp_path / "export" / "deals.csv").open()) == 151
    again = transform_bench.ensure_export(tmp_path / "export", 150, 1.0)[1]
    assert again["reused"]
    # The syncs ran at the pinned as_of (after the morning's changes); a reused warehouse's
    # full transform starts with no fitted score model, as a first transform would.
    config = tmp_path / "duckdb" / "hub.yml"
    assert yaml.safe_load(config.read_text())["as_of"] == "2026-06-30T12:00:00Z"
    assert _score_models(config) > 0
    transform_bench.empty_score_caches(config)
    assert _score_models(config) == 0


def _score_models(config: Path) -> int:
    import sqlalchemy as sa

    from hub.score.tables import hub_score_input_keys, hub_score_models
    from hub.warehouse import Warehouse
    from models.config import load_config

    with Warehouse(load_config(config)).connect() as conn:
        counts = [
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (hub_score_models, hub_score_input_keys)
        ]
    assert counts[0] == 0 or counts[1] > 0  # a model is found through its input key
    return int(counts[0])


def test_hourly_change_edits_one_percent_of_open_deals(tmp_path: Path) -> None:
    """The 1 % change, checked row by row against the file before it: only open deals are
    touched, at the morning stamp, so closed history is as it was."""
    import csv

    from hub.generate import generate

    generate(tmp_path, seed=3, deals=1000, activities_per_deal=0.0, write_config=False)
    before = {r["deal_id"]: r for r in csv.DictReader((tmp_path / "deals.csv").open())}
    history_before = (tmp_path / "stage_history.csv").read_text().splitlines()
    changed = changes.change_open_deals(tmp_path, 0.01, seed=7)
    assert changed == {"moved": 6, "new": 2, "deleted": 2}
    after = {r["deal_id"]: r for r in csv.DictReader((tmp_path / "deals.csv").open())}
    deleted = set(before) - set(after)
    assert len(deleted) == 2 and all(before[d]["status"] == "open" for d in deleted)
    new = set(after) - set(before)
    assert len(new) == 2 and all(after[d]["stage"] == "Prospecting" for d in new)
    stamp = changes.CHANGED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(after[d]["created_at"] == stamp and after[d]["status"] == "open" for d in new)
    moved = [d for d in set(before) & set(after) if before[d] != after[d]]
    assert len(moved) == 6
    for deal in moved:
        assert before[deal]["status"] == "open" and after[deal]["updated_at"] == stamp
        assert after[deal]["stage"] == changes.NEXT_STAGE[before[deal]["stage"]]
        assert (after[deal]["status"] == "won") == (after[deal]["stage"] == "Closed Won")
    history_after = (tmp_path / "stage_history.csv").read_text().splitlines()
    assert history_after[: len(history_before)] == history_before
    added = {line.split(",")[0] for line in history_after[len(history_before) :]}
    assert added == set(moved) | new


def test_module_quick_run_prints_json_lines(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "sandbox",
            "--quick",
            "--crm",
            "salesforce",
            "--keep",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[0]["bench"] == "machine" and "cores" in lines[0]["machine"]
    assert lines[1]["bench"] == "sandbox" and lines[1]["crm"] == "salesforce"


def test_score_entry_point() -> None:
    (record,) = score_bench.run(deals=3000)
    assert record["bench"] == "score" and record["deals"] == 3000
    assert record["n_train"] + record["n_calibration"] == 3000 and record["n_calibration"] > 0
    assert record["auc"] > 0.7  # the fit found the rule the rows were drawn from
    assert _number(record["seconds"]) and record["peak_rss_mb"] > 0
