"""FakeHubspot behaves like HubSpot for any client, not only for the requests our connector
sends: each test is one defect found by driving the sandbox with clients we did not write."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox import FakeHubspot
from connectors.sandbox.server import SandboxRequest, SandboxResponse

AUTH = {"Authorization": f"Bearer {FakeHubspot.TOKEN}"}
ERROR_KEYS = {"status", "message", "correlationId", "category"}


def get(sandbox: FakeHubspot, path: str, params: Any = None) -> requests.Response:
    return requests.get(f"{sandbox.base_url}{path}", params=params, headers=AUTH, timeout=10)


def post(sandbox: FakeHubspot, path: str, body: Any) -> requests.Response:
    return requests.post(f"{sandbox.base_url}{path}", json=body, headers=AUTH, timeout=10)


def linked_deal(sandbox: FakeHubspot, object_type: str = "calls") -> tuple[str, str]:
    """(deal id, activity id) of one live link."""
    for act_id, deals in sandbox.links[object_type].items():
        for deal_id in deals:
            if not sandbox.objects["deals"][deal_id].archived:
                return deal_id, act_id
    raise AssertionError("no linked activity")


def search(sandbox: FakeHubspot, **body: Any) -> dict[str, Any]:
    response = post(sandbox, "/crm/v3/objects/deals/search", {"limit": 200, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_owners_path_with_a_trailing_slash_is_the_owners_list(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=10)
    response = get(sandbox, "/crm/v3/owners/", {"limit": 5})
    assert response.status_code == 200
    assert (
        response.json()["results"] == get(sandbox, "/crm/v3/owners", {"limit": 5}).json()["results"]
    )


def test_next_link_keeps_every_other_query_parameter(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=30)
    params = [("limit", "3"), ("properties", "dealname"), ("archived", "false")]
    link = get(sandbox, "/crm/v3/objects/deals", params).json()["paging"]["next"]["link"]
    assert "limit=3" in link and "properties=dealname" in link and "archived=false" in link
    followed = requests.get(link, headers=AUTH, timeout=10).json()
    assert len(followed["results"]) == 3
    assert set(followed["results"][0]["properties"]) == {"dealname"}


def test_repeated_properties_parameters_are_all_returned(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    params = [("properties", "dealname"), ("properties", "amount,dealtype")]
    deal = get(sandbox, "/crm/v3/objects/deals", params).json()["results"][0]
    assert set(deal["properties"]) == {"dealname", "amount", "dealtype"}


@pytest.mark.parametrize("spelling", ["true", "True", "TRUE"])
def test_archived_is_read_case_blind(make_sandbox: Any, spelling: str) -> None:
    sandbox = make_sandbox(n_deals=10)
    binned = next(iter(sandbox.objects["deals"].values()))
    binned.archived = True  # the recycle bin
    results = get(sandbox, "/crm/v3/objects/deals", {"archived": spelling, "limit": 100}).json()[
        "results"
    ]
    assert [d["id"] for d in results] == [binned.id] and results[0]["archived"]


@pytest.mark.parametrize("name", ["deal", "0-3", "DEALS"])
def test_an_object_type_may_be_singular_or_its_type_id(make_sandbox: Any, name: str) -> None:
    sandbox = make_sandbox(n_deals=5)
    listed = get(sandbox, f"/crm/v3/objects/{name}", {"limit": 5})
    assert listed.status_code == 200 and len(listed.json()["results"]) == 5
    searched = post(sandbox, f"/crm/v3/objects/{name}/search", {"limit": 5})
    assert searched.status_code == 200 and searched.json()["total"] == 5
    assert get(sandbox, "/crm/v3/objects/dael").status_code == 400


def test_list_and_get_carry_the_requested_associations(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=20)
    deal_id, call_id = linked_deal(sandbox)
    deal = get(sandbox, f"/crm/v3/objects/deals/{deal_id}", {"associations": "calls"}).json()
    calls = deal["associations"]["calls"]["results"]
    assert {"id": call_id, "type": "deal_to_call"} in calls
    listed = get(sandbox, "/crm/v3/objects/calls", {"associations": "deals", "limit": 100})
    by_id = {c["id"]: c for c in listed.json()["results"]}
    assert by_id[call_id]["associations"]["deals"]["results"] == [
        {"id": deal_id, "type": "call_to_deal"}
    ]
    assert (
        "associations"
        not in get(sandbox, "/crm/v3/objects/deals", {"limit": 1}).json()["results"][0]
    )


def test_get_by_id_answers_one_record_or_hubspots_404(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    deal_id = next(iter(sandbox.objects["deals"]))
    deal = get(sandbox, f"/crm/v3/objects/deals/{deal_id}", {"properties": "dealname"}).json()
    assert deal["id"] == deal_id and set(deal["properties"]) == {"dealname"}
    missing = get(sandbox, "/crm/v3/objects/deals/404404")
    assert missing.status_code == 404
    assert set(missing.json()) >= ERROR_KEYS and missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_search_query_text_matches_words_of_searchable_properties(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=40)
    name = next(iter(sandbox.objects["deals"].values())).props["dealname"] or ""
    word = name.split()[0]
    found = search(sandbox, query=word[:4].upper(), properties=["dealname"])
    assert found["total"] >= 1
    assert all(
        any(w.lower().startswith(word[:4].lower()) for w in d["properties"]["dealname"].split())
        for d in found["results"]
    )
    assert found["total"] < search(sandbox)["total"]
    assert search(sandbox, query="zzqqxx")["total"] == 0


def test_search_in_filters_match_any_listed_value(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=60)
    wanted = ["closedwon", "4010006"]  # a word and a numeric-looking renewals stage id
    found = search(
        sandbox,
        filterGroups=[
            {"filters": [{"propertyName": "dealstage", "operator": "IN", "values": wanted}]}
        ],
        properties=["dealstage"],
    )
    live = [d for d in sandbox.objects["deals"].values() if not d.archived]
    assert found["total"] == sum(d.props["dealstage"] in wanted for d in live) > 0
    assert {d["properties"]["dealstage"] for d in found["results"]} <= set(wanted)


@pytest.mark.parametrize(("sort", "descending"), [("amount", False), ("-amount", True)])
def test_search_sorts_may_be_strings(make_sandbox: Any, sort: str, descending: bool) -> None:
    sandbox = make_sandbox(n_deals=30)
    found = search(
        sandbox,
        sorts=[sort],
        properties=["amount"],
        filterGroups=[{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}]}],
    )
    amounts = [float(d["properties"]["amount"]) for d in found["results"]]
    assert len(amounts) > 1 and amounts == sorted(amounts, reverse=descending)


@pytest.mark.parametrize("to_type", ["calls", "contacts", "companies"])
def test_association_reads_without_links_are_empty_not_refused(
    make_sandbox: Any, to_type: str
) -> None:
    sandbox = make_sandbox(n_deals=20)
    deal_id, call_id = linked_deal(sandbox)
    lonely = next(d for d in sandbox.objects["deals"] if d != deal_id)
    response = post(
        sandbox, f"/crm/v4/associations/deals/{to_type}/batch/read", {"inputs": [{"id": lonely}]}
    )
    assert response.status_code in (200, 207)
    assert [e["subCategory"] for e in response.json().get("errors", [])] in (
        [],
        ["crm.associations.NO_ASSOCIATIONS_FOUND"],
    )
    if to_type == "calls":  # and deal -> call is read like call -> deal
        linked = post(
            sandbox, "/crm/v4/associations/deals/calls/batch/read", {"inputs": [{"id": deal_id}]}
        ).json()["results"][0]
        assert call_id in {str(t["toObjectId"]) for t in linked["to"]}
        assert linked["to"][0]["associationTypes"][0]["typeId"] == 205


def test_unsupported_routes_get_hubspots_error_body(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    response = get(sandbox, "/crm/v3/no/such/route")
    assert response.status_code == 404
    assert set(response.json()) >= ERROR_KEYS and response.json()["status"] == "error"


def test_a_sandbox_bug_is_a_500_in_hubspots_shape_with_the_traceback_only_in_the_log(
    make_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = make_sandbox(n_deals=5)

    def broken(request: SandboxRequest) -> SandboxResponse:
        raise KeyError("sandbox-internal-detail")

    sandbox.route("GET", "/crm/v3/broken", broken)
    with caplog.at_level(logging.ERROR, logger="connectors.sandbox.server"):
        response = get(sandbox, "/crm/v3/broken")
    assert response.status_code == 500
    assert set(response.json()) >= ERROR_KEYS
    assert "sandbox-internal-detail" not in response.text and "Traceback" not in response.text
    assert "sandbox-internal-detail" in caplog.text
    unparseable = requests.post(
        f"{sandbox.base_url}/crm/v3/objects/deals/search", data=b"{not json", headers=AUTH
    )
    assert unparseable.status_code == 500 and set(unparseable.json()) >= ERROR_KEYS


def test_owners_carry_a_type(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    owners = get(sandbox, "/crm/v3/owners", {"limit": 100}).json()["results"]
    assert owners and {o["type"] for o in owners} == {"PERSON"}
    owner = owners[0]
    by_id = get(sandbox, f"/crm/v3/owners/{owner['id']}")
    assert by_id.status_code == 200 and by_id.json() == owner
    by_user = get(sandbox, f"/crm/v3/owners/{owner['userId']}", {"idProperty": "userId"})
    assert by_user.json()["id"] == owner["id"]


def test_dealstage_and_pipeline_properties_list_their_options(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    props = {p["name"]: p for p in get(sandbox, "/crm/v3/properties/deals").json()["results"]}
    stage_ids = {s["id"] for p in sandbox.pipelines for s in p["stages"]}
    assert props["dealstage"]["type"] == "enumeration"
    assert {o["value"] for o in props["dealstage"]["options"]} == stage_ids
    assert {o["value"] for o in props["pipeline"]["options"]} == {
        p["id"] for p in sandbox.pipelines
    }
    assert all(
        set(o) >= {"label", "value", "displayOrder", "hidden"}
        for o in props["dealstage"]["options"]
    )


def test_batch_update_errors_are_hubspot_error_objects_not_python(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    deal_id = next(iter(sandbox.objects["deals"]))
    response = post(
        sandbox,
        "/crm/v3/objects/deals/batch/update",
        {"inputs": [{"id": deal_id, "properties": {"amount": "lots", "nosuch": "x"}}]},
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= ERROR_KEYS and body["category"] == "VALIDATION_ERROR"
    assert "'isValid': False" not in body["message"]
    listed = json.loads(body["message"].split(": ", 1)[1])
    assert {i["error"] for i in listed} == {"INVALID_FLOAT", "PROPERTY_DOESNT_EXIST"}
    assert {e["code"] for e in body["errors"]} == {"INVALID_FLOAT", "PROPERTY_DOESNT_EXIST"}
    assert all(e["context"]["propertyName"] for e in body["errors"])


@pytest.mark.parametrize("path", ["/crm/v3/schemas", "/crm-object-schemas/v3/schemas"])
def test_a_portal_without_custom_objects_lists_no_schemas(make_sandbox: Any, path: str) -> None:
    sandbox = make_sandbox(n_deals=5)
    response = get(sandbox, path)
    assert response.status_code == 200 and response.json() == {"results": []}


@pytest.mark.parametrize("entity", ["deal", "deals"])
def test_legacy_properties_v2_lists_the_deal_properties_of_v3_in_epoch_ms(
    make_sandbox: Any, entity: str
) -> None:
    # Airbyte's source builds every stream's schema from the Properties API v2
    sandbox = make_sandbox(n_deals=5)
    response = get(sandbox, f"/properties/v2/{entity}/properties")
    assert response.status_code == 200, response.text
    legacy = response.json()
    assert isinstance(legacy, list)  # v2 answers with a bare array, not {"results": ...}
    v3 = get(sandbox, "/crm/v3/properties/deals").json()["results"]
    assert [p["name"] for p in legacy] == [p["name"] for p in v3]
    stage = next(p for p in legacy if p["name"] == "dealstage")
    assert stage["type"] == "enumeration" and stage["options"]
    assert all(isinstance(p["createdAt"], int) and p["createdAt"] > 0 for p in legacy)


@pytest.mark.parametrize("entity", ["company", "contacts", "ticket", "line_item", "leads", "calls"])
def test_legacy_properties_v2_of_other_types_are_their_default_properties(
    make_sandbox: Any, entity: str
) -> None:
    # a portal has the HubSpot-defined properties of every standard object type, records or not
    sandbox = make_sandbox(n_deals=5)
    response = get(sandbox, f"/properties/v2/{entity}/properties")
    assert response.status_code == 200, response.text
    props = {p["name"]: p for p in response.json()}
    assert props["hs_object_id"]["type"] == "number" and props["hs_object_id"]["hubspotDefined"]
    assert props["hs_lastmodifieddate"]["type"] == "datetime"
    assert get(sandbox, "/properties/v2/widgets/properties").status_code == 400


def test_legacy_pipelines_v1_are_the_v3_pipelines_in_epoch_ms(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    response = get(sandbox, "/crm-pipelines/v1/pipelines/deals")
    assert response.status_code == 200, response.text
    legacy = response.json()["results"]
    v3 = get(sandbox, "/crm/v3/pipelines/deals").json()["results"]
    assert [p["pipelineId"] for p in legacy] == [p["id"] for p in v3]
    first = legacy[0]
    assert first["objectType"] == "DEAL" and first["active"] is True
    assert isinstance(first["updatedAt"], int) and first["updatedAt"] > 0
    assert [s["stageId"] for s in first["stages"]] == [s["id"] for s in v3[0]["stages"]]
    assert {"probability", "isClosed"} <= set(first["stages"][0]["metadata"])


@pytest.mark.parametrize("object_type", ["contacts", "tickets", "line_items"])
def test_listing_a_standard_type_the_portal_holds_none_of_is_empty_not_an_error(
    make_sandbox: Any, object_type: str
) -> None:
    sandbox = make_sandbox(n_deals=5)
    response = get(sandbox, f"/crm/v3/objects/{object_type}", {"limit": 10})
    assert response.status_code == 200, response.text
    assert response.json() == {"results": []}
