"""Faults, tokens and the daily allocation: the run survives, stops cleanly, or resumes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from connectors.salesforce.client import parse_limit_info
from connectors.salesforce.sandbox import FakeSalesforce
from models.errors import AuthError, QuotaExhausted
from tests.harness import SandboxHub
from tests.salesforce.conftest import assert_matches_sandbox, warehouse_state
from tests.salesforce.test_sync import ROUND


def root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        if isinstance(exc, QuotaExhausted | AuthError):
            return exc
    return exc


def test_twenty_percent_failing_requests_give_the_clean_result(
    tmp_path: Path, sandboxes: Callable[..., Any]
) -> None:
    results = []
    for faulty in (False, True):
        sb = sandboxes("salesforce", seed=42, n_deals=200)
        h = SandboxHub(sb, tmp_path / str(faulty), "sf_main", options={"page_size": 200})
        if faulty:
            h.faults(rate_429=0.05, rate_5xx=0.05, rate_truncate=0.05, rate_drop=0.05, seed=3)
        h.pull()
        h.mutate(seed=1, **ROUND)
        h.pull()
        h.faults()
        assert_matches_sandbox(h)
        state = warehouse_state(h)
        # Mutations happen at each sandbox's own wall-clock time; compare history by order.
        state["stage_changes"] = {(k, s) for k, _, s in state["stage_changes"]}  # type: ignore[misc]
        state["history_rows"] = {(len(h.sql("SELECT * FROM stage_changes")),)}
        results.append(state)
        if faulty:
            failures = sum(n for k, n in h.requests().items() if k.endswith((" 403", " 503")))
            assert failures >= 3
    assert results[0] == results[1]


def test_an_expired_session_is_refreshed_and_the_request_retried(harness: SandboxHub) -> None:
    harness.faults(expire_token_after=3)
    stats = harness.pull()
    harness.faults()
    assert_matches_sandbox(harness)
    assert stats.requests["POST /services/oauth2/token 200"] >= 2
    assert any(k.endswith(" 401") for k in harness.requests())


@pytest.mark.parametrize(
    "calls_left", [3, 0], ids=["runs-out-mid-run", "already-gone-403-REQUEST_LIMIT_EXCEEDED"]
)
def test_an_exhausted_daily_allocation_stops_cleanly_and_the_next_run_completes(
    tmp_path: Path, calls_left: int, sandboxes: Callable[..., Any]
) -> None:
    sb = sandboxes("salesforce", seed=42, n_deals=200, rate_limits=True)
    h = SandboxHub(sb, tmp_path, "sf_main", options={"page_size": 200})
    h.pull()
    h.mutate(seed=2, **ROUND)
    h.mutate(api_usage=100_000 - calls_left, daily_limit=100_000)
    h.pull()  # stops cleanly: what was read is loaded and its cursors are saved
    reason = h.last_ctx.stop_reason
    assert reason and "daily" in reason and "state is saved" in reason
    if calls_left == 0:
        assert any(k.endswith(" 403") for k in h.requests())
    h.mutate(api_usage=0)  # the rolling 24 h window moved on
    h.pull()
    assert_matches_sandbox(h)


def test_the_run_share_cap_stops_before_the_org_allocation_is_touched(
    tmp_path: Path, sandboxes: Callable[..., Any]
) -> None:
    sb = sandboxes("salesforce", seed=42, n_deals=200, rate_limits=True, api_bursts=True)
    h = SandboxHub(sb, tmp_path, "sf_main", options={"page_size": 200, "max_daily_share": 0.004})
    h.mutate(api_usage=0, daily_limit=1_000)  # this run may use 4 calls
    h.pull()
    reason = h.last_ctx.stop_reason
    assert reason and "max_daily_share" in reason
    assert not any(k.endswith(" 403") for k in h.requests())
    assert sb.api_usage <= 5


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=10018/100000", (10018, 100000)),
        ("api-usage=25/15000; api-bursts=3/100", (25, 15000)),
        ("", None),
    ],
    ids=["plain", "with-api-bursts", "absent"],
)
def test_the_limit_header_is_read_in_both_forms(
    header: str, expected: tuple[int, int] | None
) -> None:
    assert parse_limit_info(header) == expected


@pytest.mark.parametrize("flow", ["refresh_token", "jwt_bearer", "client_credentials"])
def test_every_auth_flow_reaches_the_org(harness: SandboxHub, flow: str) -> None:
    sb = harness.sandbox
    creds = {
        "refresh_token": sb.credentials(),
        "jwt_bearer": sb.jwt_credentials(),
        "client_credentials": {"client_id": sb.client_id, "client_secret": sb.client_secret},
    }[flow]
    harness.credentials = creds
    harness.options = {"auth_flow": flow}
    harness.pull()
    assert_matches_sandbox(harness)


def test_a_jwt_signed_with_another_key_is_an_auth_error(harness: SandboxHub) -> None:
    other = FakeSalesforce(seed=7, n_deals=1, rate_limits=False).jwt_credentials()
    harness.sandbox.jwt_credentials()
    harness.credentials = {**other, "client_id": harness.sandbox.client_id}
    harness.options = {"auth_flow": "jwt_bearer"}
    with pytest.raises(PipelineStepFailed) as info:
        harness.pull()
    cause = root_cause(info.value)
    assert isinstance(cause, AuthError) and "invalid_grant" in str(cause)


def test_the_token_never_appears_in_urls_errors_or_stats(harness: SandboxHub) -> None:
    harness.faults(expire_token_after=4)
    stats = harness.pull()
    tokens = [t for t in harness.sandbox.tokens] + [
        harness.sandbox.refresh_token,
        harness.sandbox.client_secret,
    ]
    assert tokens
    logged = (
        " ".join(harness.sandbox.path_log) + " ".join(stats.requests) + " ".join(stats.warnings)
    )
    assert not any(t in logged for t in tokens)
    harness.credentials = {
        **harness.sandbox.credentials(),
        "refresh_token": "5Aep-wrong-secret-value",
    }
    with pytest.raises(PipelineStepFailed) as info:
        harness.pull()
    message = str(root_cause(info.value))
    assert "invalid_grant" in message
    assert "5Aep-wrong-secret-value" not in message and harness.sandbox.client_secret not in message
