"""Broken CSV inputs: each gives a clear message or quarantine rows with reasons, never a
traceback, and the good rows still load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.csv_helpers import csv_config, has_table, pull, query

HEADER = "id,name,stage,status,amount,currency,created,probability\n"
GOOD = "G1,Good one,Proposal,open,1000,USD,2026-01-05,0.3\nG2,Good two,Won,won,2500.50,EUR,2026-02-01,\n"
COLUMNS = {
    "source_deal_id": "id",
    "name": "name",
    "stage_id": "stage",
    "status": "status",
    "amount": "amount",
    "currency": "currency",
    "created_at": "created",
    "probability": "probability",
}


@dataclass
class Case:
    content: bytes
    error: str | None = None  # the whole source fails with this in its message
    reasons: list[str] = field(default_factory=list)  # quarantine reasons expected
    good_ids: set[str] = field(default_factory=lambda: {"G1", "G2"})
    columns: dict[str, str] = field(default_factory=lambda: dict(COLUMNS))
    options: dict = field(default_factory=dict)


def rows(*lines: str) -> bytes:
    return (HEADER + GOOD + "".join(line + "\n" for line in lines)).encode("utf-8")


CASES = {
    "empty-file": Case(b"", error="the file is empty"),
    "header-only-blank-lines": Case(b"\n\n  \n", error="the file is empty"),
    "missing-required-column": Case(
        b"name,amount\nx,1\n", error="missing column(s) 'id' (for source_deal_id)"
    ),
    "missing-column-lists-columns-found": Case(
        b"deal,amount\nx,1\n", error="the file has: deal, amount"
    ),
    "bad-date": Case(
        rows("B1,Bad date,Proposal,open,10,USD,31/31/2026,"),
        reasons=["not a date/time"],
        good_ids={"G1", "G2", "B1"},
    ),
    "non-numeric-amount": Case(
        rows("B1,Bad amount,Proposal,open,lots,USD,2026-01-01,"),
        reasons=["not a number: 'lots'"],
        good_ids={"G1", "G2", "B1"},
    ),
    "negative-amount": Case(
        rows("B1,Refund,Proposal,open,-50,USD,2026-01-01,"),
        reasons=["negative amount"],
        good_ids={"G1", "G2", "B1"},
    ),
    "huge-amount": Case(
        rows("B1,Typo,Proposal,open,99999999999999,USD,2026-01-01,"),
        reasons=["amount above max_amount"],
        good_ids={"G1", "G2", "B1"},
    ),
    "amount-too-long-to-store": Case(
        rows("B1,Typo,Proposal,open,123456789012345678901234567890123,USD,2026-01-01,"),
        reasons=["number too large to store (more than 29 digits before the decimal point)"],
        good_ids={"G1", "G2", "B1"},
    ),
    "duplicate-id": Case(
        rows("G1,Again,Proposal,open,5,USD,2026-01-01,"),
        reasons=["duplicate deal id; first seen on line 2"],
    ),
    "missing-id": Case(
        rows(",No id,Proposal,open,5,USD,2026-01-01,"),
        reasons=["required value 'source_deal_id' is empty"],
    ),
    "ragged-row-short": Case(
        rows("B1,Short row"), reasons=["row has 2 fields but the header has 8"]
    ),
    "ragged-row-long": Case(
        rows("B1,Long,Proposal,open,5,USD,2026-01-01,,extra,extra"), reasons=["row has 10 fields"]
    ),
    "unknown-status": Case(
        rows("B1,Odd,Proposal,pending,5,USD,2026-01-01,"),
        reasons=["status 'pending' is not one of open, won, lost"],
    ),
    "bad-currency": Case(
        rows("B1,Cur,Proposal,open,5,dollars,2026-01-01,"),
        reasons=["not a 3-letter currency code"],
        good_ids={"G1", "G2", "B1"},
    ),
    "probability-out-of-range": Case(
        rows("B1,Prob,Proposal,open,5,USD,2026-01-01,250"),
        reasons=["probability outside 0-100 %"],
        good_ids={"G1", "G2", "B1"},
    ),
    "ambiguous-decimal-comma": Case(
        rows('B1,Comma,Proposal,open,"12,5",USD,2026-01-01,'),
        reasons=["ambiguous number '12,5'"],
        good_ids={"G1", "G2", "B1"},
    ),
    "unclosed-quote": Case(
        rows('B1,"Never closed,Proposal,open,5,USD,2026-01-01,'), reasons=["row has 2 fields"]
    ),
    "wrong-encoding-declared": Case(
        "id,name\n1,Ünïcødé\n".encode("utf-16"),
        error="file",
        columns={"source_deal_id": "id", "name": "name"},
        good_ids=set(),
    ),
    "unknown-stage-loads-and-is-listed": Case(
        rows("B1,Odd stage,Teleported,open,5,USD,2026-01-01,"), good_ids={"G1", "G2", "B1"}
    ),
    "html-and-emoji-in-names": Case(
        rows("B1,<b>Big</b> deal 🚀,Proposal,open,5,USD,2026-01-01,"), good_ids={"G1", "G2", "B1"}
    ),
    "not-a-file-but-a-folder": Case(b"", error="is a folder"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_broken_input_is_explained_and_good_rows_load(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    path = tmp_path / "deals.csv"
    if name == "not-a-file-but-a-folder":
        path.mkdir()
    else:
        path.write_bytes(case.content)
    config = csv_config(tmp_path, {"path": "deals.csv", "columns": case.columns, **case.options})
    run = pull(config)
    if case.error:
        assert run.status == "failed"
        assert case.error in (run.error or ""), run.error
        assert "Traceback" not in (run.error or "")
        assert str(path.name) in (run.error or "") or "deals" in (run.error or "")
        return
    assert run.status == "ok", run.error
    loaded = {r[0] for r in query(config, "SELECT source_deal_id FROM src_exp.deals")}
    assert loaded == case.good_ids
    if case.reasons:
        quarantined = query(config, "SELECT location, column_name, reason FROM src_exp.quarantine")
        assert quarantined, "expected quarantine rows"
        for fragment in case.reasons:
            assert any(fragment in reason for _, _, reason in quarantined), quarantined
        assert all(location.startswith("deals.csv:") for location, _, _ in quarantined)
    else:
        assert not has_table(config, "src_exp", "quarantine") or not query(
            config, "SELECT * FROM src_exp.quarantine"
        )


def test_good_rows_of_other_files_load_when_one_file_is_broken(tmp_path: Path) -> None:
    """A broken activities file fails its source with a clear line; nothing is half-loaded."""
    (tmp_path / "deals.csv").write_bytes(HEADER.encode() + GOOD.encode())
    (tmp_path / "activities.csv").write_bytes(b"")
    config = csv_config(
        tmp_path,
        {"path": "deals.csv", "columns": COLUMNS},
        activities={"path": "activities.csv", "columns": {"source_activity_id": "id"}},
    )
    run = pull(config)
    assert run.status == "failed"
    assert "activities.csv: the file is empty" in (run.error or "")


def test_amounts_with_more_decimals_than_stored_are_rounded_not_fatal(tmp_path: Path) -> None:
    """A computed amount (a third of a price) with 11 decimal places failed the whole pull
    in Arrow ("Rescaling Decimal value would cause data loss"); it rounds half-even to the
    9 places of decimal(38, 9), and the file's other rows load as they are."""
    (tmp_path / "deals.csv").write_bytes(
        rows(
            "R1,Third,Proposal,open,333.33333333333,USD,2026-01-01,",
            "R2,Tie,Proposal,open,0.0000000125,USD,2026-01-01,",
        )
    )
    config = csv_config(tmp_path, {"path": "deals.csv", "columns": COLUMNS})
    run = pull(config)
    assert run.status == "ok" and run.quarantined == 0, run.error
    amounts = dict(
        query(config, "SELECT source_deal_id, CAST(amount AS VARCHAR) FROM src_exp.deals")
    )
    assert amounts == {
        "G1": "1000.000000000",
        "G2": "2500.500000000",
        "R1": "333.333333333",
        "R2": "0.000000012",  # half-even: ...12|5 rounds to the even 2
    }
