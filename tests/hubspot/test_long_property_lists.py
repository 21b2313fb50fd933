"""HubSpot refuses over-long request lines (414); a portal with many pipelines names a
``hs_v2_date_entered_*`` property per stage, so the first sync's list request must split."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.hubspot import settings
from connectors.hubspot.sandbox.store import parse_ms
from tests.harness import SandboxHub, mutate, reset_requests, sandbox_requests
from tests.hubspot.helpers import assert_warehouse_equals_sandbox


def _get_deals(sandbox: Any, properties: list[str]) -> requests.Response:
    return requests.get(
        f"{sandbox.base_url}/crm/v3/objects/deals",
        params={"limit": 1, "properties": ",".join(properties)},
        headers={"Authorization": f"Bearer {sandbox.TOKEN}"},
        timeout=30,
    )


def test_the_sandbox_refuses_a_request_line_past_its_limit_with_a_414(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5, request_line_max=2_000)
    short, long = ["dealname"] * 50, ["dealname"] * 500
    assert _get_deals(sandbox, short).status_code == 200
    refused = _get_deals(sandbox, long)
    assert refused.status_code == 414
    assert refused.headers["Content-Type"].startswith("text/html")
    assert "X-HubSpot-RateLimit-Max" not in refused.headers  # the front end answered
    assert sandbox.daily_used == 1


def test_a_portal_with_600_stages_overflows_a_single_list_request(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    assert sandbox.counts()["deal_properties_past_url"] == 0
    mutate(sandbox, new_pipelines=60, stages_per_pipeline=10)
    assert sandbox.counts()["deal_properties_past_url"] > 0
    stages = [s["id"] for p in sandbox.pipelines for s in p["stages"]]
    names = [*settings.DEAL_PROPERTIES, *(settings.DATE_ENTERED_PREFIX + s for s in stages)]
    assert _get_deals(sandbox, names).status_code == 414


def test_a_first_sync_of_a_portal_with_600_stages_splits_its_property_list(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=150)
    mutate(sandbox, seed=1, new_pipelines=60, stages_per_pipeline=10, deletes=4)
    reset_requests(sandbox)
    hub = SandboxHub(sandbox, tmp_path)
    stats = hub.pull()

    served = sandbox_requests(sandbox)
    assert not [k for k in served if k.endswith(" 414")], served
    assert sum(served.values()) <= 1.1 * sandbox.page_minimum(sandbox.counts()), served
    assert stats.total == sum(served.values())
    assert_warehouse_equals_sandbox(hub)
    # values that only the batch read carried: each deal's date in its current stage in
    # the new pipelines, and the custom properties listed last
    deals = {d["source_deal_id"]: d for d in hub.rows("deals")}
    moved = [o for o in sandbox.objects["deals"].values() if str(o.props["pipeline"])[:2] == "30"]
    assert len(moved) == 60
    for obj in moved:
        entered = obj.props[settings.DATE_ENTERED_PREFIX + str(obj.props["dealstage"])]
        want = datetime.fromtimestamp(parse_ms(str(entered)) / 1000, UTC)
        assert deals[obj.id]["stage_changed_at"] == want
    assert all("region" in str(d["custom_fields"]) for d in deals.values())

    mutate(sandbox, seed=2, stage_moves=5, deletes=2, association_changes=0)
    hub.pull(days_later=0.01)
    assert_warehouse_equals_sandbox(hub)


@pytest.mark.parametrize("daily_limit", [6, 10, 12, 13])
def test_a_split_first_sync_stopped_by_the_daily_limit_resumes_to_the_same_warehouse(
    make_sandbox: Any, tmp_path: Path, daily_limit: int
) -> None:
    sandbox = make_sandbox(n_deals=150, daily_limit=daily_limit, rate_limits=True)
    mutate(sandbox, seed=1, new_pipelines=60, deletes=4, association_changes=0)
    hub = SandboxHub(sandbox, tmp_path, options={"max_daily_share": 1.0})
    hub.pull()
    assert hub.last_ctx is not None and hub.last_ctx.stop_reason
    sandbox.daily_limit = 10_000
    sandbox.reset_daily()  # the portal's midnight
    hub.pull(days_later=1)
    assert_warehouse_equals_sandbox(hub)
