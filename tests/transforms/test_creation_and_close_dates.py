"""Issue #14, items 1 and 2, on the ``export`` source (fixtures_export.py): an engage/close
CSV export first synced without as_of. Every figure here is computed by hand from the rows
written there (days between dates in EXPORT_DEALS), never read back from the SQL first.

Item 1: a won/lost deal enters its outcome at its close date, not at its engage date (nor at
the sync that first saw it), so its spell in the open stage has its real length.
Item 2: deals without a creation date are dated from their earliest fact, or counted in the
current pipeline from when the hub first saw them.
"""

from __future__ import annotations

from datetime import date

import pytest

from hub.status import undated_deals
from models.config import parse_config

from .conftest import Built
from .fixtures_export import SYNC, on_day

approx = pytest.approx
EXPORT = "source_name = 'export'"


def test_closed_deals_enter_won_and_lost_at_their_close_date(built: Built) -> None:
    rows = built.rows(
        "select deal_key, canonical_stage, entered_at, exited_at, days, origin "
        "from analytics.deal_stage_history where deal_key in "
        "('export:x_won1', 'export:x_lost1') order by deal_key, spell_index"
    )
    assert [(r["deal_key"], r["canonical_stage"], r["entered_at"]) for r in rows] == [
        ("export:x_lost1", "qualification", on_day(3)),
        ("export:x_lost1", "closed_lost", on_day(33)),
        ("export:x_won1", "qualification", on_day(1)),
        ("export:x_won1", "closed_won", on_day(20)),
    ]
    assert [r["days"] for r in rows if r["canonical_stage"] == "qualification"] == [30.0, 19.0]


def test_time_in_stage_counts_the_real_days_in_the_open_stage(built: Built) -> None:
    """x_won1 19 days, x_won2 10, x_lost1 30 in qualification (Engaging); all zeros before."""
    got = {
        r["final_outcome"]: r
        for r in built.table(
            "analytics.time_in_stage", f"{EXPORT} and canonical_stage = 'qualification'"
        )
    }
    everything = got["all"]
    assert everything["spell_count"] == 3
    assert everything["mean_days"] == approx(59 / 3)
    assert everything["median_days"] == approx(19.0)
    assert everything["p75_days"] == approx(24.5)  # 19 + 0.5 x (30 - 19)
    assert everything["p90_days"] == approx(27.8)  # 19 + 0.8 x (30 - 19)
    assert got["won"]["mean_days"] == approx(14.5) and got["lost"]["mean_days"] == approx(30.0)


def test_the_daily_snapshot_counts_the_deals_open_on_past_days(built: Built) -> None:
    rows = built.table("analytics.pipeline_snapshot_daily", EXPORT)
    count = {(r["snapshot_date"], r["canonical_stage"]): r["open_count"] for r in rows}
    # 10 March: x_won1 (2 Mar - 21 Mar), x_won2 (6 - 16 Mar), x_lost1 (4 Mar - 3 Apr)
    assert count[(date(2026, 3, 10), "qualification")] == 3
    assert count.get((date(2026, 3, 10), "closed_won"), 0) == 0
    # 15 June: x_open1, x_open2, x_stageonly in qualification; x_pros2 (dated by its call)
    assert count[(date(2026, 6, 15), "qualification")] == 3
    assert count[(date(2026, 6, 15), "prospecting")] == 1
    # 25 June, after the first sync: x_pros1 has been seen too
    assert count[(date(2026, 6, 25), "prospecting")] == 2
    assert sum(n for (day, _), n in count.items() if day == date(2026, 6, 25)) == 5


def test_deals_without_a_creation_date_are_dated_and_flagged(built: Built) -> None:
    rows = {r["deal_key"]: r for r in built.table("analytics.deals", EXPORT)}
    assert {k: (r["created_at"], r["created_at_source"]) for k, r in rows.items()} == {
        "export:x_won1": (on_day(1), "crm"),
        "export:x_won2": (on_day(5), "crm"),
        "export:x_lost1": (on_day(3), "crm"),
        "export:x_open1": (on_day(40), "crm"),
        "export:x_open2": (on_day(100), "crm"),
        "export:x_stageonly": (on_day(60), "first_stage_event"),
        "export:x_pros1": (SYNC, "first_seen"),
        "export:x_pros2": (on_day(50), "first_activity"),
        "export:x_closeonly": (on_day(30), "closed_at"),
    }
    assert all(r["is_counted"] for r in rows.values())
    assert {k for k, r in rows.items() if not r["has_dated_creation"]} == {"export:x_pros1"}
    open_now = {k: r["canonical_stage"] for k, r in rows.items() if r["is_open"]}
    assert open_now == {
        "export:x_open1": "qualification",
        "export:x_open2": "qualification",
        "export:x_stageonly": "qualification",
        "export:x_pros1": "prospecting",
        "export:x_pros2": "prospecting",
    }
    # x_pros1 idles since the sync saw it (9.5 days to as_of), x_pros2 since its call
    assert rows["export:x_pros1"]["days_since_last_activity"] == approx(9.5)
    assert rows["export:x_pros2"]["days_since_last_activity"] == approx(70.625)


