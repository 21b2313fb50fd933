"""The CSV fast path (Arrow blocks) loads exactly what the row path loads, and hands every
block it cannot prove clean to the row path, so quarantine records stay exact."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from connectors.csv import fast
from connectors.csv.parsing import BadValue, date_parser, timestamp_parser
from hub.generate import Generated
from models.config import load_config, parse_config
from tests.csv_helpers import CSV_TABLES as TABLES
from tests.csv_helpers import pull, query


@pytest.fixture
def block_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts blocks taken by the fast path and blocks handed to the row path."""
    calls = {"parsed": 0, "rows": 0}
    parse, rows = fast.BlockFile.parse, fast.BlockFile.rows

    def counting_parse(self: fast.BlockFile, block: fast.Block) -> pa.Table | None:
        calls["parsed"] += 1
        return parse(self, block)

    def counting_rows(self: fast.BlockFile, block: fast.Block):  # type: ignore[no-untyped-def]
        calls["rows"] += 1
        return rows(self, block)

    monkeypatch.setattr(fast.BlockFile, "parse", counting_parse)
    monkeypatch.setattr(fast.BlockFile, "rows", counting_rows)
    return calls


def _tables(config, schema: str, tables: list[str]) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    out = {}
    for table in tables:
        out[table] = sorted(
            query(config, f"SELECT * FROM {schema}.{table}"),
            key=repr,
        )
    return out


def _quarantine(config, schema: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    return sorted(
        query(
            config,
            "SELECT entity, record_id, location, column_name, value, reason "
            f"FROM {schema}.quarantine",
        ),
        key=repr,
    )


def _with_options(folder: Path, **options: object) -> Path:
    path = folder / "hub.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["sources"][0]["options"].update(options)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_generated_export_is_identical_on_both_paths(
    tmp_path: Path, small_export: Generated, block_calls: dict[str, int]
) -> None:
    folders = {}
    for name, fast_path in (("fast", True), ("rows", False)):
        folder = tmp_path / name
        shutil.copytree(small_export.export.out_dir, folder)
        path = _with_options(folder, chunk_rows=100, fast_path=fast_path)
        # A value map (of a value the export never writes) keeps the clean deals file off
        # DuckDB's path (connectors/csv/duck.py, tests/test_csv_duck.py): this test is
        # about the Arrow blocks.
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["sources"][0]["options"]["deals"]["value_maps"] = {"currency": {"Dollar": "USD"}}
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        folders[name] = load_config(path)
    fast_run = pull(folders["fast"])
    assert fast_run.status == "ok", fast_run.error
    assert block_calls["parsed"] > 4 and block_calls["rows"] == 0  # clean data: all fast
    rows_run = pull(folders["rows"])
    assert rows_run.status == "ok", rows_run.error
    assert fast_run.rows == rows_run.rows
    assert fast_run.quarantined == rows_run.quarantined == 0
    fast_tables = _tables(folders["fast"], "src_crm_export", TABLES)
    assert fast_tables == _tables(folders["rows"], "src_crm_export", TABLES)
    assert len(fast_tables["deals"]) == small_export.export.row_counts["deals"]


HEADER = "id,name,stage,status,amount,currency,created,probability,engaged\n"


def _good(i: int) -> str:
    return (
        f"D{i:04d}, Deal {i} ,Proposal,{('open', 'won', 'lost')[i % 3]},{1000 + i}.50,"
        f"{('USD', 'eur', '')[i % 3]},2026-01-{1 + i % 28:02d}T10:00:00Z,"
        f"{(i % 100) if i % 2 else ''},2026-01-{1 + i % 28:02d}\n"
    )


