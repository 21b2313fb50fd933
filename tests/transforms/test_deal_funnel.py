"""int_deal_funnel, the per-deal reduction the stage conversion marts count, against each
fixture deal's expected stage path reduced in plain Python."""

from __future__ import annotations

from datetime import datetime

from .conftest import Built
from .fixtures import CANONICAL_STAGES, OUTCOME, STAGE_ORDER

OPEN_AND_WON = [s for s in CANONICAL_STAGES if OUTCOME.get(s) != "lost"]
NEXT = {s: nxt for s, nxt in zip(OPEN_AND_WON, OPEN_AND_WON[1:], strict=False) if s not in OUTCOME}


def _expected_row(path: list[tuple[str, datetime]]) -> tuple[int | None, int, str] | None:
    """(furthest_order, was_lost, visited) of a path; None when no spell maps to a stage."""
    mapped = [(s, t) for s, t in path if s in STAGE_ORDER]
    if not mapped:
        return None
    first_at: dict[str, datetime] = {}
    last_at: dict[str, datetime] = {}
    for stage, at in mapped:
        first_at.setdefault(stage, at)
        last_at[stage] = at
    tokens = []
    for stage in sorted(first_at, key=STAGE_ORDER.__getitem__):
        nxt = NEXT.get(stage)
        if nxt is None:
            flag = "-"
        else:
            flag = "1" if nxt in last_at and last_at[nxt] > first_at[stage] else "0"
        tokens.append(f"|{STAGE_ORDER[stage]}:{flag}")
    open_or_won = [STAGE_ORDER[s] for s in first_at if OUTCOME.get(s) != "lost"]
    was_lost = int(any(OUTCOME.get(s) == "lost" for s in first_at))
    return (max(open_or_won, default=None), was_lost, "".join(tokens))


def test_one_row_per_deal_with_its_reduced_path(built: Built) -> None:
    got = {
        r["deal_key"]: (r["furthest_order"], r["was_lost"], r["visited"])
        for r in built.table("hub_staging.int_deal_funnel")
    }
    (n_rows,) = built.rows("select count(*) as n from hub_staging.int_deal_funnel")
    assert n_rows["n"] == len(got)  # one row per deal
    want = {d.deal_key: _expected_row(d.path) for d in built.expected}
    want = {key: row for key, row in want.items() if row is not None}
    assert got == want
    # the fixture reaches every kind of token: flags 1, 0 and '-', lost and only-lost deals
    visited = "".join(v for _, _, v in want.values())
    assert all(f":{flag}" in visited for flag in "10-")
    assert any(lost and furthest is None for furthest, lost, _ in want.values())
    assert any(lost and furthest is not None for furthest, lost, _ in want.values())
