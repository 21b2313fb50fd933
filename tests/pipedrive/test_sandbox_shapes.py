"""The sandbox answers like Pipedrive: every body against the official OpenAPI files,
and the error bodies, headers and quirks the connector must survive."""

from __future__ import annotations

import pytest
import requests

from connectors.base import DealUpdate
from connectors.pipedrive import CONNECTOR
from tests.pipedrive import spec
from tests.pipedrive.conftest import Hub

pytestmark = pytest.mark.skipif(
    not spec.available(), reason=f"Pipedrive OpenAPI files not found in {spec.SPEC_DIR}"
)


def test_every_response_of_a_sync_and_a_write_matches_the_openapi_spec(hub: Hub) -> None:
    hub.sandbox.flow_null_rate = 0.0
    hub.pull()
    hub.mutate(seed=1)
    hub.pull()
    writer = CONNECTOR.build_writer(hub.context())  # type: ignore[misc]
    writer.setup_fields()
    deal = next(
        d for d in hub.sandbox.store.deals.values() if d["status"] == "open" and not d["is_deleted"]
    )
    writer.write(
        [DealUpdate(str(deal["id"]), {"hub_score": 0.5, "stage_id": str(deal["stage_id"] % 5 + 1)})]
    )
    checked = [r for r in hub.recorded if r.status == 200 and r.path != "/oauth/token"]
    operations = {(r.method, spec.operation(r.path)) for r in checked}
    assert len(operations) >= 11
    errors = [e for r in checked for e in spec.validate(r.method, r.path, r.status, r.body)]
    assert not errors, errors[:5]


def _get(hub: Hub, path: str, **params: str) -> requests.Response:
    return requests.get(
        f"{hub.sandbox.base_url}{path}",
        params=params,
        headers={"x-api-token": hub.sandbox.api_token},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/deals", {"updated_since": "2026-01-01T10:00:00.123Z"}),
        ("/api/v2/stages", {"updated_since": "2026-01-01T10:00:00Z"}),
        ("/api/v2/pipelines", {"updated_since": "2026-01-01T10:00:00Z"}),
        ("/api/v2/deals", {"limit": "501"}),
    ],
    ids=[
        "fractional-seconds",
        "stages-reject-updated-since",
        "pipelines-reject-updated-since",
        "limit-over-500",
    ],
)
def test_invalid_parameters_get_a_v2_validation_error(hub: Hub, path: str, params: dict) -> None:
    response = _get(hub, path, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["code"].startswith("ERR_") and body["error"]


def test_a_bad_token_gets_401_with_the_v1_error_body(hub: Hub) -> None:
    response = requests.get(
        f"{hub.sandbox.base_url}/api/v1/users", headers={"x-api-token": "x" * 40}, timeout=30
    )
    assert response.status_code == 401
    assert response.json()["success"] is False and response.json()["errorCode"] == 401


def test_a_burst_429_has_rate_headers_and_no_retry_after(hub: Hub) -> None:
    hub.faults(rate_429=1.0)
    response = _get(hub, "/api/v2/deals")
    assert response.status_code == 429
    assert "retry-after" not in {k.lower() for k in response.headers}
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) >= 1
    assert response.json()["success"] is False


def test_lists_page_the_way_each_api_version_does(hub: Hub) -> None:
    v2 = _get(hub, "/api/v2/deals", limit="100").json()
    assert v2["additional_data"]["next_cursor"]
    last = _get(hub, "/api/v2/deals", limit="500").json()
    assert last["additional_data"] == {"next_cursor": None}  # null on the last page (v2 spec)
    notes = _get(hub, "/api/v1/notes", limit="10").json()["additional_data"]["pagination"]
    assert notes == {"start": 0, "limit": 10, "more_items_in_collection": True, "next_start": 10}
    deal = next(iter(hub.sandbox.store.deals.values()))
    assert len(deal["update_time"]) == 20 and deal["update_time"].endswith("Z")  # second precision
    assert all(len(k) == 40 for k in deal["custom_fields"])


def test_the_flow_sometimes_answers_200_with_a_null_body(hub: Hub) -> None:
    hub.sandbox.flow_null_rate = 1.0
    response = _get(hub, "/api/v1/deals/1/flow")
    assert response.status_code == 200 and response.json() is None