BROKEN = {
    37: "B0037,Bad date,Proposal,open,10,USD,31/31/2026,,\n",
    81: "D0005,Duplicate of line 7,Proposal,open,5,USD,2026-01-01T00:00:00Z,,\n",
    150: "B0150,Short row\n",
    151: "\n",
    160: ",No id,Proposal,open,5,USD,2026-01-01T00:00:00Z,,\n",
    233: 'B0233,"Two\nlines",Proposal,open,5,USD,2026-01-01T00:00:00Z,,\n',
    310: 'B0310,Comma,Proposal,open,"12,5",USD,2026-01-01T00:00:00Z,,\n',
    311: 'B0311,Thousands,Proposal,Closed Won,"1,234.50",USD,02/03/2026,35%,03/04/2026\n',
    420: "B0420,Odd status,Proposal,pending,5,USD,2026-01-01T00:00:00Z,,\n",
    421: "B0421,Refund,Proposal,open,-50,dollars,2026-01-01T00:00:00Z,250,not a date\n",
    500: "D0499,Duplicate in the same block,Proposal,open,5,USD,2026-01-01T00:00:00Z,,\n",
}


def _mixed_file() -> str:
    lines = [HEADER]
    for i in range(600):
        lines.append(BROKEN.get(i, _good(i)))
    return "".join(lines)


def _mixed_config(folder: Path, fast_path: bool):  # type: ignore[no-untyped-def]
    (folder / "deals.csv").write_text(_mixed_file(), encoding="utf-8")
    activities = ["activity_id,deal_id,type,done,minutes\n"]
    for i in range(450):
        activities.append(
            f"A{i},D{i:04d},{('Call', 'e-mail', 'Demo', 'weird', '')[i % 5]},"
            f"{('yes', 'false', 'done', '')[i % 4]},{i}\n"
        )
    activities[120] = "A10,D0010,call,maybe,x\n"  # duplicate id
    activities[300] = "A299x,D0299,call,perhaps,12.5\n"  # bad bool, not a whole number
    (folder / "activities.csv").write_text("".join(activities), encoding="utf-8")
    raw = {
        "sources": [
            {
                "name": "exp",
                "kind": "csv",
                "options": {
                    "chunk_rows": 100,
                    "fast_path": fast_path,
                    "deals": {
                        "path": "deals.csv",
                        "columns": {
                            "source_deal_id": "id",
                            "name": "name",
                            "stage_id": "stage",
                            "status": "status",
                            "amount": "amount",
                            "currency": "currency",
                            "created_at": "created",
                            "probability": "probability",
                        },
                        "defaults": {"currency": "USD"},
                        "value_maps": {"status": {"won": "Closed Won"}},
                        "stage_dates": {"Engaged": "engaged"},
                    },
                    "activities": {
                        "path": "activities.csv",
                        "columns": {
                            "source_activity_id": "activity_id",
                            "deal_id": "deal_id",
                            "type": "type",
                            "completed": "done",
                            "duration_s": "minutes",
                        },
                    },
                },
            }
        ]
    }
    return parse_config(raw, folder / "hub.yml")


def test_mixed_clean_and_broken_rows_match_the_row_path(
    tmp_path: Path, block_calls: dict[str, int]
) -> None:
    configs = {}
    for name in ("fast", "rows"):
        (tmp_path / name).mkdir()
        configs[name] = _mixed_config(tmp_path / name, fast_path=name == "fast")
    fast_run = pull(configs["fast"])
    assert fast_run.status == "ok", fast_run.error
    assert block_calls["parsed"] > 0 and 0 < block_calls["rows"] < block_calls["parsed"]
    rows_run = pull(configs["rows"])
    assert rows_run.status == "ok", rows_run.error
    tables = ["deals", "stage_changes", "activities", "stages", "pipelines"]
    assert _tables(configs["fast"], "src_exp", tables) == _tables(
        configs["rows"], "src_exp", tables
    )
    quarantined = _quarantine(configs["fast"], "src_exp")
    assert quarantined == _quarantine(configs["rows"], "src_exp")

    ids = [r[0] for r in query(configs["fast"], "SELECT source_deal_id FROM src_exp.deals")]
    assert len(ids) == len(set(ids))
    expected = {f"D{i:04d}" for i in range(600) if i not in BROKEN}
    expected |= {"B0037", "B0233", "B0310", "B0311", "B0421"}  # loaded without the bad value
    assert set(ids) == expected
    by_line = {location: reason for _, _, location, _, _, reason in quarantined}
    assert "first seen on line 7" in by_line["deals.csv:83"]
    assert "row has 2 fields" in by_line["deals.csv:152"]
    assert "required value 'source_deal_id'" in by_line["deals.csv:162"]  # after the blank line
    assert "status 'pending'" in by_line["deals.csv:423"]  # after the two-line cell
    assert "first seen on line 502" in by_line["deals.csv:503"]  # (row 499 is on line 502)
    assert any(
        "duplicate activity id" in r
        for _, _, loc, _, _, r in quarantined
        if loc == "activities.csv:121"
    )


