"""Failures: flaky networks, expiring tokens, spent budgets, the burst window."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

import connectors.http
from models.errors import AuthError
from tests.pipedrive.conftest import Hub, assert_warehouse_equals_sandbox, make_hub

TABLES = {
    "deals": "deal_key, stage_id, status, amount, updated_at, custom_fields, is_deleted",
    "stage_changes": "deal_key, changed_at, stage_id, from_stage_id, changed_by, origin",
    "activities": "activity_key, type, occurred_at, deal_key, duration_s",
    "owners": "owner_key, name, is_active",
    "stages": "stage_key, label, probability",
}


def _cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        if not isinstance(exc, PipelineStepFailed) and exc.__class__.__module__.startswith(
            "models"
        ):
            return exc
    return exc


def _snapshot(hub: Hub) -> dict[str, list[tuple]]:
    return {t: sorted(hub.sql(f"SELECT {cols} FROM {t}"), key=repr) for t, cols in TABLES.items()}


def test_twenty_percent_failing_requests_give_the_clean_result(tmp_path: Path) -> None:
    clean_dir, faulty_dir = tmp_path / "clean", tmp_path / "faulty"
    clean_dir.mkdir()
    faulty_dir.mkdir()
    for clean in make_hub(clean_dir):
        clean.pull()
        expected = _snapshot(clean)
    for faulty in make_hub(faulty_dir):
        faulty.faults(rate_429=0.05, rate_5xx=0.05, rate_truncate=0.05, rate_drop=0.05, seed=3)
        stats = faulty.pull()
        assert stats.retries > 20 and stats.throttled > 0
        assert _snapshot(faulty) == expected
        faulty.mutate(
            seed=9, stage_moves=4, won=1, lost=1, deletes=1, new_deals=2, new_activities=4
        )
        faulty.pull()
        faulty.faults()
        assert_warehouse_equals_sandbox(faulty)


def test_an_expired_oauth_token_is_refreshed_mid_run(hub: Hub) -> None:
    hub.credentials = hub.sandbox.oauth_credentials()
    hub.faults(expire_token_after=40)
    hub.pull()
    assert_warehouse_equals_sandbox(hub)
    statuses = [r.status for r in hub.recorded]
    assert statuses.count(401) >= 2
    assert sum(1 for r in hub.recorded if r.path == "/oauth/token") >= 3


def test_a_rejected_api_token_fails_with_auth_error_and_no_token_in_the_message(hub: Hub) -> None:
    hub.credentials = {"api_token": "f" * 40}
    with pytest.raises(PipelineStepFailed) as info:
        hub.pull()
    cause = _cause(info.value)
    assert isinstance(cause, AuthError)
    assert "f" * 40 not in str(info.value) and "f" * 40 not in str(cause)


def test_an_exhausted_daily_budget_stops_cleanly_and_a_later_run_completes(hub: Hub) -> None:
    hub.pull()
    hub.mutate(seed=4, stage_moves=4, won=1, deletes=1, new_deals=2)
    hub.faults(quota_exhausted=True)
    hub.pull()  # stops cleanly (ctx.stop) instead of failing the extract
    reason = hub.last_ctx.stop_reason
    assert reason and "daily" in reason
    assert hub.sandbox.api_token not in reason
    hub.faults()
    hub.pull()
    assert_warehouse_equals_sandbox(hub)


def test_a_run_stops_at_its_configured_share_of_the_daily_budget(tmp_path: Path) -> None:
    for hub in make_hub(tmp_path, daily_tokens=4_000):
        hub.pull(max_daily_share=0.25)  # stops cleanly, keeping what it read
        reason = hub.last_ctx.stop_reason
        assert reason and "25%" in reason
        assert hub.sandbox.tokens_used <= 0.25 * 4_000 + 40  # at most one request past the cap
        assert hub.sql("SELECT count(*) FROM deals")[0][0] > 0  # progress kept


def test_the_burst_window_is_respected_from_the_rate_limit_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connectors.http.clock, "sleep", lambda s: time.sleep(s) if s > 0 else None)
    monkeypatch.setattr(connectors.http.clock, "now", time.monotonic)
    for hub in make_hub(tmp_path, n_deals=50, rate_limits=True, plan="essential", flow_null_rate=0):
        started = time.monotonic()
        stats = hub.pull(plan="essential")
        assert stats.throttled == 0, stats.by_endpoint()
        assert stats.total > 20 and time.monotonic() - started >= 2 * (stats.total // 20 - 1) * 0.9
        assert all(r.headers.get("x-ratelimit-limit") == "20" for r in hub.recorded)
        assert not any("retry-after" in {k.lower() for k in r.headers} for r in hub.recorded)
        assert_warehouse_equals_sandbox(hub)
