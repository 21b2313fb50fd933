"""HubSpot search stops at 10,000 results; more than that changed in one minute must
still arrive, every one of them, exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from connectors.hubspot.sandbox import FakeHubspot
from tests.harness import SandboxHub, mutate, sandbox_requests
from tests.hubspot.helpers import assert_warehouse_equals_sandbox

SEARCH = "/crm/v3/objects/deals/search"
QUIET = {
    "stage_moves": 0,
    "backward_moves": 0,
    "amount_edits": 0,
    "won": 0,
    "lost": 0,
    "deletes": 0,
    "new_deals": 0,
    "new_activities": 0,
    "association_changes": 0,
}


def _search(sandbox: FakeHubspot, **body: Any) -> requests.Response:
    return requests.post(
        f"{sandbox.base_url}{SEARCH}",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {FakeHubspot.TOKEN}"},
    )


def _total_since(sandbox: FakeHubspot, ids: list[str]) -> int:
    wanted = set(ids)
    since = min(d.lastmod_ms for d in sandbox.objects["deals"].values() if d.id in wanted)
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(since)}
                ]
            }
        ],
        "limit": 1,
    }
    return int(_search(sandbox, **body).json()["total"])


# Past the real cap by enough for an offset-paged search to be refused: every page the
# connector asks for is a new query, so how far past the cap adds nothing the lowered-cap
# test below does not cross many times (this file: 82 CPU-s at 30,000, 39 at 12,000).
BULK = 12_000


def test_over_10000_deals_modified_in_one_minute_sync_completely_past_the_10000_cap(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=20)
    hub = SandboxHub(sandbox, tmp_path, options={"activity_types": []})
    hub.pull()
    created = mutate(sandbox, seed=1, bulk_deals=BULK, **QUIET)
    assert _total_since(sandbox, created["new_deal_ids"]) > 10_000  # one minute, over the cap
    hub.pull(days_later=0.001)
    assert_warehouse_equals_sandbox(hub, activities=False)
    assert len(hub.rows("deals")) == 20 + BULK
    assert not [k for k in sandbox_requests(sandbox) if " 400" in k]


def test_past_a_lowered_search_cap_a_restamped_pipeline_syncs_completely(
    make_sandbox: Any, tmp_path: Path
) -> None:
    """The test-only ``search_cap`` knob makes the cap cheap to cross many times."""
    sandbox = make_sandbox(n_deals=200, search_cap=300)
    hub = SandboxHub(sandbox, tmp_path, options={"activity_types": [], "search_page_size": 100})
    hub.pull()
    created = mutate(sandbox, seed=1, bulk_deals=900, **QUIET)
    assert _total_since(sandbox, created["new_deal_ids"]) > 300
    hub.pull(days_later=0.001)
    mutate(sandbox, seed=2, touch_all=1_100, **QUIET)
    hub.pull(days_later=0.001)
    assert_warehouse_equals_sandbox(hub, activities=False)
    assert not [k for k in sandbox_requests(sandbox) if " 400" in k]


def test_a_full_search_page_inside_one_millisecond_is_walked_by_object_id(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=20)
    hub = SandboxHub(sandbox, tmp_path, options={"activity_types": [], "search_page_size": 50})
    hub.pull()
    mutate(sandbox, seed=1, bulk_deals=180, bulk_same_ms=True, **QUIET)
    sandbox.request_log.clear()
    hub.pull(days_later=0.001)
    assert_warehouse_equals_sandbox(hub, activities=False)
    searches = [line for line in sandbox.request_log if "/search?" in line]
    assert 4 <= len(searches) <= 8


def test_the_sandbox_refuses_to_page_past_10000_results_like_hubspot(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    assert _search(sandbox, limit=200, after=9_800).status_code == 200
    refused = _search(sandbox, limit=200, after=10_000)
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    assert "10000" in refused.json()["message"]
