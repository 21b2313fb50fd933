"""Typed custom fields from CSV files: declared or inferred types land as JSON types in
``custom_fields`` on both read paths, a value that does not fit its declared type is
quarantined with file, line and column, and every file read says what its fields are in
``field_definitions``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.csv import fast
from connectors.csv.custom import value_parser
from connectors.csv.infer import infer_types
from connectors.csv.options import DealsFile
from connectors.csv.reading import inspect_file
from connectors.values import BadValue
from models.config import parse_config
from models.errors import ConfigError
from tests.csv_helpers import pull, query

HEADER = "id,name,Lead Source,employees,signed_on,renewal_at,is_partner,notes,zip\n"
LEAD_SOURCES = ("Inbound", "Outbound", "Referral", "Partner", "Event")
DECLARED = {
    "Lead Source": {"type": "enum", "values": list(LEAD_SOURCES)},
    "employees": "number",
    "signed_on": "date",
    "renewal_at": "datetime",
    "is_partner": "bool",
    "notes": "text",
}


def _row(i: int) -> str:
    employees = ("12", "1200.5", "", "-3", "0.25")[i % 5]
    notes = ('said "call me"', "", "ünïcødé, with comma", "x")[i % 4]
    return (
        f"D{i:04d},Deal {i},{LEAD_SOURCES[i % 5].lower() if i % 7 == 0 else LEAD_SOURCES[i % 5]},"
        f"{employees},2026-01-{1 + i % 28:02d},2026-02-{1 + i % 28:02d}T10:00:00Z,"
        f'{("true", "false", "yes", "")[i % 4]},"{notes.replace(chr(34), chr(34) * 2)}",'
        f"0{2000 + i}\n"
    )


def _expected(i: int) -> dict[str, Any]:
    """Deal i's custom_fields, written out by hand from _row."""
    out: dict[str, Any] = {"lead_source": LEAD_SOURCES[i % 5]}
    employees = (12, 1200.5, None, -3, 0.25)[i % 5]
    if employees is not None:
        out["employees"] = employees
    out["signed_on"] = f"2026-01-{1 + i % 28:02d}"
    out["renewal_at"] = f"2026-02-{1 + i % 28:02d}T10:00:00+00:00"
    partner = (True, False, True, None)[i % 4]
    if partner is not None:
        out["is_partner"] = partner
    notes = ('said "call me"', None, "ünïcødé, with comma", "x")[i % 4]
    if notes is not None:
        out["notes"] = notes
    out["zip"] = f"0{2000 + i}"
    return out


def _config(folder: Path, content: str, *, fast_path: bool, custom_fields: Any) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deals.csv").write_text(content, encoding="utf-8")
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
                        "columns": {"source_deal_id": "id", "name": "name"},
                        "custom_fields": custom_fields,
                    },
                },
            }
        ]
    }
    return parse_config(raw, folder / "hub.yml")


def _custom(config: Any) -> dict[str, dict[str, Any] | None]:
    rows = query(config, "SELECT source_deal_id, custom_fields FROM src_exp.deals")
    return {deal_id: None if text is None else json.loads(text) for deal_id, text in rows}


