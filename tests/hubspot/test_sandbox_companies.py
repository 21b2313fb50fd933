"""FakeHubspot's companies follow the rules HubSpot's deals do (paging, properties, the
search cap and rate limit, the request-line limit, the recycle bin, error bodies), and
deal-company associations carry HubSpot's type ids in v3 and v4."""

from __future__ import annotations

from typing import Any

import requests

from connectors.hubspot.sandbox import FakeHubspot
from tests.harness import mutate

AUTH = {"Authorization": f"Bearer {FakeHubspot.TOKEN}"}
COMPANIES = "/crm/v3/objects/companies"


def get(sandbox: FakeHubspot, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{sandbox.base_url}{path}", params=params, headers=AUTH, timeout=10)


def post(sandbox: FakeHubspot, path: str, body: Any) -> requests.Response:
    return requests.post(f"{sandbox.base_url}{path}", json=body, headers=AUTH, timeout=10)


def test_companies_page_with_after_cursors_and_string_values(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=60)
    first = get(sandbox, COMPANIES, limit=10, properties="name,numberofemployees").json()
    assert len(first["results"]) == 10 and first["paging"]["next"]["after"]
    assert "limit=10" in first["paging"]["next"]["link"]
    company = first["results"][0]
    assert set(company["properties"]) == {"name", "numberofemployees"}
    assert isinstance(company["properties"]["numberofemployees"], str)
    plain = get(sandbox, COMPANIES, limit=1).json()["results"][0]["properties"]
    assert set(plain) == {"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"}
    seen, after = [], None
    while True:
        page = get(sandbox, COMPANIES, limit=100, **({"after": after} if after else {})).json()
        seen += [c["id"] for c in page["results"]]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert sorted(seen) == sorted(sandbox.objects["companies"])
    assert get(sandbox, COMPANIES, limit=101).status_code == 400


def test_deleted_companies_are_listed_only_from_the_recycle_bin(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=30)
    gone = mutate(sandbox, company_deletes=1, stage_moves=0, deletes=0)["deleted_company_ids"]
    live = get(sandbox, COMPANIES, limit=100).json()["results"]
    assert gone[0] not in {c["id"] for c in live}
    binned = get(sandbox, COMPANIES, limit=100, archived="true").json()["results"]
    assert [c["id"] for c in binned] == gone and binned[0]["archivedAt"]
    missing = get(sandbox, f"{COMPANIES}/{gone[0]}")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    body = {"filterGroups": [], "limit": 200}
    found = post(sandbox, f"{COMPANIES}/search", body).json()
    assert found["total"] == len(live) and gone[0] not in {c["id"] for c in found["results"]}


def test_company_search_filters_sorts_and_stops_at_the_cap(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=60, search_cap=30)
    stamps = sorted(c.lastmod_ms for c in sandbox.objects["companies"].values())
    since = stamps[len(stamps) // 2]
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(since)}
                ]
            }
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["name", "hs_lastmodifieddate"],
        "limit": 10,
    }
    page = post(sandbox, f"{COMPANIES}/search", body).json()
    assert page["total"] == sum(ms >= since for ms in stamps)
    got = [c["properties"]["hs_lastmodifieddate"] for c in page["results"]]
    assert got == sorted(got) and set(page["results"][0]["properties"]) >= {"name"}
    beyond = post(sandbox, f"{COMPANIES}/search", {**body, "after": "25"})
    assert beyond.status_code == 400 and "30" in beyond.json()["message"]


def test_company_search_shares_the_5_a_second_limit(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5, rate_limits=True)
    codes = [post(sandbox, f"{COMPANIES}/search", {"limit": 1}) for _ in range(7)]
    throttled = [c for c in codes if c.status_code == 429]
    assert throttled and throttled[0].json()["policyName"] == "SECONDLY"
    assert "X-HubSpot-RateLimit-Remaining" not in codes[0].headers


def test_an_over_long_company_request_line_is_a_414(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=5, request_line_max=2_000)
    assert get(sandbox, COMPANIES, limit=1, properties=",".join(["name"] * 50)).status_code == 200
    refused = get(sandbox, COMPANIES, limit=1, properties=",".join(["name"] * 500))
    assert refused.status_code == 414 and refused.headers["Content-Type"].startswith("text/html")


def test_company_properties_and_their_legacy_v2_view(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=20)
    v3 = {p["name"]: p for p in get(sandbox, "/crm/v3/properties/companies").json()["results"]}
    assert v3["segment"]["options"][0] == {
        "label": "Enterprise",
        "value": "enterprise",
        "displayOrder": 0,
        "hidden": False,
        "description": "",
    }
    assert v3["numberofemployees"]["hubspotDefined"] and not v3["segment"]["hubspotDefined"]
    legacy = get(sandbox, "/properties/v2/companies/properties").json()
    assert [p["name"] for p in legacy] == list(v3)
    assert all(isinstance(p["createdAt"], int) for p in legacy)
    deals = {p["name"]: p for p in get(sandbox, "/crm/v3/properties/deals").json()["results"]}
    assert [o["label"] for o in deals["lead_source"]["options"]] == [
        "Inbound",
        "Outbound",
        "Referral",
        "Partner",
        "Event",
    ]
    assert deals["legacy_id"]["type"] == "string" and not deals["legacy_id"]["hubspotDefined"]


def test_deal_company_associations_in_v3_and_v4(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=60)
    deal_id = next(d for d, links in sorted(sandbox.company_links.items()) if len(links) > 1)
    primary = sandbox.primary_company[deal_id]
    other = next(c for c in sandbox.company_links[deal_id] if c != primary)
    listed = get(sandbox, f"/crm/v3/objects/deals/{deal_id}", associations="companies").json()
    assert sorted((a["id"], a["type"]) for a in listed["associations"]["companies"]["results"]) == (
        sorted(
            [
                (primary, "deal_to_company"),
                (primary, "deal_to_company_unlabeled"),
                (other, "deal_to_company_unlabeled"),
            ]
        )
    )
    read = post(
        sandbox, "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": deal_id}]}
    )
    assert read.status_code == 200
    to = {str(t["toObjectId"]): t["associationTypes"] for t in read.json()["results"][0]["to"]}
    assert {t["typeId"] for t in to[primary]} == {341, 5}
    assert {t["typeId"] for t in to[other]} - {17} == {341}
    back = post(
        sandbox, "/crm/v4/associations/company/deal/batch/read", {"inputs": [{"id": other}]}
    ).json()["results"][0]
    assert deal_id in {str(t["toObjectId"]) for t in back["to"]}

    # a deleted company drops out of every association read, as in HubSpot
    with sandbox.lock:
        sandbox.objects["companies"][other].archived = True
    again = post(
        sandbox, "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": deal_id}]}
    ).json()["results"][0]
    assert [str(t["toObjectId"]) for t in again["to"]] == [primary]


def test_world_ids_map_native_records_to_the_world(make_sandbox: Any) -> None:
    sandbox = make_sandbox(n_deals=40, source_index=1, n_sources=2)
    deals = sandbox.world_deal_ids()
    assert sorted(deals.values()) == sorted(d.deal_id for d in sandbox.world.iter_deals_for(1, 2))
    accounts = sandbox.world_account_ids()
    assert set(accounts) == set(sandbox.objects["companies"])
    assert sorted(accounts.values()) == sorted(
        a.account_id for a in sandbox.world.source_accounts(1, 2)
    )
