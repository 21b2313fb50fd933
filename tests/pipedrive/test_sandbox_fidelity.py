"""The sandbox behaves like Pipedrive for any client, not only for the requests our connector
sends today: the deal list filters, ``include_fields``, the end of a cursor list,
``/v1/users/me``, the paging of ``/v1/dealFields`` and errors in Pipedrive's own shape.
Each fact is checked against the official v1/v2 OpenAPI files (tests/pipedrive/spec.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors.pipedrive.client import build_client, iter_pages
from connectors.pipedrive.sandbox.store import TOKEN_USER_ID, v1time, v2time
from tests.pipedrive import spec
from tests.pipedrive.conftest import Hub


def _get(hub: Hub, path: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{hub.sandbox.base_url}{path}",
        params=params,
        headers={"x-api-token": hub.sandbox.api_token},
        timeout=30,
    )


def _deal_ids(hub: Hub, **params: Any) -> set[int]:
    response = _get(hub, "/api/v2/deals", limit=500, **params)
    assert response.status_code == 200, response.text
    return {d["id"] for d in response.json()["data"]}


def _live(hub: Hub) -> list[dict[str, Any]]:
    return [
        d for d in hub.sandbox.store.deals.values() if not d["is_deleted"] and not d["is_archived"]
    ]


def test_deals_filter_by_owner_pipeline_and_stage(hub: Hub) -> None:
    deal = next(d for d in _live(hub) if d["status"] == "open")
    moved = requests.patch(
        f"{hub.sandbox.base_url}/api/v2/deals/{deal['id']}",
        json={"pipeline_id": 2, "stage_id": 6},
        headers={"x-api-token": hub.sandbox.api_token},
        timeout=30,
    )
    assert moved.status_code == 200, moved.text
    live = _live(hub)
    for name, value in (
        ("owner_id", deal["owner_id"]),
        ("pipeline_id", 2),
        ("pipeline_id", 1),
        ("stage_id", 6),
        ("stage_id", live[0]["stage_id"]),
    ):
        want = {d["id"] for d in live if d[name] == value}
        assert want and len(want) < len(live), (name, value)
        assert _deal_ids(hub, **{name: value}) == want, (name, value)
    both = {d["id"] for d in live if d["owner_id"] == deal["owner_id"] and d["pipeline_id"] == 1}
    assert _deal_ids(hub, owner_id=deal["owner_id"], pipeline_id=1) == both


def test_deals_filter_by_status_lists_and_deleted(hub: Hub) -> None:
    hub.mutate(seed=3)  # deletes a few deals among other changes
    live = _live(hub)
    closed = {d["id"] for d in live if d["status"] in ("won", "lost")}
    assert closed and _deal_ids(hub, status="won,lost") == closed
    assert _deal_ids(hub) == {d["id"] for d in live}  # no status: every deal not deleted
    deleted = {
        d["id"]
        for d in hub.sandbox.store.deals.values()
        if d["is_deleted"] and not d["is_archived"]
    }
    assert deleted and _deal_ids(hub, status="deleted") == deleted


@pytest.mark.parametrize(
    "params",
    [{"owner_id": "me"}, {"stage_id": "1.5"}, {"status": "closed"}, {"include_fields": "x"}],
    ids=["owner-not-integer", "stage-not-integer", "unknown-status", "unknown-include-field"],
)
def test_bad_deal_filters_get_a_v2_validation_error(hub: Hub, params: dict[str, str]) -> None:
    response = _get(hub, "/api/v2/deals", **params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["code"] == "ERR_SCHEMA_VALIDATION_FAILED"


def test_include_fields_adds_only_the_fields_asked_for(hub: Hub) -> None:
    plain = _get(hub, "/api/v2/deals", limit=5).json()["data"]
    assert not {"activities_count", "notes_count", "next_activity_id"} & set(plain[0])
    asked = "activities_count,done_activities_count,notes_count,next_activity_id"
    response = _get(hub, "/api/v2/deals", limit=500, include_fields=asked)
    assert not spec.validate("GET", "/api/v2/deals", 200, response.json())
    rows = response.json()["data"]
    for row in rows:
        assert set(row) - set(plain[0]) == set(asked.split(","))
        acts = [a for a in hub.sandbox.store.activities.values() if a["deal_id"] == row["id"]]
        notes = [n for n in hub.sandbox.store.notes.values() if n["deal_id"] == row["id"]]
        assert row["activities_count"] == len(acts)
        assert row["done_activities_count"] == sum(a["done"] for a in acts)
        assert row["notes_count"] == len(notes)
    assert any(r["activities_count"] for r in rows) and any(r["notes_count"] for r in rows)
    stored = hub.sandbox.store.deals[rows[0]["id"]]
    assert "activities_count" not in stored  # the store is untouched
    one = _get(hub, f"/api/v2/deals/{stored['id']}", include_fields="notes_count").json()
    assert one["data"]["notes_count"] == rows[0]["notes_count"]
    assert "activities_count" not in one["data"]


@pytest.mark.parametrize("path", ["/api/v2/deals", "/api/v2/pipelines", "/api/v2/activities"])
def test_the_last_page_sends_next_cursor_null(hub: Hub, path: str) -> None:
    cursor, pages = None, 0
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = _get(hub, path, **params).json()
        pages += 1
        assert "next_cursor" in body["additional_data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert pages >= (2 if path != "/api/v2/pipelines" else 1)


def test_users_me_is_the_token_user_with_its_company(hub: Hub) -> None:
    response = _get(hub, "/api/v1/users/me")
    assert response.status_code == 200
    assert not spec.validate("GET", "/api/v1/users/me", 200, response.json())
    me = response.json()["data"]
    assert me["id"] == TOKEN_USER_ID and me["is_you"] is True
    assert isinstance(me["company_id"], int) and me["company_domain"]
    unauthorised = requests.get(
        f"{hub.sandbox.base_url}/api/v1/users/me", headers={"x-api-token": "0" * 40}, timeout=30
    )
    assert unauthorised.status_code == 401


def test_deal_fields_page_by_offset_with_a_nested_pagination(hub: Hub) -> None:
    """Pipedrive's v1 file declares the pagination keys flat under ``additional_data``; its
    own example and the live API nest them under ``additional_data.pagination`` with a
    ``next_start``, as every other v1 list does."""
    fields = hub.sandbox.store.fields
    first = _get(hub, "/api/v1/dealFields", limit=3).json()["additional_data"]
    assert first == {
        "pagination": {"start": 0, "limit": 3, "more_items_in_collection": True, "next_start": 3}
    }
    last = _get(hub, "/api/v1/dealFields", start=3, limit=500).json()["additional_data"]
    assert last == {"pagination": {"start": 3, "limit": 500, "more_items_in_collection": False}}
    # our connector reads every field through that paging, page by page
    client = build_client(hub.context(), hub.context().options)  # type: ignore[arg-type]
    pages = list(iter_pages(client, "deal_fields", {"limit": 2}))
    assert len(pages) == -(-len(fields) // 2)
    assert [f["key"] for page in pages for f in page] == [f["key"] for f in fields]


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status"),
    [
        ("GET", "/api/v1/nothing", {}, None, 404),
        ("GET", "/api/v2/nothing", {}, None, 404),
        ("GET", "/api/v1/deals/1/flow", {"start": "x"}, None, 400),
        ("GET", "/api/v1/notes", {"start": "-1"}, None, 400),
        ("POST", "/api/v2/dealFields", {}, b"{not json", 400),
        ("PATCH", "/api/v2/deals/1", {}, b"[1, 2]", 400),
    ],
    ids=[
        "v1-unknown",
        "v2-unknown",
        "flow-bad-start",
        "notes-negative-start",
        "bad-json",
        "list-body",
    ],
)
def test_unsupported_requests_get_pipedrive_errors_not_tracebacks(
    hub: Hub, method: str, path: str, params: dict[str, str], body: bytes | None, status: int
) -> None:
    response = requests.request(
        method,
        f"{hub.sandbox.base_url}{path}",
        params=params,
        data=body,
        headers={"x-api-token": hub.sandbox.api_token, "content-type": "application/json"},
        timeout=30,
    )
    _assert_pipedrive_error(response, status, v2=path.startswith("/api/v2/"))


def test_an_unexpected_failure_is_a_500_in_pipedrive_shape(hub: Hub) -> None:
    hub.sandbox.store.users = None  # type: ignore[assignment]  # breaks the users handler
    response = _get(hub, "/api/v1/users")
    _assert_pipedrive_error(response, 500, v2=False)


def _assert_pipedrive_error(response: requests.Response, status: int, *, v2: bool) -> None:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text and "Error(" not in response.text
    body = response.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    if v2:
        assert body["code"].startswith("ERR_")
    else:
        assert body["errorCode"] == status


def test_activities_filter_by_deal_owner_and_done(hub: Hub) -> None:
    acts = [a for a in hub.sandbox.store.activities.values() if not a["is_deleted"]]
    some = acts[0]
    for params, keep in (
        ({"deal_id": some["deal_id"]}, lambda a: a["deal_id"] == some["deal_id"]),
        ({"owner_id": some["owner_id"]}, lambda a: a["owner_id"] == some["owner_id"]),
        ({"done": "false"}, lambda a: not a["done"]),
        (
            {"done": "true", "owner_id": some["owner_id"]},
            lambda a: a["done"] and a["owner_id"] == some["owner_id"],
        ),
    ):
        want = {a["id"] for a in acts if keep(a)}
        body = _get(hub, "/api/v2/activities", limit=500, **params).json()
        assert want and len(want) < len(acts), params
        assert {a["id"] for a in body["data"]} == want, params


def test_stages_sort_by_order_nr(hub: Hub) -> None:
    hub.sandbox.store.stages[1]["order_nr"] = 99  # reordered in the app: first by id, last by order
    body = _get(hub, "/api/v2/stages", sort_by="order_nr").json()
    orders = [s["order_nr"] for s in body["data"]]
    assert orders == sorted(orders) and body["data"][-1]["id"] == 1


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)


def _recent(hub: Hub, **params: Any) -> list[dict[str, Any]]:
    """Every ``/v1/recents`` row, paged by ``start``; each page checked against the v1 spec."""
    rows: list[dict[str, Any]] = []
    start = 0
    while True:
        response = _get(hub, "/v1/recents", start=start, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not spec.validate("GET", "/api/v1/recents", 200, body)
        rows += body["data"]
        paging = body["additional_data"]["pagination"]
        if not paging["more_items_in_collection"]:
            return rows
        start = paging["next_start"]


def test_recents_lists_changed_items_in_v1_shape(hub: Hub) -> None:
    """``GET /v1/recents`` on the api.pipedrive.com base: ``{item, id, data}`` rows with v1
    names and ``YYYY-MM-DD HH:MM:SS`` times, offset paging, filtered by ``items``."""
    now = hub.sandbox.now().astimezone(UTC).replace(microsecond=0)
    deals = sorted(hub.sandbox.store.deals.values(), key=lambda d: d["id"])[:3]
    for i, deal in enumerate(deals):
        deal["update_time"] = v2time(now - timedelta(days=2, seconds=i))
    since = v1time(now - timedelta(days=3))
    rows = _recent(hub, items="deal", since_timestamp=since, limit=1)
    changed = {
        d["id"] for d in hub.sandbox.store.deals.values() if _t(d["update_time"]) >= _t(since)
    }
    assert {r["id"] for r in rows} == changed and len(rows) >= 3
    assert {r["item"] for r in rows} == {"deal"}
    first = next(r["data"] for r in rows if r["id"] == deals[0]["id"])
    assert first["update_time"] == v1time(now - timedelta(days=2))
    assert first["user_id"] == deals[0]["owner_id"] and "owner_id" not in first
    kinds = {r["item"] for r in _recent(hub, since_timestamp=since, limit=500)}
    assert "deal" in kinds
    bad = _get(hub, "/v1/recents", since_timestamp="2026-01-01T00:00:00Z")
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_recents_reach_back_one_month(hub: Hub) -> None:
    """Since 2024-12-01 the feed answers an older ``since_timestamp`` from one month ago."""
    now = hub.sandbox.now().astimezone(UTC).replace(microsecond=0)
    old, recent = sorted(hub.sandbox.store.deals.values(), key=lambda d: d["id"])[:2]
    old["update_time"] = v2time(now - timedelta(days=40))
    recent["update_time"] = v2time(now - timedelta(days=10))
    ids = {r["id"] for r in _recent(hub, items="deal", since_timestamp="2000-01-01 00:00:00")}
    assert recent["id"] in ids and old["id"] not in ids


def test_v1_base_of_api_pipedrive_com_serves_the_api_v1_endpoints(hub: Hub) -> None:
    short, long = _get(hub, "/v1/users/me"), _get(hub, "/api/v1/users/me")
    assert short.status_code == long.status_code == 200
    assert short.json()["data"]["id"] == long.json()["data"]["id"] == TOKEN_USER_ID


# ----- organisations ---------------------------------------------------------------------------


def _org_ids(hub: Hub, **params: Any) -> list[int]:
    """Every organisation id a listing returns, following the cursor; pages spec-checked."""
    ids: list[int] = []
    cursor = None
    while True:
        response = _get(
            hub, "/api/v2/organizations", **params, **({"cursor": cursor} if cursor else {})
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert not spec.validate("GET", "/api/v2/organizations", 200, body)
        ids += [o["id"] for o in body["data"]]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return ids


def test_organisations_list_filters_sorts_and_leaves_out_the_deleted(hub: Hub) -> None:
    store = hub.sandbox.store
    gone = hub.mutate(seed=2, org_deletes=2)["deleted_org_ids"]
    live = [o for o in store.organizations.values() if not o["is_deleted"]]
    assert _org_ids(hub, limit=50) == sorted(o["id"] for o in live)  # by id, no deleted
    assert not set(gone) & set(_org_ids(hub, limit=500))
    owner = live[0]["owner_id"]
    mine = {o["id"] for o in live if o["owner_id"] == owner}
    assert mine and set(_org_ids(hub, owner_id=owner)) == mine
    some = sorted(o["id"] for o in live[:3])
    assert sorted(_org_ids(hub, ids=",".join(map(str, some + gone)))) == some
    newest = sorted(live, key=lambda o: (o["update_time"], o["id"]), reverse=True)
    by_update = _org_ids(hub, sort_by="update_time", sort_direction="desc", limit=7)
    assert by_update == [o["id"] for o in newest]
    since = newest[9]["update_time"]
    want = {o["id"] for o in live if o["update_time"] >= since}
    assert set(_org_ids(hub, updated_since=since)) == want
    assert set(_org_ids(hub, updated_until=since)) == {o["id"] for o in live} - want


def test_organisation_options_ids_and_labels_and_the_optional_fields(hub: Hub) -> None:
    store = hub.sandbox.store
    deal = next(d for d in store.deals.values() if not d["is_deleted"] and d["status"] == "won")
    org = store.organizations[deal["org_id"]]
    segment = store.field_by_name("Segment", "organization")
    plain = _get(hub, f"/api/v2/organizations/{org['id']}").json()["data"]
    assert isinstance(plain["custom_fields"][segment["key"]], int)  # an option id
    assert isinstance(plain["industry"], int) and plain["address"]["country"]
    labelled = _get(
        hub,
        f"/api/v2/organizations/{org['id']}",
        include_option_labels="true",
        include_fields="won_deals_count,open_deals_count",
        custom_fields=segment["key"],
    ).json()
    assert not spec.validate("GET", "/api/v2/organizations/{id}", 200, labelled)
    data = labelled["data"]
    option = data["custom_fields"][segment["key"]]
    assert set(data["custom_fields"]) == {segment["key"]}  # trimmed to the asked-for keys
    labels = {o["id"]: o["label"] for o in segment["options"]}
    assert option == {"id": plain["custom_fields"][segment["key"]], "label": labels[option["id"]]}
    won = [d for d in store.deals.values() if d["org_id"] == org["id"] and not d["is_deleted"]]
    assert data["won_deals_count"] == sum(d["status"] == "won" for d in won) >= 1
    assert data["open_deals_count"] == sum(d["status"] == "open" for d in won)
    assert "won_deals_count" not in store.organizations[org["id"]]  # the store is untouched


@pytest.mark.parametrize(
    "params",
    [
        {"sort_by": "name"},
        {"sort_direction": "up"},
        {"include_fields": "deals"},
        {"custom_fields": ",".join(f"{i:040x}" for i in range(16))},
        {"include_option_labels": "yes"},
        {"owner_id": "me"},
        {"updated_since": "2026-01-01 00:00:00"},
    ],
    ids=[
        "sort-by",
        "sort-direction",
        "include-field",
        "sixteen-keys",
        "labels-flag",
        "owner",
        "v1-stamp",
    ],
)
def test_bad_organisation_parameters_get_a_v2_validation_error(hub: Hub, params: dict) -> None:
    response = _get(hub, "/api/v2/organizations", **params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "ERR_SCHEMA_VALIDATION_FAILED"


def test_a_deleted_organisation_is_only_in_the_recents_feed(hub: Hub) -> None:
    [gone] = hub.mutate(seed=6, org_deletes=1)["deleted_org_ids"]
    missing = _get(hub, f"/api/v2/organizations/{gone}")
    assert missing.status_code == 404 and missing.json()["code"] == "ERR_NOT_FOUND"
    since = v1time(hub.sandbox.now() - timedelta(minutes=5))
    rows = _recent(hub, items="organization", since_timestamp=since, limit=500)
    [row] = [r for r in rows if r["id"] == gone]
    data = row["data"]
    org = hub.sandbox.store.organizations[gone]
    assert data["active_flag"] is False and data["name"] == org["name"]
    assert data["owner_id"]["value"] == org["owner_id"]  # v1: the owner as an object
    assert data["address_country"] == org["address"]["country"]
    segment = hub.sandbox.store.field_by_name("Segment", "organization")["key"]
    assert data[segment] == str(org["custom_fields"][segment])  # v1: top level, id as text


def test_organization_fields_page_like_deal_fields(hub: Hub) -> None:
    fields = hub.sandbox.store.org_fields
    first = _get(hub, "/api/v1/organizationFields", limit=3).json()
    assert not spec.validate("GET", "/api/v1/organizationFields", 200, first)
    assert first["additional_data"]["pagination"]["next_start"] == 3
    client = build_client(hub.context(), hub.context().options)  # type: ignore[arg-type]
    pages = list(iter_pages(client, "organization_fields", {"limit": 3}))
    assert [f["key"] for page in pages for f in page] == [f["key"] for f in fields]
    industry = next(f for page in pages for f in page if f["key"] == "industry")
    assert industry["field_type"] == "enum" and industry["options"] and not industry["edit_flag"]