def test_undated_deals_are_in_the_current_pipeline_marts(built: Built) -> None:
    forecast = built.rows(
        "select sum(open_count) n from analytics.forecast where period_type = 'month' "
        "and rep_key = 'email:export.owner@example.com' and canonical_stage = 'prospecting'"
    )
    assert forecast[0]["n"] == 2  # x_pros1 and x_pros2


def test_a_deal_first_seen_is_left_out_of_cohort_and_period_marts(built: Built) -> None:
    funnel = {
        (r["mode"], r["canonical_stage"]): r
        for r in built.table("analytics.stage_conversion", f"{EXPORT} and cohort_month is null")
    }
    # 8 deals: every export deal but x_pros1, which has no cohort
    assert {r["funnel_deals"] for r in funnel.values()} == {8}
    assert funnel[("any_order", "prospecting")]["reached_count"] == 8
    assert funnel[("any_order", "qualification")]["reached_count"] == 7  # not x_pros2
    assert funnel[("any_order", "closed_won")]["reached_count"] == 3
    assert funnel[("strict_order", "prospecting")]["reached_count"] == 1  # x_pros2
    assert funnel[("strict_order", "qualification")]["reached_count"] == 6
    responses = {r["deal_key"] for r in built.table("analytics.lead_response_time", EXPORT)}
    assert len(responses) == 8 and "export:x_pros1" not in responses


def test_win_rate_deal_size_and_cycle_of_the_export(built: Built) -> None:
    win = built.table(
        "analytics.win_rate",
        f"{EXPORT} and period_type = 'all' and rep_key = '*' and pipeline_key = '*'",
    )
    assert [(r["period_start"], r["won_count"], r["lost_count"]) for r in win] == [(None, 3, 1)]
    assert win[0]["win_rate"] == approx(0.75)
    assert win[0]["win_rate_by_value"] == approx(6000 / 6500)
    size = built.table(
        "analytics.deal_size", f"{EXPORT} and period_type = 'all' and rep_key = '*'"
    )[0]
    assert (size["won_count"], float(size["bookings_base"])) == (3, 6000.0)
    assert float(size["median_won_amount_base"]) == 2000.0
    assert float(size["largest_won_amount_base"]) == 3000.0
    # x_closeonly's creation is its close: no cycle to measure
    cycle = {r["outcome"]: r for r in built.table("analytics.sales_cycle", EXPORT)}
    assert cycle["won"]["deal_count"] == 2 and cycle["won"]["mean_days"] == approx(14.5)
    assert cycle["lost"]["deal_count"] == 1 and cycle["lost"]["median_days"] == approx(30.0)
    march = built.table(
        "analytics.sales_cycle_by_period",
        f"{EXPORT} and period_type = 'month' and period_start = '2026-03-01' and rep_key = '*'",
    )
    assert [(r["outcome"], r["deal_count"], r["mean_days"]) for r in march] == [("won", 2, 14.5)]


def test_a_source_without_activities_has_no_response_rate(built: Built) -> None:
    """The hand-written sources send no activities: their leads are unmeasured, not missed."""
    rows = built.table("analytics.lead_response_time", "source_name in ('edge', 'hand')")
    assert rows and all(
        (r["response_measured"], r["within_sla"], r["response_hours"]) == (False, None, None)
        for r in rows
    )
    export = {r["deal_key"]: r for r in built.table("analytics.lead_response_time", EXPORT)}
    # the export does send activities: its unanswered leads are misses, but x_pros2, dated by
    # its own first call, cannot be measured from it
    assert export["export:x_pros2"]["response_measured"] is False
    assert export["export:x_open1"]["within_sla"] is False


def test_status_says_how_many_deals_had_no_creation_date(built: Built) -> None:
    config = parse_config(
        {"warehouse": {"kind": "duckdb", "path": str(built.path)}, "sources": []},
        built.path.parent / "hub.yml",
    )
    undated = undated_deals(config)
    assert undated is not None
    assert undated.inferred == {"first_stage_event": 1, "first_activity": 1, "closed_at": 1}
    assert (undated.first_seen, undated.unplaced, undated.total) == (1, 0, 4)
    line = undated.describe()
    assert line is not None and line.startswith("4 deal(s) had no creation date: ")
    assert "1 dated from their first stage event" in line and "1 with no dated fact" in line
