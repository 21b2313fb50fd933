"""FlowMemory: when a won/lost step is built from the deal itself, and when the flow's step
(with who closed the deal) must be left alone. The end-to-end check is
tests/contract/test_unchanged_repull.py; these are the window cases it cannot time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.pipedrive.client import rfc3339
from connectors.pipedrive.flow_memory import FlowMemory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _deal(deal_id: int, moved: datetime, won: datetime | None) -> dict[str, Any]:
    return {
        "id": deal_id,
        "stage_change_time": rfc3339(moved),
        "status": "won" if won else "open",
        "won_time": rfc3339(won) if won else None,
        "lost_time": None,
    }


def _reloaded(memory: FlowMemory) -> FlowMemory:
    """The memory as the next run finds it: through dlt state, which is JSON."""
    return FlowMemory(json.loads(json.dumps(memory.state)))


def test_an_outcome_the_flow_gave_is_not_built_again_from_the_deal() -> None:
    memory = FlowMemory({})
    deal = _deal(1, moved=T0, won=T0 + H)  # moved and won before the same pull
    assert memory.needs_flow(deal, since=T0 - H)
    memory.flow_read(deal)
    memory = _reloaded(memory)
    since = T0 + H - timedelta(minutes=10)  # the re-pull's window holds the win, not the move
    assert not memory.needs_flow(deal, since)
    assert not memory.new_outcome(deal, T0 + H, since)


def test_an_outcome_after_the_flow_read_is_news() -> None:
    memory = FlowMemory({})
    deal = _deal(2, moved=T0, won=None)
    memory.flow_read(deal)  # read while open
    won = _deal(2, moved=T0, won=T0 + 5 * H)  # won later, without a stage move
    assert memory.new_outcome(won, T0 + 5 * H, since=T0 + 4 * H)
    reopened_and_won_again = _deal(2, moved=T0, won=T0 + 9 * H)
    memory.flow_read(won)
    assert memory.new_outcome(reopened_and_won_again, T0 + 9 * H, since=T0 + 8 * H)


def test_a_widened_lookback_does_not_rebuild_outcomes_the_window_forgot() -> None:
    """Moved and won before one pull (its flow gave the step), then forgotten as the window
    moved on; a lookback widened later so that the window starts between the move and the
    win re-reads the deal without its flow: the win is older than what was forgotten, so
    an earlier run knew it, and the flow's step stays."""
    memory = FlowMemory({})
    deal = _deal(3, moved=T0, won=T0 + 2 * H)
    memory.flow_read(deal)
    memory.forget_before(T0 + 30 * H)  # runs go on; the window passes the deal
    memory = _reloaded(memory)
    assert memory.state["seen"] == {} and memory.state["outcomes"] == {}
    wide = T0 + H  # between the move and the win
    assert not memory.needs_flow(deal, wide)
    assert not memory.new_outcome(deal, T0 + 2 * H, wide)
    newer = _deal(4, moved=T0, won=T0 + 31 * H)  # closed after the window moved: news
    assert memory.new_outcome(newer, T0 + 31 * H, wide)


def test_a_narrower_window_never_lowers_the_floor() -> None:
    memory = FlowMemory({})
    memory.forget_before(T0 + 30 * H)
    memory.forget_before(T0 + 10 * H)  # a lookback widened: the older floor holds
    assert memory.state["floor"] == (T0 + 30 * H).isoformat()
