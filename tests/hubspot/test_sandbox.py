"""FakeHubspot answers with HubSpot's shapes, limits and error bodies."""

from __future__ import annotations

from typing import Any

import requests

from connectors.hubspot import CONNECTOR, settings
from connectors.hubspot.sandbox import FakeHubspot
from models.config import parse_config
from tests.harness import mutate, sandbox_entry

AUTH = {"Authorization": f"Bearer {FakeHubspot.TOKEN}"}


def get(sandbox: FakeHubspot, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{sandbox.base_url}{path}", params=params, headers=AUTH, timeout=10)


def post(sandbox: FakeHubspot, path: str, body: Any) -> requests.Response:
    return requests.post(f"{sandbox.base_url}{path}", json=body, headers=AUTH, timeout=10)


def test_list_pages_carry_string_values_and_an_after_cursor(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=30)
    page = get(sandbox, "/crm/v3/objects/deals", limit=10, properties="amount,dealstage").json()
    deal = page["results"][0]
    assert set(deal) >= {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert all(v is None or isinstance(v, str) for v in deal["properties"].values())
    assert deal["createdAt"].endswith("Z")
    after = page["paging"]["next"]["after"]
    assert f"after={after}" in page["paging"]["next"]["link"]
    second = get(sandbox, "/crm/v3/objects/deals", limit=10, after=after).json()
    assert {d["id"] for d in second["results"]}.isdisjoint({d["id"] for d in page["results"]})
    assert get(sandbox, "/crm/v3/objects/deals", limit=101).status_code == 400


def test_history_comes_newest_first_with_its_source_and_at_most_50_a_page(
    make_sandbox: Any,
) -> None:
    sandbox = make_sandbox(n_deals=80)
    page = get(
        sandbox, "/crm/v3/objects/deals", limit=100, propertiesWithHistory="dealstage"
    ).json()
    assert len(page["results"]) == 50
    history = max((d["propertiesWithHistory"]["dealstage"] for d in page["results"]), key=len)
    assert set(history[0]) >= {"value", "timestamp", "sourceType", "sourceId"}
    assert [h["timestamp"] for h in history] == sorted(
        (h["timestamp"] for h in history), reverse=True
    )
    ids = [{"id": d["id"]} for d in page["results"]]
    too_many = post(
        sandbox,
        "/crm/v3/objects/deals/batch/read",
        {"inputs": ids + [{"id": "1"}], "propertiesWithHistory": ["dealstage"]},
    )
    assert too_many.status_code == 400 and too_many.json()["category"] == "VALIDATION_ERROR"


def test_batch_read_reports_missing_ids_in_a_207(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    some = next(iter(sandbox.objects["deals"]))
    response = post(
        sandbox,
        "/crm/v3/objects/deals/batch/read",
        {"inputs": [{"id": some}, {"id": "404404"}], "properties": ["dealname"]},
    )
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 1 and body["errors"][0]["context"]["ids"] == ["404404"]
    assert body["results"][0]["id"] == some
    assert (
        post(
            sandbox,
            "/crm/v3/objects/deals/batch/update",
            {"inputs": [{"id": str(i), "properties": {}} for i in range(101)]},
        ).status_code
        == 400
    )


def test_search_pages_200_at_most_and_never_returns_archived_records(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=40)
    gone = next(iter(sandbox.objects["deals"].values()))
    gone.archived, gone.archived_ms = True, gone.lastmod_ms + 1
    body = post(sandbox, "/crm/v3/objects/deals/search", {"limit": 10}).json()
    assert body["total"] == len(sandbox.objects["deals"]) - 1
    assert body["paging"]["next"]["after"] == "10"
    assert gone.id not in {d["id"] for d in body["results"]}
    assert post(sandbox, "/crm/v3/objects/deals/search", {"limit": 201}).status_code == 400
    many = {
        "filterGroups": [
            {"filters": [{"propertyName": "amount", "operator": "GT", "value": "0"}] * 11}
        ]
    }
    assert post(sandbox, "/crm/v3/objects/deals/search", many).status_code == 400
    listed = get(sandbox, "/crm/v3/objects/deals", archived="true", limit=10).json()["results"]
    assert [d["id"] for d in listed] == [gone.id] and "archivedAt" in listed[0]


def test_search_answers_429_secondly_past_5_a_second(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5, rate_limits=True)
    codes = [post(sandbox, "/crm/v3/objects/deals/search", {"limit": 1}) for _ in range(7)]
    assert [c.status_code for c in codes].count(429) >= 1
    throttled = next(c for c in codes if c.status_code == 429).json()
    assert throttled["policyName"] == "SECONDLY" and throttled["errorType"] == "RATE_LIMIT"
    assert "X-HubSpot-RateLimit-Remaining" not in codes[0].headers


def test_associations_v4_read_up_to_1000_and_207_for_unlinked(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=10)
    call = next(iter(sandbox.objects["calls"]))
    path = "/crm/v4/associations/calls/deals/batch/read"
    response = post(sandbox, path, {"inputs": [{"id": call}, {"id": "1"}]})
    assert response.status_code == 207
    result = response.json()["results"][0]
    assert result["from"]["id"] == call
    assert result["to"][0]["associationTypes"][0] == {
        "category": "HUBSPOT_DEFINED",
        "typeId": 206,
        "label": None,
    }
    assert post(sandbox, path, {"inputs": [{"id": str(i)} for i in range(1001)]}).status_code == 400


def test_auth_errors_name_their_category(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    anonymous = requests.get(f"{sandbox.base_url}/crm/v3/owners", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["category"] == "INVALID_AUTHENTICATION"
    form = {"grant_type": "refresh_token", **sandbox.oauth_credentials()}
    token = requests.post(f"{sandbox.base_url}/oauth/v1/token", data=form, timeout=10).json()
    assert token["expires_in"] == 1800 and token["refresh_token"] == FakeHubspot.REFRESH_TOKEN
    sandbox.expire_tokens()
    expired = requests.get(
        f"{sandbox.base_url}/crm/v3/owners",
        timeout=10,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    bad = requests.post(
        f"{sandbox.base_url}/oauth/v1/token", timeout=10, data={**form, "refresh_token": "nope"}
    )
    assert bad.status_code == 400 and bad.json()["status"] == "BAD_REFRESH_TOKEN"


def test_pipelines_owners_and_properties_look_like_hubspots(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    pipelines = get(sandbox, "/crm/v3/pipelines/deals").json()["results"]
    default = next(p for p in pipelines if p["id"] == "default")
    assert [s["id"] for s in default["stages"]] == list(settings.DEFAULT_STAGE_MAP)
    assert default["stages"][5]["metadata"] == {"isClosed": "true", "probability": "1.0"}
    archived = get(sandbox, "/crm/v3/owners", archived="true").json()["results"]
    assert archived and all(o["archived"] for o in archived)
    region = next(
        p
        for p in get(sandbox, "/crm/v3/properties/deals").json()["results"]
        if p["name"] == "region"
    )
    assert region["type"] == "enumeration" and region["options"][0]["label"] == "EMEA"


def test_a_pipeline_edit_moves_every_deal_in_it(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=30)
    before = {d.id: d.lastmod_ms for d in sandbox.objects["deals"].values()}
    changed = mutate(
        sandbox,
        pipeline_edit=True,
        stage_moves=0,
        backward_moves=0,
        amount_edits=0,
        won=0,
        lost=0,
        deletes=0,
        new_deals=0,
        new_activities=0,
        association_changes=0,
    )
    in_default = {
        d.id for d in sandbox.objects["deals"].values() if d.props["pipeline"] == "default"
    }
    assert set(changed["changed_deal_ids"]) == in_default
    assert all(sandbox.objects["deals"][i].lastmod_ms > before[i] for i in in_default)


def test_the_sandbox_seeds_the_world_slice_through_the_default_stage_map(make_sandbox: Any) -> None:
    """n_deals is the sandbox's own share; the world behind it holds every slice."""
    sandbox = make_sandbox(n_deals=20, source_index=1, n_sources=2)
    assert len(sandbox.objects["deals"]) == 20
    world_deals = list(sandbox.world.iter_deals_for(1, 2))
    reverse = {v: k for k, v in CONNECTOR.default_stage_map.items()}
    for deal, obj in zip(
        world_deals, sorted(sandbox.objects["deals"].values(), key=lambda d: int(d.id)), strict=True
    ):
        if obj.props["pipeline"] == "default":
            assert obj.props["dealstage"] == reverse[deal.stage]
        assert len(obj.history) == len(deal.path)


def test_the_sandbox_source_entry_is_a_valid_hub_yml_source(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5)
    entry = sandbox_entry(sandbox, "hubspot_demo")
    config = parse_config({"sources": [entry]})
    options = CONNECTOR.parse_options(config.sources[0], config)
    assert options.base_url == sandbox.base_url  # type: ignore[attr-defined]
