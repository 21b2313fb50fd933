"""What makes a big CSV import fast must not change what it loads: every import is merged on
the tables' keys (appending the first import into empty tables was tried and taken out: a
pull stopped by a full disk then named a dlt job file as the full disk and left repeated
keys); the ids of clean blocks are checked for repeats by hash, and a hash that matches sends
the block row by row."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.csv.fast import PY_WHITESPACE, BlockFile, NotClean
from connectors.csv.seen import SeenIds
from hub.generate import Generated
from hub.pull import pipeline_for
from hub.warehouse import Warehouse
from models.config import load_config
from tests.csv_helpers import csv_config, pull, query

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


def test_first_import_and_a_changed_export_are_merged(
    tmp_path: Path, small_export: Generated
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(small_export.export.out_dir, folder)
    config = load_config(folder / "hub.yml")
    first = pull(config)
    assert first.status == "ok", first.error
    assert "append" not in _dispositions(folder).values()
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
    # The deals file was read again and merged; the unchanged activities file was skipped.
    assert "append" not in _dispositions(folder).values()

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


def _history_config(folder: Path, *, fast_path: bool, stage_dates: bool = False):  # type: ignore[no-untyped-def]
    """400 deals, one stage event each, in blocks of about 100 lines; three events again:
    D5's in the second block (first read in a clean block), D250's on the next line (in
    its own block) and D255's in the fourth block (first read by the row path)."""
    folder.mkdir()
    (folder / "deals.csv").write_text(
        "id,stage,entered\n" + "".join(f"D{i},Won,2026-01-0{1 + i % 9}\n" for i in range(400)),
        encoding="utf-8",
    )
    moves = ["deal,stage,at,by\n"]
    for i in range(400):
        moves.append(f"D{i},Open,2026-01-01T10:00:00Z,first\n")
        again = {150: 5, 250: 250, 350: 255}.get(i)
        if again is not None:
            moves.append(f"D{again},Open,2026-01-01T10:00:00Z,again\n")
    (folder / "moves.csv").write_text("".join(moves), encoding="utf-8")
    deals: dict[str, object] = {
        "path": "deals.csv",
        "columns": {"source_deal_id": "id", "stage_id": "stage"},
        "status_from_stage": {"Won": "won"},
    }
    if stage_dates:
        deals["stage_dates"] = {"Open": "entered"}
    return csv_config(
        folder,
        deals,
        stage_history={
            "path": "moves.csv",
            "columns": {
                "deal_id": "deal",
                "stage_id": "stage",
                "changed_at": "at",
                "changed_by": "by",
            },
        },
        chunk_rows=100,
        fast_path=fast_path,
    )


def test_a_repeated_stage_event_is_left_out_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_blocks = {"moves": 0}
    rows = BlockFile.rows

    def counting_rows(self: BlockFile, block):  # type: ignore[no-untyped-def]
        row_blocks["moves"] += self.facts.path.name == "moves.csv"
        return rows(self, block)

    monkeypatch.setattr(BlockFile, "rows", counting_rows)  # counts, changes nothing
    tables = {}
    for fast_path in (True, False):
        config = _history_config(tmp_path / str(fast_path), fast_path=fast_path)
        run = pull(config)
        assert run.status == "ok", run.error
        assert any("moves.csv: 3 row(s) left out (the same deal, at, stage" in n for n in run.notes)
        tables[fast_path] = sorted(
            query(
                config,
                "SELECT deal_key, changed_at, stage_id, changed_by, origin "
                "FROM src_exp.stage_changes",
            )
        )
        pipeline = pipeline_for(config, Warehouse(config), "exp")
        assert pipeline.default_schema.tables["stage_changes"]["write_disposition"] != "append"
    assert tables[True] == tables[False]
    assert len(tables[True]) == 400 and {row[3] for row in tables[True]} == {"first"}
    assert 3 <= row_blocks["moves"] < 5  # the blocks with a repeat; the others fast


def test_stage_events_from_two_files_are_merged(tmp_path: Path) -> None:
    config = _history_config(tmp_path / "both", fast_path=True, stage_dates=True)
    run = pull(config)
    assert run.status == "ok", run.error
    pipeline = pipeline_for(config, Warehouse(config), "exp")
    assert pipeline.default_schema.tables["stage_changes"]["write_disposition"] == "merge"
    origins = query(config, "SELECT origin, count(*) FROM src_exp.stage_changes GROUP BY 1")
    assert sorted(origins) == [("crm_history", 400), ("derived", 400)]
