"""Keeping under HubSpot's limits: 190 per 10 s (portal-wide), 5 searches a second, and
whatever the X-HubSpot-RateLimit-* headers say. Time is virtual, the limits are real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from connectors.http import RequestStats
from connectors.hubspot.client import HubspotApi, PrivateAppAuth
from connectors.hubspot.options import HubspotOptions
from connectors.hubspot.sandbox import FakeHubspot
from tests.harness import SandboxHub, mutate, sandbox_requests
from tests.hubspot.helpers import assert_warehouse_equals_sandbox

AUTH = {"Authorization": f"Bearer {FakeHubspot.TOKEN}"}


def throttled(sandbox: FakeHubspot) -> int:
    return sum(n for k, n in sandbox_requests(sandbox).items() if k.endswith(" 429"))


def test_the_sandbox_enforces_190_requests_per_10_seconds(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5, rate_limits=True)
    session = requests.Session()
    statuses = [
        session.get(f"{sandbox.base_url}/crm/v3/owners", headers=AUTH, timeout=10)
        for _ in range(200)
    ]
    codes = [r.status_code for r in statuses]
    assert codes[:190] == [200] * 190 and set(codes[190:]) == {429}
    last = statuses[-1]
    assert last.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert last.json()["errorType"] == "RATE_LIMIT"
    assert "Retry-After" not in last.headers
    assert statuses[189].headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_a_client_making_400_calls_never_meets_the_burst_limit(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5, rate_limits=True)
    api = HubspotApi(
        HubspotOptions(base_url=sandbox.base_url), PrivateAppAuth(FakeHubspot.TOKEN), RequestStats()
    )
    for _ in range(400):
        api.get("/crm/v3/owners", endpoint="/crm/v3/owners")
    assert throttled(sandbox) == 0
    assert api.stats.waited_s >= 10  # it paced itself


def test_a_lower_tier_limit_is_learned_from_the_headers(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(rate_limits=True, burst_max=40)  # e.g. a Starter portal's 100
    hub = SandboxHub(sandbox, tmp_path, options={"search_page_size": 10})
    hub.pull()
    mutate(sandbox, seed=1, stage_moves=10, new_deals=20, new_activities=10)
    hub.pull(days_later=0.01)
    assert throttled(sandbox) <= 1
    assert_warehouse_equals_sandbox(hub, activities=False)


def test_searches_stay_under_5_a_second(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(rate_limits=True)
    hub = SandboxHub(sandbox, tmp_path, options={"search_page_size": 5, "activity_probe": False})
    hub.pull()
    mutate(
        sandbox,
        seed=2,
        stage_moves=20,
        new_deals=30,
        amount_edits=20,
        new_activities=15,
        association_changes=0,
    )
    hub.pull(days_later=0.01)
    searches = sum(n for k, n in sandbox_requests(sandbox).items() if "/search" in k)
    assert searches >= 15
    assert throttled(sandbox) == 0
    assert_warehouse_equals_sandbox(hub)


def test_the_daily_headers_go_to_private_apps_only(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    private = requests.get(f"{sandbox.base_url}/crm/v3/owners", headers=AUTH, timeout=10)
    assert private.headers["X-HubSpot-RateLimit-Daily"] == "650000"
    assert int(private.headers["X-HubSpot-RateLimit-Daily-Remaining"]) < 650000
    assert private.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert private.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    token = requests.post(
        f"{sandbox.base_url}/oauth/v1/token",
        timeout=10,
        data={"grant_type": "refresh_token", **sandbox.oauth_credentials()},
    ).json()["access_token"]
    oauth = requests.get(
        f"{sandbox.base_url}/crm/v3/owners",
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert oauth.status_code == 200
    assert "X-HubSpot-RateLimit-Daily" not in oauth.headers
    assert "X-HubSpot-RateLimit-Remaining" in oauth.headers