@pytest.fixture
def block_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
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


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "row-path"])
def test_declared_and_inferred_types_land_as_json_types(
    tmp_path: Path, fast_path: bool, block_calls: dict[str, int]
) -> None:
    """The row path used to hand Arrow a dict for custom_fields (ArrowTypeError, issue #14);
    both paths now write the same typed JSON."""
    content = HEADER + "".join(_row(i) for i in range(350))
    config = _config(
        tmp_path, content, fast_path=fast_path, custom_fields={**DECLARED, "*": "infer"}
    )
    run = pull(config)
    assert run.status == "ok", run.error
    assert run.quarantined == 0
    if fast_path:
        assert block_calls["parsed"] >= 4 and block_calls["rows"] == 0
    assert _custom(config) == {f"D{i:04d}": _expected(i) for i in range(350)}
    types = dict(
        query(
            config,
            "SELECT k, string_agg(DISTINCT json_type(custom_fields, '$.' || k), ',') FROM "
            "src_exp.deals, unnest(json_keys(custom_fields)) AS t(k) GROUP BY k",
        )
    )
    assert set(types.pop("employees").split(",")) == {"UBIGINT", "BIGINT", "DOUBLE"}
    assert types == {
        "lead_source": "VARCHAR",
        "signed_on": "VARCHAR",
        "renewal_at": "VARCHAR",
        "is_partner": "BOOLEAN",
        "notes": "VARCHAR",
        "zip": "VARCHAR",
    }
    definitions = query(
        config,
        "SELECT field_key, entity, column_name, source_field, label, data_type "
        "FROM src_exp.field_definitions ORDER BY field_key",
    )
    assert definitions == [
        ("exp:deal:employees", "deal", "employees", "employees", "employees", "number"),
        ("exp:deal:is_partner", "deal", "is_partner", "is_partner", "is_partner", "bool"),
        ("exp:deal:lead_source", "deal", "lead_source", "Lead Source", "Lead Source", "enum"),
        ("exp:deal:notes", "deal", "notes", "notes", "notes", "text"),
        ("exp:deal:renewal_at", "deal", "renewal_at", "renewal_at", "renewal_at", "datetime"),
        ("exp:deal:signed_on", "deal", "signed_on", "signed_on", "signed_on", "date"),
        ("exp:deal:zip", "deal", "zip", "zip", "zip", "text"),  # inferred; leading zeros
    ]


BAD = {  # row index -> (column, the cell written, reason fragment)
    40: ("employees", "lots", "not a number: 'lots'"),
    41: ("signed_on", "31/31/2026", "not a date/time"),
    42: ("is_partner", "maybe", "not a yes/no value: 'maybe'"),
    243: ("Lead Source", "Carrier pigeon", "'Carrier pigeon' is not one of Inbound, Outbound"),
    244: ("renewal_at", "soon", "not a date/time"),
}
_POSITION = {name: k for k, name in enumerate(HEADER.strip().split(","))}


def _bad_file() -> str:
    lines = [HEADER]
    for i in range(350):
        line = _row(i)
        if i in BAD:
            column, cell, _ = BAD[i]
            cells = line.rstrip("\n").split(",")
            cells[_POSITION[column]] = cell
            line = ",".join(cells) + "\n"
        lines.append(line)
    return "".join(lines)


def test_a_bad_typed_value_is_quarantined_with_file_line_and_column(tmp_path: Path) -> None:
    results = {}
    for name in ("fast", "rows"):
        config = _config(
            tmp_path / name, _bad_file(), fast_path=name == "fast", custom_fields=DECLARED
        )
        run = pull(config)
        assert run.status == "ok", run.error
        quarantined = query(
            config,
            "SELECT location, record_id, column_name, value, reason FROM src_exp.quarantine "
            "ORDER BY CAST(split_part(location, ':', 2) AS INTEGER)",
        )
        results[name] = (_custom(config), quarantined)
    assert results["fast"] == results["rows"]
    custom, quarantined = results["fast"]
    assert len(custom) == 350  # every row loaded, only the bad value left out
    assert [(loc, rid, col, val) for loc, rid, col, val, _ in quarantined] == [
        (f"deals.csv:{i + 2}", f"D{i:04d}", column, cell) for i, (column, cell, _) in BAD.items()
    ]
    for (*_, reason), (_, _, fragment) in zip(quarantined, BAD.values(), strict=True):
        assert fragment in reason and "the row was loaded without this value" in reason
    for i, (column, _, _) in BAD.items():
        expected = {k: v for k, v in _expected(i).items() if k != "zip"}
        key = "lead_source" if column == "Lead Source" else column
        expected.pop(key, None)
        assert custom[f"D{i:04d}"] == expected


