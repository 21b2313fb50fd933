"""Every request to the Pipedrive sandbox, and every answer, against the official OpenAPI files.

Two kinds of client drive the sandbox: our connector (a full sync, an incremental sync and a
push) and requests shaped as Pipedrive's official Node client sends them (its request
shapes are the v2/v1 operations of the same files: filters, cursor, limit, include_fields,
JSON bodies). The sandbox records each exchange as it happened (``record_exchanges``), so
nothing wraps our client; tests/pipedrive/spec.py checks both sides with openapi-core.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.base import DealUpdate
from connectors.pipedrive import CONNECTOR
from connectors.pipedrive.sandbox.server import Exchange
from tests.harness import VirtualClock
from tests.pipedrive import spec
from tests.pipedrive.conftest import Hub, make_hub

pytestmark = pytest.mark.skipif(
    not spec.available(), reason=f"Pipedrive OpenAPI files not found in {spec.SPEC_DIR}"
)


@pytest.fixture
def hub(tmp_path: Path, virtual_clock: VirtualClock) -> Iterator[Hub]:
    """Retries and pacing sleep through the shared virtual clock: no waiting."""
    yield from make_hub(tmp_path, flow_null_rate=0.0)


def _errors(exchanges: list[Exchange]) -> list[str]:
    """Spec errors of both sides of every vendor exchange (OAuth is not in the files)."""
    errors: list[str] = []
    for ex in exchanges:
        r = ex.request
        if r.path == "/oauth/token":
            continue
        errors += spec.request_errors(r.method, r.path, r.query, r.headers, r.body)
        errors += spec.validate(r.method, r.path, ex.status, ex.body)
    return errors


def _operations(exchanges: list[Exchange]) -> set[tuple[str, str]]:
    return {
        (ex.request.method, found[1])
        for ex in exchanges
        if (found := spec.operation(ex.request.path)) is not None
    }


def test_our_connector_sync_and_push_match_the_spec_on_both_sides(hub: Hub) -> None:
    exchanges = hub.sandbox.record_exchanges()
    hub.pull()  # full
    hub.mutate(seed=1, org_edits=2, org_deletes=2, new_orgs=1)
    hub.pull()  # incremental: updated_since on deals, activities, notes, organisations
    writer = CONNECTOR.build_writer(hub.context())  # type: ignore[misc]
    writer.setup_fields()
    deal = next(
        d for d in hub.sandbox.store.deals.values() if d["status"] == "open" and not d["is_deleted"]
    )
    stage = str(deal["stage_id"] % 5 + 1)
    writer.write([DealUpdate(str(deal["id"]), {"hub_score": 0.5, "stage_id": stage})])
    assert any("updated_since" in ex.request.query for ex in exchanges)
    assert {
        ("GET", "/deals"),
        ("GET", "/deals/archived"),
        ("GET", "/deals/{id}/flow"),
        ("GET", "/activities"),
        ("GET", "/notes"),
        ("GET", "/users"),
        ("GET", "/dealFields"),
        ("GET", "/organizations"),
        ("GET", "/organizationFields"),
        ("GET", "/recents"),
        ("GET", "/pipelines"),
        ("GET", "/stages"),
        ("POST", "/dealFields"),
        ("PATCH", "/deals/{id}"),
    } <= _operations(exchanges)
    deleted = [
        row
        for ex in exchanges
        if ex.request.path == "/api/v1/recents"
        for row in json.loads(ex.body)["data"]
        if row["item"] == "organization" and row["data"]["active_flag"] is False
    ]
    assert len(deleted) == 2, "the deleted organisations came through the recents feed"
    assert all(ex.status == 200 for ex in exchanges), [
        (ex.request.path, ex.status) for ex in exchanges if ex.status != 200
    ]
    errors = _errors(exchanges)
    assert not errors, errors[:5]


def _official_client_calls(hub: Hub) -> list[tuple[str, str, dict[str, Any], Any]]:
    """(method, path, query, JSON body) as the official client builds them from the spec's
    operations: getDeals, getDeal, updateDeal, getStages, getPipelines, getActivities,
    getCurrentUser, getDealFields (v1 and v2), getOrganizations, getOrganization,
    getOrganizationFields, getRecents."""
    deal = next(d for d in hub.sandbox.store.deals.values() if d["status"] == "open")
    org = hub.sandbox.store.organizations[deal["org_id"]]
    return [
        ("GET", "/api/v2/deals", {"limit": 50}, None),
        (
            "GET",
            "/api/v2/deals",
            {
                "owner_id": deal["owner_id"],
                "pipeline_id": 1,
                "stage_id": deal["stage_id"],
                "status": "open",
                "include_fields": "activities_count",
                "sort_by": "update_time",
                "sort_direction": "desc",
                "updated_since": "2020-01-01T00:00:00Z",
                "limit": 10,
            },
            None,
        ),
        ("GET", "/api/v2/deals/archived", {"limit": 10, "sort_by": "add_time"}, None),
        ("GET", f"/api/v2/deals/{deal['id']}", {"include_fields": "notes_count"}, None),
        (
            "PATCH",
            f"/api/v2/deals/{deal['id']}",
            {},
            {"title": "Renamed by the official client", "value": 1234.5, "probability": 40},
        ),
        ("GET", "/api/v2/stages", {"pipeline_id": 1, "limit": 100}, None),
        ("GET", "/api/v2/stages", {"sort_by": "order_nr", "sort_direction": "desc"}, None),
        ("GET", "/api/v2/pipelines", {"sort_by": "id", "sort_direction": "asc"}, None),
        ("GET", "/api/v2/activities", {"deal_id": deal["id"], "limit": 100}, None),
        ("GET", "/api/v2/activities", {"owner_id": deal["owner_id"], "done": "false"}, None),
        ("GET", "/api/v2/activities", {"updated_since": "2020-01-01T00:00:00Z"}, None),
        ("GET", "/api/v1/users/me", {}, None),
        ("GET", "/api/v1/dealFields", {"start": 0, "limit": 5}, None),
        ("GET", "/api/v2/dealFields", {"limit": 5}, None),
        ("GET", "/api/v2/organizations", {"limit": 50}, None),
        (
            "GET",
            "/api/v2/organizations",
            {
                "owner_id": org["owner_id"],
                "updated_since": "2020-01-01T00:00:00Z",
                "updated_until": "2099-01-01T00:00:00Z",
                "sort_by": "update_time",
                "sort_direction": "desc",
                "include_fields": "open_deals_count",
                "custom_fields": ",".join(org["custom_fields"]),
                "include_option_labels": "true",
                "limit": 5,
            },
            None,
        ),
        ("GET", "/api/v2/organizations", {"ids": f"{org['id']},1", "sort_by": "add_time"}, None),
        ("GET", f"/api/v2/organizations/{org['id']}", {"include_fields": "won_deals_count"}, None),
        ("GET", "/api/v1/organizationFields", {"start": 0, "limit": 3}, None),
        (
            "GET",
            "/api/v1/recents",
            {"since_timestamp": "2020-01-01 00:00:00", "items": "organization", "limit": 100},
            None,
        ),
    ]


def test_requests_shaped_like_the_official_client_match_the_spec(hub: Hub) -> None:
    exchanges = hub.sandbox.record_exchanges()
    session = requests.Session()
    session.headers["x-api-token"] = hub.sandbox.api_token
    for method, path, query, body in _official_client_calls(hub):
        response = session.request(
            method, hub.sandbox.base_url + path, params=query, json=body, timeout=30
        )
        assert response.status_code == 200, (method, path, response.text)
        next_cursor = (response.json().get("additional_data") or {}).get("next_cursor")
        if next_cursor:  # the client follows the cursor with the same query
            follow = session.get(
                hub.sandbox.base_url + path, params={**query, "cursor": next_cursor}, timeout=30
            )
            assert follow.status_code == 200, follow.text
    assert any("cursor" in ex.request.query for ex in exchanges)
    errors = _errors(exchanges)
    assert not errors, errors[:5]


TOKEN = {"x-api-token": "t"}


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body"),
    [
        ("GET", "/api/v2/deals", {"limit": "many"}, TOKEN, b""),
        ("GET", "/api/v2/deals", {"status": "open,closed"}, TOKEN, b""),
        ("GET", "/api/v2/deals", {"owner_id": "me"}, TOKEN, b""),
        ("GET", "/api/v2/deals", {"colour": "red"}, TOKEN, b""),
        ("GET", "/api/v2/deals", {}, {}, b""),
        ("PATCH", "/api/v2/deals/1", {}, TOKEN, b'{"stage_id": "two"}'),
    ],
    ids=[
        "limit-not-integer",
        "status-not-in-enum",
        "owner-not-integer",
        "undeclared",
        "no-credentials",
        "body-type",
    ],
)
def test_the_request_check_can_fail(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
) -> None:
    """The request side is not vacuous: requests outside the spec are reported."""
    headers = {**headers, "content-type": "application/json"}
    assert spec.request_errors(method, path, {k: [v] for k, v in query.items()}, headers, body)


def test_the_response_check_can_fail() -> None:
    bad = {"success": True, "data": [{"id": "seven"}], "additional_data": {"next_cursor": None}}
    assert spec.validate("GET", "/api/v2/deals", 200, bad)
