"""Pipedrive's daily token budget when no response reports it.

Some accounts answer without ``x-daily-ratelimit-token-remaining``; the budget is still
there (30,000 tokens x plan multiplier x seats) and a request past it gets a 429 that stays
until midnight. The connector counts the documented token cost of each request against the
plan's budget and stops cleanly before it is spent; the next day's run continues.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.pipedrive.client import DAILY_REMAINING_HEADER
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.settings import PLANS, daily_tokens
from hub.pull import run_pull
from models.errors import ConfigError
from tests.harness import VirtualClock
from tests.pipedrive.conftest import Hub, assert_warehouse_equals_sandbox, make_hub

N_DEALS = 1_500  # a first sync of about 36,000 tokens: more than one Lite seat's day


def daily_429s(hub: Hub) -> int:
    return sum(
        1
        for r in hub.recorded
        if r.status == 429 and "Daily" in str((r.body or {}).get("error", ""))
    )


def headerless_hub(
    tmp_path: Path, virtual_clock: VirtualClock, budget: int, plan: str
) -> Iterator[Hub]:
    """A sandbox that enforces ``budget`` tokens a day and never reports what is left."""
    knobs = {"rate_limits": True, "plan": plan, "daily_headers": False, "daily_tokens": budget}
    for hub in make_hub(tmp_path, n_deals=N_DEALS, **knobs):
        virtual_clock.follow(hub.sandbox)
        hub.options = {"plan": plan, "max_daily_share": 1.0}
        yield hub


@pytest.mark.parametrize("plan", ["lite", "essential"], ids=["current-plan", "older-plan"])
def test_without_the_daily_header_a_sync_past_the_budget_stops_before_a_429_and_resumes(
    tmp_path: Path, virtual_clock: VirtualClock, plan: str
) -> None:
    budget = daily_tokens(plan, seats=1)
    for hub in headerless_hub(tmp_path, virtual_clock, budget, plan):
        [first] = run_pull(hub.config())
        assert first.status == "stopped", first.error
        assert first.error and "daily" in first.error and "again" in first.error
        assert not any(DAILY_REMAINING_HEADER in r.headers for r in hub.recorded)
        assert daily_429s(hub) == 0
        assert hub.sandbox.tokens_used <= budget
        assert sum(first.rows.values()) > 0  # progress kept

        hub.sandbox.tokens_used = 0  # midnight: the vendor's daily reset
        [second] = run_pull(hub.config())
        assert second.status == "ok", second.error
        assert daily_429s(hub) == 0
        assert_warehouse_equals_sandbox(hub)


def test_a_daily_429_without_the_header_stops_the_run_with_no_request_after_it(
    tmp_path: Path, virtual_clock: VirtualClock
) -> None:
    for hub in headerless_hub(tmp_path, virtual_clock, budget=2_000, plan="lite"):
        hub.options["daily_token_budget"] = 100_000  # the connector believes in more than there is
        [run] = run_pull(hub.config())
        assert run.status == "stopped", run.error
        assert run.error and "daily" in run.error
        assert daily_429s(hub) == 1
        assert hub.recorded[-1].status == 429


@pytest.mark.parametrize(
    ("plan", "seats", "tokens"),
    [
        ("lite", 1, 30_000),
        ("Growth", 3, 180_000),
        ("premium", 2, 300_000),
        ("ultimate", 1, 210_000),
        ("professional", 2, 180_000),
        ("power", 1, 150_000),
    ],
)
def test_the_planned_budget_is_30000_tokens_times_the_plan_multiplier_times_seats(
    plan: str, seats: int, tokens: int
) -> None:
    options = PipedriveOptions(base_url="http://pipedrive.test", plan=plan, seats=seats)
    assert options.plan == plan.lower()
    assert options.planned_daily_tokens == tokens


def test_an_unknown_plan_is_refused_with_the_valid_names(tmp_path: Path) -> None:
    for hub in make_hub(tmp_path, n_deals=5):
        hub.options = {"plan": "gold"}
        with pytest.raises(ConfigError) as info:
            run_pull(hub.config())
    message = str(info.value)
    assert "options.plan" in message and "'gold'" in message
    assert all(name in message for name in PLANS)
    assert {"lite", "growth", "premium", "ultimate"} <= set(PLANS)
