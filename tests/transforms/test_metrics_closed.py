"""win_rate, deal_size, sales_cycle, stage_conversion and time_in_stage vs plain Python."""

from __future__ import annotations

from datetime import datetime

import pytest

from .conftest import Built
from .expected import (
    CLOSE_PERIODS,
    counted,
    days,
    grouped,
    has_cycle,
    is_lost,
    is_won,
    keyed,
    mean,
    percentile,
    ratio,
    rep_key,
)
from .fixtures import CANONICAL_STAGES, OUTCOME, STAGE_ORDER

approx = pytest.approx


def _periodised(deals, at):
    return [(pt, f(at(d)), d) for d in deals for pt, f in CLOSE_PERIODS.items()]


def test_win_rate_by_count_and_value(built: Built) -> None:
    closed = [d for d in counted(built.expected) if is_won(d) or is_lost(d)]
    items = _periodised(closed, lambda d: d.closed_at)
    dims = {
        "period_type": lambda x: x[0],
        "period_start": lambda x: x[1],
        "rep_key": lambda x: rep_key(x[2]),
        "source_name": lambda x: x[2].source_name,
        "pipeline_key": lambda x: x[2].pipeline_key,
    }
    sets = [
        ("period_type", "period_start", "rep_key", "source_name", "pipeline_key"),
        ("period_type", "period_start", "rep_key"),
        ("period_type", "period_start", "source_name", "pipeline_key"),
        ("period_type", "period_start", "source_name"),
        ("period_type", "period_start"),
    ]
    want = grouped(items, dims, sets)
    got = keyed(built.table("analytics.win_rate"), list(dims))
    assert set(got) == set(want)
    for key, group in want.items():
        deals = [x[2] for x in group]
        won = [d for d in deals if is_won(d)]
        lost = [d for d in deals if is_lost(d)]
        row = got[key]
        assert (row["won_count"], row["lost_count"]) == (len(won), len(lost)), key
        assert row["win_rate"] == approx(ratio(len(won), len(won) + len(lost)))
        won_v = sum(d.amount_base for d in won if d.amount_base is not None)
        lost_v = sum(d.amount_base for d in lost if d.amount_base is not None)
        assert row["win_rate_by_value"] == approx(ratio(won_v, won_v + lost_v), abs=1e-9)
    # the whole-company monthly rate for one month, spelled out
    june = got[("month", datetime(2026, 6, 1).date(), "*", "*", "*")]
    assert 0 < june["win_rate"] < 1
    # the all-time row is the sum of the quarters (a reader summing every row must filter it)
    quarters = [r for k, r in got.items() if k[0] == "quarter" and k[2:] == ("*", "*", "*")]
    everything = got[("all", None, "*", "*", "*")]
    assert everything["won_count"] == sum(r["won_count"] for r in quarters)
    assert everything["lost_count"] == sum(r["lost_count"] for r in quarters)


def test_deal_size_of_won_deals(built: Built) -> None:
    won = [d for d in counted(built.expected) if is_won(d)]
    items = _periodised(won, lambda d: d.closed_at)
    dims = {
        "period_type": lambda x: x[0],
        "period_start": lambda x: x[1],
        "rep_key": lambda x: rep_key(x[2]),
        "source_name": lambda x: x[2].source_name,
    }
    sets = [
        ("period_type", "period_start", "rep_key", "source_name"),
        ("period_type", "period_start", "rep_key"),
        ("period_type", "period_start", "source_name"),
        ("period_type", "period_start"),
    ]
    want = grouped(items, dims, sets)
    got = keyed(built.table("analytics.deal_size"), list(dims))
    assert set(got) == set(want)
    for key, group in want.items():
        amounts = [x[2].amount_base for x in group if x[2].amount_base is not None]
        row = got[key]
        assert row["won_count"] == len(group)
        assert row["n_won_without_amount_base"] == len(group) - len(amounts)
        if amounts:
            assert float(row["bookings_base"]) == approx(sum(amounts))
            assert row["mean_won_amount_base"] == approx(mean(amounts))
            assert float(row["median_won_amount_base"]) == approx(percentile(amounts, 0.5))
            assert float(row["largest_won_amount_base"]) == approx(max(amounts))
        else:  # e.g. the JPY deal alone: no base amount -> NULL, never 0
            assert row["bookings_base"] is None and row["mean_won_amount_base"] is None