def test_a_list_keeps_text_and_all_infers_every_other_column(tmp_path: Path) -> None:
    content = HEADER + "".join(_row(i) for i in range(20))
    listed = _config(tmp_path / "list", content, fast_path=True, custom_fields=["employees"])
    assert pull(listed).status == "ok"
    assert _custom(listed)["D0001"] == {"employees": "1200.5"}
    assert _custom(listed)["D0002"] is None  # no value left: null, not {}
    everything = _config(tmp_path / "all", content, fast_path=True, custom_fields="all")
    assert pull(everything).status == "ok"
    types = dict(query(everything, "SELECT column_name, data_type FROM src_exp.field_definitions"))
    assert types == {  # id and name are mapped columns, not custom fields
        "lead_source": "text",  # enums are declared, never inferred
        "employees": "number",
        "signed_on": "date",
        "renewal_at": "datetime",
        "is_partner": "bool",
        "notes": "text",
        "zip": "text",
    }


@pytest.mark.parametrize(
    ("values", "inferred"),
    [
        (["12", "-3", "0.5", "0"], "number"),
        (["12", "007"], "text"),  # a leading zero: an id or a zip code
        (["1,234.50"], "text"),  # declare number to read thousands separators
        (["true", "FALSE", "Yes", "no"], "bool"),
        (["1", "0"], "number"),
        (["2026-01-02", "2026-12-31"], "date"),
        (["2026-01-02", "2026-01-02T03:04:05Z", "2026-01-02 03:04"], "datetime"),
        (["2026-02-30"], "text"),
        (["2026-01-02T24:00:00Z"], "text"),
        (["2026-01-02T03:04:05+05:30", "2026-01-02T03:04:05.123456-08:00"], "datetime"),
        (["12", "twelve"], "text"),
        ([], "text"),
    ],
)
def test_an_inferred_type_fits_every_value_of_its_column(
    tmp_path: Path, values: list[str], inferred: str
) -> None:
    path = tmp_path / "deals.csv"
    path.write_text("id,x\n" + "".join(f"D{k},{v}\n" for k, v in enumerate(values)) + "Z,\n")
    facts = inspect_file(path, encoding=None, delimiter=None)
    for fast_path in (True, False):
        got = infer_types(
            facts,
            2,
            [1],
            decimal_separator=".",
            fast_path=fast_path,
            chunk_rows=100,
            check_encoding=False,
        )
        assert got == {1: inferred}
    file = DealsFile(path="deals.csv", columns={"source_deal_id": "id"})
    parse = value_parser(inferred, file, iso_only=True)
    for value in values:
        try:
            parse(value)
        except BadValue as exc:
            raise AssertionError(f"inferred {inferred} refuses {value!r}: {exc}") from None


@pytest.mark.parametrize(
    ("custom_fields", "message"),
    [
        ({"Employees Count": "number"}, "custom_fields: no column(s) 'Employees Count'"),
        (
            {"notes": "text", "Notes ": "text"},
            "no column(s) 'Notes '",
        ),
        (
            {"notes": "text", "zip": {"type": "text", "name": "Notes"}},
            "columns 'notes' and 'zip' would both be kept as 'notes'",
        ),
    ],
)
def test_a_custom_field_the_file_cannot_give_stops_the_source_with_one_line(
    tmp_path: Path, custom_fields: dict[str, Any], message: str
) -> None:
    content = HEADER + _row(1)
    config = _config(tmp_path, content, fast_path=True, custom_fields=custom_fields)
    run = pull(config)
    assert run.status == "failed"
    assert message in (run.error or ""), run.error
    assert "deals.csv" in (run.error or "") and "Traceback" not in (run.error or "")


@pytest.mark.parametrize(
    ("custom_fields", "message"),
    [
        ({"zip": {"type": "text", "values": ["a"]}}, "only an enum field lists its values"),
        ({"zip": "integer"}, "zip.type: not a valid choice; valid: 'text', 'number'"),
        ({"*": {"type": "text", "name": "x"}}, "stands for many columns"),
    ],
)
def test_a_custom_field_declaration_is_checked_with_the_config(
    tmp_path: Path, custom_fields: dict[str, Any], message: str
) -> None:
    config = _config(tmp_path, HEADER, fast_path=True, custom_fields=custom_fields)
    with pytest.raises(ConfigError) as caught:
        pull(config)
    assert "deals.custom_fields" in str(caught.value) and message in str(caught.value)
