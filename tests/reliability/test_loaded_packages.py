"""A pull leaves one loaded package behind, not all of them.

dlt moves each package it has loaded to ``load/loaded`` with its load files and never
removes it, so a source's pipeline folder grew by every pull's data, for good. After a load
``hub.packages.prune_loaded`` keeps only the newest. A package a crash left pending is
still finished first (its data reaches the warehouse), then pruned like the others.
"""

from __future__ import annotations

from pathlib import Path

from hub.pull import pipeline_for
from hub.warehouse import Warehouse
from tests.csv_helpers import csv_config, extract_only, pull, query

HEADER = "id,name,stage,created\n"
COLUMNS = {"source_deal_id": "id", "name": "name", "stage_id": "stage", "created_at": "created"}


def _files(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file())


def _export(path: Path, deals: int, stage: str) -> None:
    rows = "".join(f"{i},Deal {i},{stage},2026-01-{i:02d}\n" for i in range(1, deals + 1))
    path.write_text(HEADER + rows, encoding="utf-8")


def test_pulls_keep_only_the_newest_loaded_package(tmp_path: Path) -> None:
    export = tmp_path / "deals.csv"
    config = csv_config(tmp_path, {"path": "deals.csv", "columns": COLUMNS})
    pipeline_dir = config.hub_dir / "pipelines" / "hub_exp"
    loaded = pipeline_dir / "load" / "loaded"
    files = []
    for n, stage in enumerate(["Discovery", "Qualified", "Proposal", "Won"], start=1):
        _export(export, n, stage)
        if n == 3:  # a crash left this export's package normalized, not loaded
            pipeline, _ = extract_only(config)
            pipeline.normalize()
        run = pull(config)
        assert run.status == "ok", run.error
        assert run.recovered_packages == (1 if n == 3 else 0)
        newest = query(config, "SELECT max(load_id) FROM src_exp._dlt_loads")[0][0]
        assert [p.name for p in loaded.iterdir()] == [newest]
        assert query(config, "SELECT count(*), min(stage_id) FROM src_exp.deals") == [(n, stage)]
        files.append(_files(pipeline_dir))
    # a pull that loads the same tables leaves as many files as the one before it
    assert files[1] == files[2] == files[3], files
    pipeline = pipeline_for(config, Warehouse(config), "exp")
    assert not pipeline.list_normalized_load_packages()
    # pulls 1, 2 and 4, and the package the crash left (pull 3 found that export read)
    assert query(config, "SELECT count(*) FROM src_exp._dlt_loads") == [(4,)]
