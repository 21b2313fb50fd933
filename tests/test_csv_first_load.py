"""What makes a big CSV import fast must not change what it loads: the first import into
tables without rows is appended (no staging copy and merge), every later one merged; the
ids of clean blocks are checked for repeats by hash, and a hash that matches sends the
block row by row."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.csv.fast import PY_WHITESPACE, NotClean
from connectors.csv.seen import SeenIds
from hub.generate import Generated
from hub.pull import pipeline_for
from hub.warehouse import Warehouse
from models.config import load_config
from tests.csv_helpers import pull, query

IDS = pa.array(["D1", "D2", "D3"])


def test_whitespace_is_every_character_python_strips() -> None:
    assert set(PY_WHITESPACE) == {c for c in map(chr, range(0x110000)) if c.isspace()}


def test_a_clean_block_id_is_found_with_its_line() -> None:
    seen = SeenIds()
    seen.add_block(IDS, seen.new_block(IDS), first_line=10)
    assert [seen.line_of(i) for i in ("D1", "D2", "D3", "D4")] == [10, 11, 12, None]
    assert "D2" in seen and "D9" not in seen and len(seen) == 3 and bool(seen)
    later = pa.array(["D4", "D5"])
    seen.add_block(later, seen.new_block(later), first_line=13)  # after the dict was built
    assert seen.line_of("D5") == 14 and sorted(seen) == ["D1", "D2", "D3", "D4", "D5"]


def test_a_repeated_id_sends_the_block_to_the_row_path_and_records_nothing() -> None:
    seen = SeenIds()
    seen.add_block(IDS, seen.new_block(IDS), first_line=2)
    with pytest.raises(NotClean):
        seen.new_block(pa.array(["D9", "D2"]))  # D2 was in an earlier block
    with pytest.raises(NotClean):
        seen.new_block(pa.array(["D7", "D8", "D7"]))  # twice in the block itself
    assert "D9" not in seen and "D7" not in seen and len(seen) == 3
    seen.add("R1", 40)  # loaded by the row path
    with pytest.raises(NotClean):
        seen.new_block(pa.array(["D6", "R1"]))
    assert seen.line_of("R1") == 40 and len(seen) == 4


def _dispositions(folder: Path) -> dict[str, str]:
    config = load_config(folder / "hub.yml")
    pipeline = pipeline_for(config, Warehouse(config), "crm_export")
    tables = pipeline.default_schema.tables
    return {t: tables[t]["write_disposition"] for t in ("deals", "activities", "deal_accounts")}


def test_first_import_is_appended_and_a_changed_export_is_merged(
    tmp_path: Path, small_export: Generated
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(small_export.export.out_dir, folder)
    config = load_config(folder / "hub.yml")
    first = pull(config)
    assert first.status == "ok", first.error
    assert set(_dispositions(folder).values()) == {"append"}
    deals = small_export.export.row_counts["deals"]

    # The re-export: one deal's amount changed, one deal added.
    deals_csv = folder / "deals.csv"
    with deals_csv.open(newline="", encoding="utf-8") as handle:
        columns, cells, *rest = csv.reader(handle)
    deal_id = cells[columns.index("deal_id")]
    cells[columns.index("amount")] = "123456.00"
    added = list(cells)
    added[columns.index("deal_id")] = "NEW-1"
    with deals_csv.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([columns, cells, *rest, added])
    second = pull(config)
    assert second.status == "ok", second.error
    # The deals file was read again into tables with rows: merged. The unchanged
    # activities file was skipped, so its table was not loaded at all.
    assert _dispositions(folder) == {
        "deals": "merge",
        "deal_accounts": "merge",
        "activities": "append",
    }

    keys = query(config, "SELECT deal_key, count(*) FROM src_crm_export.deals GROUP BY 1")
    assert len(keys) == deals + 1 and {n for _, n in keys} == {1}
    (amount,) = query(
        config,
        f"SELECT amount FROM src_crm_export.deals WHERE source_deal_id = '{deal_id}'",
    )
    assert float(amount[0]) == 123456.0
    links = query(config, "SELECT deal_key, count(*) FROM src_crm_export.deal_accounts GROUP BY 1")
    assert {n for _, n in links} == {1}
    (activities,) = query(
        config, "SELECT count(*), count(DISTINCT activity_key) FROM src_crm_export.activities"
    )
    assert activities[0] == activities[1] == small_export.export.row_counts["activities"]
