"""forecast, rep_activity, stalled_deals, pipeline_snapshot_daily, lead_response_time,
sales_velocity and pipeline_coverage vs plain Python (deal scores: tests/score)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import pytest

from .conftest import Built, run_dbt
from .expected import (
    PERIODS,
    counted,
    days,
    grouped,
    has_cycle,
    is_lost,
    is_open,
    is_won,
    keyed,
    mean,
    percentile,
    ratio,
    rep_key,
)
from .fixtures import (
    AS_OF,
    OUTCOME,
    QUOTA_REP,
    STAGE_PROBABILITY,
    STALL_DAYS,
    ExpectedDeal,
    dbt_vars,
    make_world,
)

approx = pytest.approx


def _prob(d: ExpectedDeal) -> float | None:
    return (
        d.own_probability
        if d.own_probability is not None
        else STAGE_PROBABILITY.get(d.canonical_stage)
    )


def _sum(values) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) if xs else None


def _f(v) -> float | None:
    return None if v is None else float(v)


def test_forecast(built: Built) -> None:
    items = [
        (pt, f(d.expected_close_date) if d.expected_close_date else None, d)
        for d in built.expected
        if is_open(d)
        for pt, f in PERIODS.items()
    ]
    dims = {
        "period_type": lambda x: x[0],
        "period_start": lambda x: x[1],
        "rep_key": lambda x: rep_key(x[2]),
        "canonical_stage": lambda x: x[2].canonical_stage,
    }
    sets = [
        tuple(dims),
        ("period_type", "period_start", "canonical_stage"),
        ("period_type", "period_start", "rep_key"),
        ("period_type", "period_start"),
    ]
    want = grouped(items, dims, sets)
    got = keyed(built.table("analytics.forecast"), list(dims))
    assert set(got) == set(want)
    for key, group in want.items():
        deals = [x[2] for x in group]
        row = got[key]
        assert row["open_count"] == len(deals)
        assert _f(row["amount_base"]) == approx(_sum(d.amount_base for d in deals))
        weighted = _sum(
            d.amount_base * _prob(d)
            for d in deals
            if d.amount_base is not None and _prob(d) is not None
        )
        assert _f(row["weighted_amount_base"]) == approx(weighted)
    # every open deal lands in exactly one month (deals without a date in the NULL period)
    totals = [r["open_count"] for k, r in got.items() if k[0] == "month" and k[2:] == ("*", "*")]
    assert sum(totals) == sum(1 for d in built.expected if is_open(d))


def _monday(t: datetime) -> date:
    d = t.date()
    return d - timedelta(days=d.weekday())


def test_rep_activity(built: Built) -> None:
    deals = counted(built.expected)
    acts = [
        (a_type, at, email)
        for d in built.expected
        for a_type, at, email in d.activities
        if at <= AS_OF
    ]
    first = min([_monday(a[1]) for a in acts] + [_monday(d.created_at) for d in deals])
    last = _monday(AS_OF)
    want: dict[tuple, dict] = {}
    week = first
    reps = {rep_key(d) for d in deals} | {f"email:{a[2].lower()}" for a in acts}
    by_key: dict[tuple, dict[str, int]] = {}
    for a_type, at, email in acts:
        c = by_key.setdefault((_monday(at), f"email:{email.lower()}"), {})
        c[a_type] = c.get(a_type, 0) + 1
    while week <= last:
        end = datetime(week.year, week.month, week.day, tzinfo=UTC) + timedelta(days=7)
        for rep in reps:
            n_open = sum(
                1
                for d in deals
                if rep_key(d) == rep
                and d.created_at < end
                and not ((is_won(d) or is_lost(d)) and d.closed_at < end)
            )
            c = by_key.get((week, rep), {})
            if c or n_open:
                want[(week, rep)] = {"open": n_open, **c}
        week += timedelta(days=7)
    got = keyed(built.table("analytics.rep_activity"), ["week_start", "rep_key"])
    assert set(got) == set(want)
    for key, w in want.items():
        row = got[key]
        assert row["open_deals"] == w["open"], key
        for col, t in (
            ("calls", "call"),
            ("emails", "email"),
            ("meetings", "meeting"),
            ("tasks", "task"),
            ("notes", "note"),
        ):
            assert row[col] == w.get(t, 0), (key, col)
        n = sum(v for k, v in w.items() if k != "open")
        assert row["activities"] == n
        assert row["activities_per_open_deal"] == approx(ratio(n, w["open"]))


def _last_activity(d: ExpectedDeal, cutoff: datetime) -> datetime | None:
    return max((at for _, at, _ in d.activities if at <= cutoff), default=None)


def test_stalled_deals(built: Built) -> None:
    deals = counted(built.expected)
    closed_spells: dict[str, list[float]] = {}
    for d in deals:
        for k in range(len(d.path) - 1):
            closed_spells.setdefault(d.path[k][0], []).append(days(d.path[k][1], d.path[k + 1][1]))
    want = {}
    for d in deals:
        if not is_open(d) or not d.path:
            continue
        stage, entered = d.path[-1]
        if stage not in STAGE_PROBABILITY:  # not a canonical stage (unmapped): never stalls
            continue
        threshold = STALL_DAYS.get(stage, percentile(closed_spells.get(stage, []), 0.9))
        if threshold is None:
            continue
        in_stage = days(entered, AS_OF)
        idle = days(_last_activity(d, AS_OF) or d.created_at, AS_OF)
        flags = (in_stage > threshold, idle > threshold)
        if any(flags):
            want[d.deal_key] = (flags, threshold)
    got = {r["deal_key"]: r for r in built.table("analytics.stalled_deals")}
    assert set(got) == set(want)
    assert len(want) > 5
    for key, (flags, threshold) in want.items():
        row = got[key]
        assert (row["is_stalled_in_stage"], row["is_stalled_no_activity"]) == flags
        assert row["threshold_days"] == approx(threshold)
        assert row["reason"]
    meeting = [r for r in got.values() if r["canonical_stage"] == "meeting"]
    assert all(r["threshold_source"] == "configured" and r["threshold_days"] == 20 for r in meeting)


def test_pipeline_snapshot_daily(built: Built) -> None:
    deals = counted(built.expected)
    first = max(min(d.created_at for d in deals).date(), (AS_OF - timedelta(days=180)).date())
    last = (AS_OF - timedelta(days=1)).date()
    items = []
    day = first
    while day <= last:
        instant = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        for d in deals:
            for k, (stage, entered) in enumerate(d.path):
                exited = d.path[k + 1][1] if k + 1 < len(d.path) else None
                if entered < instant and (exited is None or exited >= instant):
                    if stage not in OUTCOME:
                        items.append((day, d, stage))
                    break
        day += timedelta(days=1)
    dims = {
        "snapshot_date": lambda x: x[0],
        "source_name": lambda x: x[1].source_name,
        "canonical_stage": lambda x: x[2],
    }
    want = grouped(
        items, dims, [tuple(dims), ("snapshot_date", "canonical_stage"), ("snapshot_date",)]
    )
    got = keyed(built.table("analytics.pipeline_snapshot_daily"), list(dims))
    nonzero = {k: r for k, r in got.items() if r["open_count"] != 0}
    assert set(nonzero) == set(want)
    for key, group in want.items():
        row = got[key]
        assert row["open_count"] == len(group), key
        amounts = [x[1].amount_base for x in group if x[1].amount_base is not None]
        assert float(row["amount_base"]) == approx(sum(amounts), abs=1e-4)
        weighted = sum(
            x[1].amount_base
            * (
                x[1].own_probability
                if x[1].own_probability is not None
                else STAGE_PROBABILITY.get(x[2]) or 0
            )
            for x in group
            if x[1].amount_base is not None
        )
        assert float(row["weighted_amount_base"]) == approx(weighted, abs=1e-4)
    # the last day agrees with the open deals at as_of (spine end = as_of's midnight)
    assert got[(last, "*", "*")]["open_count"] == sum(1 for d in deals if is_open(d))


def test_pipeline_snapshot_weekly_step_is_the_daily_series_thinned(built: Built, tmp_path) -> None:
    """snapshot_step_days=7 keeps every 7th day counted back from the last one, with exactly
    the daily figures on those days (changes between spine days carried forward)."""
    db = tmp_path / "hub.duckdb"
    shutil.copy(built.path, db)
    res = run_dbt(
        db,
        tmp_path / "target",
        ["run", "--select", "pipeline_snapshot_daily"],
        {**dbt_vars(), "snapshot_step_days": 7},
    )
    assert res.success
    names = ["snapshot_date", "source_name", "canonical_stage"]
    cols = (
        "snapshot_date, source_name, canonical_stage, open_count, amount_base, weighted_amount_base"
    )
    weekly = keyed(
        Built(db, [], [], True).rows(f"select {cols} from analytics.pipeline_snapshot_daily"),
        names,
    )
    daily = keyed(built.rows(f"select {cols} from analytics.pipeline_snapshot_daily"), names)
    last = (AS_OF - timedelta(days=1)).date()
    spine = {k[0] for k in weekly}
    assert last in spine and all((last - d).days % 7 == 0 for d in spine)
    assert {d for d in {k[0] for k in daily} if (last - d).days % 7 == 0} == spine
    assert weekly == {k: r for k, r in daily.items() if k[0] in spine}


def _measured(d: ExpectedDeal, sources_with_activities: set[str]) -> bool:
    """A response can be measured: the deal's source sends activities and its creation was
    not inferred from its first activity."""
    return d.source_name in sources_with_activities and d.created_at_source != "first_activity"


def _response(d: ExpectedDeal) -> float | None:
    times = [at for _, at, owner in d.activities if owner and d.created_at <= at <= AS_OF]
    return (min(times) - d.created_at).total_seconds() / 3600 if times else None


def test_lead_response_time(built: Built) -> None:
    deals = [d for d in counted(built.expected) if d.has_dated_creation]
    active = {d.source_name for d in built.expected if d.activities}
    got = {r["deal_key"]: r for r in built.table("analytics.lead_response_time")}
    assert set(got) == {d.deal_key for d in deals}
    for d in deals:
        row = got[d.deal_key]
        assert row["response_measured"] is _measured(d, active), d.deal_key
        if not _measured(d, active):  # unknown, never a miss
            assert (row["response_hours"], row["has_response"], row["within_sla"]) == (None,) * 3
            continue
        hours = _response(d)
        assert row["response_hours"] == approx(hours)
        if hours is not None and hours <= 24:
            assert row["within_sla"] is True
        elif days(d.created_at, AS_OF) * 24 > 24:
            assert row["within_sla"] is False
        else:
            assert row["within_sla"] is None
    # the hand-written sources send no activities: no deal of theirs reads as a miss
    assert {"edge", "hand"} <= {d.source_name for d in deals} - active
    dims = {"week_start": lambda d: _monday(d.created_at), "rep_key": rep_key}
    want = grouped(deals, dims, [("week_start", "rep_key"), ("week_start",)])
    weekly = keyed(built.table("analytics.lead_response_time_weekly"), list(dims))
    assert set(weekly) == set(want)
    for key, group in want.items():
        measured = [d for d in group if _measured(d, active)]
        hours = [h for h in map(_response, measured) if h is not None]
        decided = [d for d in group if got[d.deal_key]["within_sla"] is not None]
        within = [d for d in group if got[d.deal_key]["within_sla"]]
        row = weekly[key]
        assert row["deals_created"] == len(group)
        assert row["deals_measured"] == len(measured)
        assert row["deals_responded"] == len(hours)
        assert row["median_response_hours"] == approx(percentile(hours, 0.5))
        assert row["share_within_sla"] == approx(ratio(len(within), len(decided)))


def test_sales_velocity(built: Built) -> None:
    deals = counted(built.expected)
    want: dict[tuple, dict] = {}
    for d in deals:
        for pt, f in PERIODS.items():
            for rep in (rep_key(d), "*"):
                if d.has_dated_creation:  # first seen: no opportunity of any period
                    c = want.setdefault(
                        (pt, f(d.created_at), rep), {"opp": 0, "won": [], "lost": 0}
                    )
                    c["opp"] += 1
                if is_won(d) or is_lost(d):
                    c = want.setdefault((pt, f(d.closed_at), rep), {"opp": 0, "won": [], "lost": 0})
                    if is_won(d):
                        c["won"].append(d)
                    else:
                        c["lost"] += 1
    got = keyed(built.table("analytics.sales_velocity"), ["period_type", "period_start", "rep_key"])
    assert set(got) == set(want)
    for key, c in want.items():
        row = got[key]
        won = c["won"]
        wr = ratio(len(won), len(won) + c["lost"])
        size = mean(d.amount_base for d in won if d.amount_base is not None)
        cycle = mean(days(d.created_at, d.closed_at) for d in won if has_cycle(d))
        assert row["opportunities"] == c["opp"]
        assert row["win_rate"] == approx(wr)
        assert row["avg_won_amount_base"] == approx(size)
        assert row["avg_won_cycle_days"] == approx(cycle)
        expected = None if None in (wr, size, cycle) or not cycle else c["opp"] * wr * size / cycle
        assert row["velocity_base_per_day"] == approx(expected)


def test_pipeline_coverage(built: Built) -> None:
    deals = counted(built.expected)
    rep = f"email:{make_world().reps[QUOTA_REP].email.lower()}"
    quotas = [
        ("*", "quarter", date(2026, 4, 1), 2_000_000.0),
        ("*", "quarter", date(2026, 7, 1), 2_500_000.0),
        (rep, "month", date(2026, 6, 1), 1_000.0),
        (rep, "month", date(2026, 7, 1), 1.0),
    ]
    got = keyed(
        built.table("analytics.pipeline_coverage"), ["rep_key", "period_type", "period_start"]
    )
    assert set(got) == {q[:3] for q in quotas}
    since = AS_OF - timedelta(days=365)
    for who, ptype, start, quota in quotas:
        mine = [d for d in deals if who == "*" or rep_key(d) == who]
        f = PERIODS[ptype]
        won = sum(
            d.amount_base
            for d in mine
            if is_won(d) and f(d.closed_at) == start and d.amount_base is not None
        )
        remaining = max(quota - won, 0)
        pipe = [
            d
            for d in mine
            if is_open(d) and d.expected_close_date and f(d.expected_close_date) == start
        ]
        pipe_base = sum(d.amount_base for d in pipe if d.amount_base is not None)
        t_won = sum(1 for d in mine if is_won(d) and d.closed_at > since)
        t_lost = sum(1 for d in mine if is_lost(d) and d.closed_at > since)
        row = got[(who, ptype, start)]
        assert float(row["won_base"]) == approx(won)
        assert float(row["remaining_quota_base"]) == approx(remaining)
        assert row["open_count"] == len(pipe)
        assert float(row["open_pipeline_base"]) == approx(pipe_base)
        assert row["coverage"] == approx(ratio(pipe_base, remaining))
        wr = ratio(t_won, t_won + t_lost)
        assert row["trailing_win_rate"] == approx(wr)
        assert row["coverage_needed"] == approx(ratio(1, wr))
    # a quota already exceeded leaves nothing to cover: NULL coverage, never 0 or a division error
    exceeded = got[(rep, "month", date(2026, 6, 1))]
    assert float(exceeded["remaining_quota_base"]) == 0 and exceeded["coverage"] is None
