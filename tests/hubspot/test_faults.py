"""Failures HubSpot really produces: 429/5xx/cut-off bodies/dropped connections, expired
OAuth tokens, a spent daily limit. The result must equal a clean run's, or stop cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from connectors.hubspot.sandbox import FakeHubspot
from models.errors import AuthError, QuotaExhausted
from tests.harness import SandboxHub, mutate, set_faults
from tests.hubspot.helpers import assert_warehouse_equals_sandbox


def unwrap(exc: BaseException) -> BaseException:
    """What the orchestrator does: find the hub error inside dlt's PipelineStepFailed."""
    while isinstance(exc, PipelineStepFailed) or (
        exc.__cause__ is not None and not isinstance(exc, AuthError | QuotaExhausted)
    ):
        if exc.__cause__ is None:
            break
        exc = exc.__cause__
    return exc


def oauth_hub(sandbox: FakeHubspot, tmp_path: Path, **credentials: str) -> SandboxHub:
    hub = SandboxHub(sandbox, tmp_path)
    hub.credentials = {**sandbox.oauth_credentials(), **credentials}
    return hub


def test_with_20_percent_of_requests_failing_the_result_equals_the_clean_run(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    set_faults(
        sandbox,
        rate_429=0.06,
        rate_5xx=0.07,
        rate_truncate=0.05,
        rate_drop=0.05,
        rate_slow=0.02,
        slow_s=1.2,
        seed=3,
    )  # slow = past the client's 1 s timeout
    first = hub.pull(timeout_s=1.0)
    outcomes = {key.rsplit(" ", 1)[1] for key in first.requests}
    assert {"429", "ConnectionError", "ChunkedEncodingError", "ReadTimeout"} <= outcomes
    assert outcomes & {"500", "502", "503", "504"}
    assert first.retries >= 0.2 * first.total
    set_faults(sandbox)
    assert_warehouse_equals_sandbox(hub)
    for seed in (11, 12):
        mutate(
            sandbox,
            seed=seed,
            stage_moves=6,
            deletes=2,
            new_deals=3,
            new_activities=5,
            association_changes=2,
            won=1,
            lost=1,
        )
        set_faults(
            sandbox, rate_429=0.06, rate_5xx=0.07, rate_truncate=0.05, rate_drop=0.05, seed=seed
        )
        stats = hub.pull(days_later=1.01)
        set_faults(sandbox)
        assert stats.retries > 0
        assert_warehouse_equals_sandbox(hub)


def test_a_ten_secondly_429_without_retry_after_waits_out_the_interval(
    make_sandbox: Any, tmp_path: Path, virtual_clock: Any
) -> None:
    sandbox = make_sandbox(n_deals=30)
    hub = SandboxHub(sandbox, tmp_path)
    set_faults(sandbox, rate_429=0.3, seed=1, path_pattern="/crm/v3/objects/deals")
    stats = hub.pull()
    set_faults(sandbox)
    assert stats.throttled > 0
    assert any(s >= 10 for s in virtual_clock.slept)  # X-HubSpot interval, not a guess
    assert_warehouse_equals_sandbox(hub)


def test_an_expired_oauth_token_mid_run_is_refreshed(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    hub = oauth_hub(sandbox, tmp_path)
    set_faults(sandbox, expire_token_after=7)
    stats = hub.pull()
    set_faults(sandbox)
    assert stats.requests["POST /oauth/v1/token 200"] >= 3
    assert any(k.endswith(" 401") for k in stats.requests)
    assert_warehouse_equals_sandbox(hub)


def test_a_rejected_refresh_token_stops_with_a_clear_auth_error(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=10)
    hub = oauth_hub(sandbox, tmp_path, refresh_token="na1-revoked-token")
    with pytest.raises(PipelineStepFailed) as info:
        hub.pull()
    error = unwrap(info.value)
    assert isinstance(error, AuthError)
    assert "BAD_REFRESH_TOKEN" in str(error) and "reconnect" in str(error)
    assert "na1-revoked-token" not in str(error)
    assert sum(1 for line in sandbox.request_log if "/oauth/v1/token" in line) == 1  # no retry loop


def test_a_spent_daily_limit_stops_cleanly_and_a_later_run_completes(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(daily_limit=12, rate_limits=True)
    hub = SandboxHub(sandbox, tmp_path, options={"max_daily_share": 1.0})
    hub.pull()  # stops cleanly: what was read is loaded, the cursors say how far it got
    reason = hub.last_ctx.stop_reason
    assert reason and "daily" in reason.lower() and "midnight" in reason
    sandbox.daily_limit = 1_000
    sandbox.reset_daily()  # the portal's midnight
    hub.pull(days_later=1)
    assert_warehouse_equals_sandbox(hub)


def test_a_daily_429_stops_the_run_instead_of_retrying(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(n_deals=10)
    hub = SandboxHub(sandbox, tmp_path)
    set_faults(sandbox, quota_exhausted=True)
    hub.pull()
    assert hub.last_ctx.stop_reason and "daily" in hub.last_ctx.stop_reason.lower()
    assert len(sandbox.request_log) == 1
    set_faults(sandbox)
    hub.pull()
    assert_warehouse_equals_sandbox(hub)


def test_max_daily_share_caps_what_one_run_may_spend(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(daily_limit=100)
    hub = SandboxHub(sandbox, tmp_path, options={"max_daily_share": 0.05})
    hub.pull()
    assert hub.last_ctx.stop_reason and "max_daily_share" in hub.last_ctx.stop_reason
    assert len(sandbox.request_log) == 5


def test_the_token_never_appears_in_urls_errors_or_stats(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(n_deals=20)
    hub = oauth_hub(sandbox, tmp_path)
    set_faults(sandbox, expire_token_after=5)
    stats = hub.pull()
    set_faults(sandbox)
    secrets = [
        FakeHubspot.TOKEN,
        FakeHubspot.CLIENT_SECRET,
        FakeHubspot.REFRESH_TOKEN,
        *sandbox.access_tokens,
        *sandbox.expired_tokens,
    ]
    logged = "\n".join(sandbox.request_log) + repr(stats)
    assert not [s for s in secrets if s in logged]
    private = SandboxHub(sandbox, tmp_path / "private")
    private.credentials = {"token": "pat-na1-wrong-token-0000"}
    with pytest.raises(PipelineStepFailed) as info:
        private.pull()
    error = unwrap(info.value)
    assert isinstance(error, AuthError)
    assert "pat-na1-wrong-token-0000" not in str(error) and "pat-na1-wrong-token-0000" not in str(
        info.value
    )
    assert not [line for line in sandbox.request_log if "pat-na1" in line]
