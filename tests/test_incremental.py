"""connectors.incremental.Cursor: the one incremental rule, built the way each API
connector builds it, reading the state each connector wrote before it existed (a user
upgrading must neither re-pull everything nor lose rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.hubspot.source import lastmod_cursor
from connectors.pipedrive.source import update_time_cursor
from connectors.salesforce.source import modstamp_cursor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = T0.isoformat()  # what ModstampCursor wrote


def salesforce(state: dict[str, Any], *, full_refresh: bool = False) -> Any:
    return modstamp_cursor(state, 300, full_refresh=full_refresh)


def test_a_first_sync_reads_everything_and_writes_nothing_before_commit() -> None:
    state: dict[str, Any] = {}
    cursor = salesforce(state)
    assert cursor.first_sync and cursor.since is None
    assert cursor.fresh("a", "2026-03-01T12:00:00.000+0000")
    assert cursor.fresh("b", "2026-03-01T11:00:00.000+0000")
    assert state == {}
    cursor.commit()
    assert state == {"cursor": OLD, "seen": {"a": OLD}}, "only the lookback's tail is kept"


def test_salesforce_state_from_before_reads_back_the_lookback_and_skips_its_tail() -> None:
    cursor = salesforce({"cursor": OLD, "seen": {"a": OLD}})
    assert cursor.since == T0 - timedelta(seconds=300)
    assert not cursor.fresh("a", "2026-03-01T12:00:00.000+0000"), "unchanged tail row"
    assert cursor.fresh("a", "2026-03-01T12:00:01.000+0000"), "the same row, edited again"
    assert cursor.fresh("c", "2026-03-01T11:58:00.000+0000"), "a late commit"


def test_a_garbage_stamp_is_fresh_and_never_moves_the_cursor() -> None:
    state: dict[str, Any] = {}
    cursor = salesforce(state)
    assert cursor.fresh("x", "yesterday")
    cursor.commit()
    assert state == {}


def test_a_page_commit_keeps_last_runs_tail_not_reread_yet_a_final_one_drops_it() -> None:
    state = {"cursor": OLD, "seen": {"a": OLD, "gone": OLD}}
    cursor = salesforce(state)
    cursor.fresh("a", OLD)
    cursor.commit(final=False)
    assert state["seen"] == {"a": OLD, "gone": OLD}
    cursor.commit()
    assert state["seen"] == {"a": OLD}


def test_full_refresh_ignores_the_stored_position() -> None:
    cursor = salesforce({"cursor": OLD, "seen": {"a": OLD}}, full_refresh=True)
    assert cursor.first_sync and cursor.fresh("a", OLD)


def test_hubspot_state_from_before_the_cursor_still_reads() -> None:
    """The layout WindowTracker wrote: epoch-ms ``cursor_ms`` and ``boundary``."""
    state: dict[str, Any] = {"cursor_ms": 1_000_000, "boundary": {"7": 1_000_000, "8": 990_000}}
    cursor = lastmod_cursor(state, 60_000, full_refresh=False)
    assert not cursor.first_sync and cursor.since == 940_000
    assert not cursor.fresh("7", 1_000_000) and not cursor.fresh("8", 990_000)
    assert cursor.fresh("9", "1000000") and cursor.fresh("8", 995_000)
    cursor.commit()
    assert state == {
        "cursor_ms": 1_000_000,
        "boundary": {"7": 1_000_000, "8": 995_000, "9": 1_000_000},
    }


def test_hubspot_first_sync_of_an_empty_portal_still_writes_a_cursor() -> None:
    """The next run then searches (from 0) instead of listing again, as before."""
    state: dict[str, Any] = {}
    lastmod_cursor(state, 60_000, full_refresh=False).commit()
    assert state == {"cursor_ms": 0, "boundary": {}}


def test_pipedrive_state_from_before_reads_and_nothing_is_skipped() -> None:
    state = {"cursor": OLD, "watermark": OLD}
    cursor = update_time_cursor(state, "cursor", timedelta(minutes=10), full_refresh=False)
    assert cursor.since == T0 - timedelta(minutes=10)
    assert cursor.fresh("1", "2026-03-01T12:00:00Z"), "no tail skipping without seen_key"
    cursor.fresh("2", "2026-03-01 12:30:00")
    cursor.commit()
    assert state == {"cursor": (T0 + timedelta(minutes=30)).isoformat(), "watermark": OLD}


def test_a_long_read_remembers_only_the_lookback_window() -> None:
    state: dict[str, Any] = {}
    cursor = lastmod_cursor(state, 1_000, full_refresh=False)
    for ms in range(50_000):
        assert cursor.fresh(str(ms), ms)
    cursor.commit()
    assert state["cursor_ms"] == 49_999
    assert set(state["boundary"]) == {str(ms) for ms in range(48_999, 50_000)}