def test_sales_cycle(built: Built) -> None:
    closed = [d for d in counted(built.expected) if (is_won(d) or is_lost(d)) and has_cycle(d)]
    dims = {"outcome": lambda d: d.status, "source_name": lambda d: d.source_name}
    want = grouped(closed, dims, [("outcome", "source_name"), ("outcome",)])
    got = keyed(built.table("analytics.sales_cycle"), list(dims))
    assert set(got) == set(want)
    for key, group in want.items():
        cycles = [days(d.created_at, d.closed_at) for d in group]
        row = got[key]
        assert row["deal_count"] == len(group)
        assert row["mean_days"] == approx(mean(cycles))
        assert row["median_days"] == approx(percentile(cycles, 0.5))


OPEN_AND_WON = [s for s in CANONICAL_STAGES if OUTCOME.get(s) != "lost"]
NEXT = {
    s: (OPEN_AND_WON[k + 1] if OUTCOME.get(s) is None else None) for k, s in enumerate(OPEN_AND_WON)
}


def _funnel_flags(deal) -> dict[str, tuple[bool, bool | None]] | None:
    """{stage: (reached, reached_next)} per mode, from the expected path; None if no mapped spell."""
    mapped = [(s, t) for s, t in deal.path if s in STAGE_ORDER]
    if not mapped:
        return None
    furthest = max((STAGE_ORDER[s] for s, _ in mapped if OUTCOME.get(s) != "lost"), default=None)
    first_at: dict[str, datetime] = {}
    last_at: dict[str, datetime] = {}
    for s, t in mapped:
        first_at.setdefault(s, t)
        last_at[s] = t
    any_order, strict = {}, {}
    for s in CANONICAL_STAGES:
        nxt = NEXT.get(s)
        if OUTCOME.get(s) == "lost":
            any_order[s] = (s in first_at, None)
            strict[s] = (s in first_at, None)
            continue
        reached = furthest is not None and furthest >= STAGE_ORDER[s]
        reached_next = (
            None if nxt is None else (furthest is not None and furthest >= STAGE_ORDER[nxt])
        )
        any_order[s] = (reached, reached_next)
        s_next = (
            None
            if nxt is None
            else (s in first_at and nxt in last_at and last_at[nxt] > first_at[s])
        )
        strict[s] = (s in first_at, s_next)
    return {"any_order": any_order, "strict_order": strict}


def test_stage_conversion_both_modes(built: Built) -> None:
    items = []
    for d in counted(built.expected):
        flags = _funnel_flags(d)
        if flags is not None and d.has_dated_creation:
            items.append((d, flags))
    dims = {
        "source_name": lambda x: x[0].source_name,
        "pipeline_key": lambda x: x[0].pipeline_key,
        "cohort_month": lambda x: x[0].created_at.date().replace(day=1),
    }
    sets = [
        ("source_name", "pipeline_key", "cohort_month"),
        ("source_name", "pipeline_key"),
        ("cohort_month",),
        (),
    ]
    want = grouped(items, dims, sets, rolled={"cohort_month": None})
    got = keyed(
        built.table("analytics.stage_conversion"),
        ["mode", "source_name", "pipeline_key", "cohort_month", "canonical_stage"],
    )
    assert len(got) == 2 * len(CANONICAL_STAGES) * len(want)
    for key, group in want.items():
        for mode in ("any_order", "strict_order"):
            for stage in CANONICAL_STAGES:
                row = got[(mode, *key, stage)]
                reached = sum(1 for _, f in group if f[mode][stage][0])
                nxt = [f[mode][stage][1] for _, f in group]
                reached_next = None if NEXT.get(stage) is None else sum(1 for v in nxt if v)
                assert row["funnel_deals"] == len(group)
                assert row["reached_count"] == reached, (mode, key, stage)
                assert row["reached_next_count"] == reached_next, (mode, key, stage)
                assert row["next_step_conversion"] == approx(ratio(reached_next, reached))
                assert row["cumulative_conversion"] == approx(ratio(reached, len(group)))