def test_rows_after_a_stray_quote_are_read_as_the_row_path_reads_them(tmp_path: Path) -> None:
    lines = [HEADER] + [_good(i) for i in range(300)]
    lines[120] = 'B0119,Stray " quote,Proposal,open,5,USD,2026-01-01T00:00:00Z,,\n'
    lines[200] = 'B0199,"Unclosed,Proposal,open,5,USD,2026-01-01T00:00:00Z,,\n'
    results = []
    for name in ("fast", "rows"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "deals.csv").write_text("".join(lines), encoding="utf-8")
        config = parse_config(
            {
                "sources": [
                    {
                        "name": "exp",
                        "kind": "csv",
                        "options": {
                            "chunk_rows": 100,
                            "fast_path": name == "fast",
                            "deals": {
                                "path": "deals.csv",
                                "columns": {
                                    "source_deal_id": "id",
                                    "name": "name",
                                    "amount": "amount",
                                },
                            },
                        },
                    }
                ]
            },
            folder / "hub.yml",
        )
        assert pull(config).status == "ok"
        results.append((_tables(config, "src_exp", ["deals"]), _quarantine(config, "src_exp")))
    assert results[0] == results[1]


TIMESTAMPS = [
    "2026-01-02",
    "2026-01-02T03:04",
    "2026-01-02T03:04:05Z",
    "2026-01-02 03:04:05+05:30",
    "2026-01-02T03:04:05.5Z",
    "2026-01-02T03:04:05.123456-08:00",
    "2026-02-30",
    "2026-13-01",
    "2026-01-02T24:00:00Z",
    "2026-01-02T23:59:60Z",
    "2026-01-02T03Z",
    "2026-01-02Z",
    "20260102",
    "02/03/2026",
    "1767225600",
    "2026-01-02T03:04:05+24:00",
    "0999-01-01",
]


@pytest.mark.parametrize("text", TIMESTAMPS)
def test_fast_timestamps_and_dates_equal_the_row_parsers_or_defer(text: str) -> None:
    converter = fast.ColumnConverter(
        types={"t": datetime, "d": date}, decimal_separator=".", naive_is_utc=True, date_format=None
    )
    for name, parser in (
        ("t", timestamp_parser(None, day_first=False, tz=UTC)),
        ("d", date_parser(None, day_first=False, tz=UTC)),
    ):
        try:
            got = converter.parse(name, pa.array([text])).to_pylist()[0]
        except fast.NotClean:
            continue
        try:
            expected = parser(text)
        except BadValue:
            raise AssertionError(f"fast path took {text!r}, the row path rejects it") from None
        assert got == expected


@pytest.mark.parametrize(
    "text", ["12", "-3", "0012.50", "1e3", "1,000", "12,5", " 7 ", "3.1234567891"]
)
def test_fast_numbers_equal_the_row_parsers_or_defer(text: str) -> None:
    from decimal import Decimal

    from connectors.csv.parsing import decimal_parser, float_parser, int_parser

    converter = fast.ColumnConverter(
        types={"a": Decimal, "p": float, "n": int},
        decimal_separator=".",
        naive_is_utc=True,
        date_format=None,
    )
    for name, parser in (
        ("a", decimal_parser(".")),
        ("p", float_parser(".")),
        ("n", int_parser(".")),
    ):
        try:
            got = converter.parse(name, pa.array([text])).to_pylist()[0]
        except fast.NotClean:
            continue
        assert got == parser(text)