def test_stage_conversion_any_order_agrees_with_generator_truth(built: Built) -> None:
    """The generator's own GroundTruth counts 'reached' the same way (HubSpot-shaped source
    keeps the full path, so its numbers must match exactly)."""
    from connectors.synthetic import compute_truth

    from .fixtures import SOURCES, make_world

    world = make_world()
    truth = compute_truth(world.iter_deals_for(0, len(SOURCES)))
    rows = built.rows(
        "select canonical_stage, reached_count from analytics.stage_conversion "
        "where mode = 'any_order' and source_name = 'hubspot_main' and cohort_month is null"
    )
    assert {r["canonical_stage"]: r["reached_count"] for r in rows} == truth.reached_stage


def test_time_in_stage(built: Built) -> None:
    items = []
    for d in counted(built.expected):
        outcome = "won" if is_won(d) else "lost" if is_lost(d) else "open"
        for k in range(len(d.path) - 1):
            stage, at = d.path[k]
            items.append((stage, outcome, d.source_name, days(at, d.path[k + 1][1])))
    dims = {
        "canonical_stage": lambda x: x[0],
        "final_outcome": lambda x: x[1],
        "source_name": lambda x: x[2],
    }
    sets = [
        ("canonical_stage", "final_outcome", "source_name"),
        ("canonical_stage", "final_outcome"),
        ("canonical_stage", "source_name"),
        ("canonical_stage",),
    ]
    want = grouped(items, dims, sets, rolled={"final_outcome": "all"})
    got = keyed(built.table("analytics.time_in_stage"), list(dims))
    assert set(got) == set(want)
    for key, group in want.items():
        values = [x[3] for x in group]
        row = got[key]
        assert row["spell_count"] == len(values)
        assert row["mean_days"] == approx(mean(values))
        for col, p in (("median_days", 0.5), ("p75_days", 0.75), ("p90_days", 0.9)):
            assert row[col] == approx(percentile(values, p)), (key, col)


# The 'edge' source, by hand (see fixtures.EDGE_DEALS): counted deals with a mapped spell are
# skip (prospecting -> proposal), yen (qualification -> negotiation -> won), future_moves
# (meeting; its later move is after as_of) and late_history (qualification -> meeting).
EDGE_FUNNEL = {
    # stage: (any_order reached, reached_next), (strict_order reached, reached_next)
    "prospecting": ((4, 4), (1, 0)),
    "qualification": ((4, 4), (2, 1)),
    "meeting": ((4, 2), (2, 0)),
    "proposal": ((2, 1), (1, 0)),
    "negotiation": ((1, 1), (1, 1)),
    "closed_won": ((1, None), (1, None)),
    "closed_lost": ((0, None), (0, None)),
}


def test_stage_conversion_on_hand_computed_edge_deals(built: Built) -> None:
    rows = built.rows(
        "select mode, canonical_stage, funnel_deals, reached_count, reached_next_count "
        "from analytics.stage_conversion where source_name = 'edge' and cohort_month is null"
    )
    got = {(r["mode"], r["canonical_stage"]): r for r in rows}
    for stage, (any_order, strict) in EDGE_FUNNEL.items():
        for mode, (reached, reached_next) in (("any_order", any_order), ("strict_order", strict)):
            row = got[(mode, stage)]
            assert row["funnel_deals"] == 4
            assert (row["reached_count"], row["reached_next_count"]) == (reached, reached_next), (
                mode,
                stage,
            )


def test_sales_cycle_by_close_period_and_rep(built: Built) -> None:
    closed = [d for d in counted(built.expected) if (is_won(d) or is_lost(d)) and has_cycle(d)]
    dims = {
        "period_type": lambda x: x[0],
        "period_start": lambda x: x[1],
        "rep_key": lambda x: rep_key(x[2]),
        "outcome": lambda x: x[2].status,
        "source_name": lambda x: x[2].source_name,
    }
    sets = [
        tuple(dims),
        ("period_type", "period_start", "rep_key", "outcome"),
        ("period_type", "period_start", "outcome", "source_name"),
        ("period_type", "period_start", "outcome"),
    ]
    want = grouped(_periodised(closed, lambda d: d.closed_at), dims, sets)
    got = keyed(built.table("analytics.sales_cycle_by_period"), list(dims))
    assert set(got) == set(want)
    for key, group in want.items():
        cycles = [days(x[2].created_at, x[2].closed_at) for x in group]
        row = got[key]
        assert row["deal_count"] == len(group), key
        assert row["mean_days"] == approx(mean(cycles))
        assert row["median_days"] == approx(percentile(cycles, 0.5))
        assert row["p90_days"] == approx(percentile(cycles, 0.9))
    # all time, all reps: the sales_cycle mart row for row
    for row in built.table("analytics.sales_cycle"):
        mine = got[("all", None, "*", row["outcome"], row["source_name"])]
        assert (mine["deal_count"], mine["median_days"]) == (row["deal_count"], row["median_days"])
    assert {k[2] for k in got} - {"*"}, "no per-rep rows"


def test_time_in_stage_by_rep(built: Built) -> None:
    items = []
    for d in counted(built.expected):
        outcome = "won" if is_won(d) else "lost" if is_lost(d) else "open"
        for k in range(len(d.path) - 1):
            stage, at = d.path[k]
            items.append((stage, outcome, rep_key(d), d.source_name, days(at, d.path[k + 1][1])))
    dims = {
        "canonical_stage": lambda x: x[0],
        "final_outcome": lambda x: x[1],
        "rep_key": lambda x: x[2],
        "source_name": lambda x: x[3],
    }
    base = [("final_outcome", "source_name"), ("final_outcome",), ("source_name",), ()]
    sets = [("canonical_stage", *s, *r) for s in base for r in ((), ("rep_key",))]
    want = grouped(items, dims, sets, rolled={"final_outcome": "all"})
    got = keyed(built.table("analytics.time_in_stage_by_rep"), list(dims))
    assert set(got) == set(want)
    for key, group in want.items():
        values = [x[4] for x in group]
        row = got[key]
        assert row["spell_count"] == len(values), key
        assert row["mean_days"] == approx(mean(values))
        assert row["p90_days"] == approx(percentile(values, 0.9))
    every_rep = {(k[0], k[1], k[3]): r["spell_count"] for k, r in got.items() if k[2] == "*"}
    assert every_rep == {
        (r["canonical_stage"], r["final_outcome"], r["source_name"]): r["spell_count"]
        for r in built.table("analytics.time_in_stage")
    }


def test_stage_conversion_by_rep(built: Built) -> None:
    items = []
    for d in counted(built.expected):
        flags = _funnel_flags(d)
        if flags is not None and d.has_dated_creation:
            items.append((d, flags))
    dims = {
        "rep_key": lambda x: rep_key(x[0]),
        "source_name": lambda x: x[0].source_name,
        "pipeline_key": lambda x: x[0].pipeline_key,
        "cohort_month": lambda x: x[0].created_at.date().replace(day=1),
    }
    base = [("source_name", "pipeline_key", "cohort_month"), ("source_name", "pipeline_key")]
    base += [("cohort_month",), ()]
    sets = [(*r, *s) for s in base for r in ((), ("rep_key",))]
    want = grouped(items, dims, sets, rolled={"cohort_month": None})
    got = keyed(
        built.table("analytics.stage_conversion_by_rep"),
        ["mode", *dims, "canonical_stage"],
    )
    assert len(got) == 2 * len(CANONICAL_STAGES) * len(want)
    for key, group in want.items():
        for mode in ("any_order", "strict_order"):
            for stage in CANONICAL_STAGES:
                row = got[(mode, *key, stage)]
                reached = sum(1 for _, f in group if f[mode][stage][0])
                nxt = [f[mode][stage][1] for _, f in group]
                reached_next = None if NEXT.get(stage) is None else sum(1 for v in nxt if v)
                assert row["funnel_deals"] == len(group)
                assert (row["reached_count"], row["reached_next_count"]) == (
                    reached,
                    reached_next,
                ), (mode, key, stage)
