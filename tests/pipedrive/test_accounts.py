"""Organisations as accounts, deals linked to them, custom fields typed and described.

Every figure is checked against the synthetic world the sandbox was seeded from (the
company each record came from, as that source writes it), not against the sandbox's own
records: real HTTP, real dlt, real DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.synthetic import SyntheticDeal, World, WorldSpec
from connectors.synthetic.companies import account_view, migrated_copy
from tests.pipedrive.conftest import SOURCE, Hub, assert_warehouse_equals_sandbox, make_hub

# What Pipedrive's address field holds for each of the world's countries, written by hand.
COUNTRY = {
    "BR": "Brazil",
    "CA": "Canada",
    "DE": "Germany",
    "DK": "Denmark",
    "FR": "France",
    "GB": "United Kingdom",
    "JP": "Japan",
    "NL": "Netherlands",
    "PL": "Poland",
    "SE": "Sweden",
    "US": "United States",
}
QUIET = {  # a mutate round that changes organisations only
    "stage_moves": 0,
    "backward_moves": 0,
    "amount_edits": 0,
    "won": 0,
    "lost": 0,
    "deletes": 0,
    "association_changes": 0,
    "new_deals": 0,
    "new_activities": 0,
}


def world_of(hub: Hub) -> World:
    spec = hub.sandbox.spec
    return World(
        WorldSpec(
            seed=spec.seed,
            n_deals=spec.n_deals * spec.n_sources,
            activities_per_deal=spec.activities_per_deal,
            duplicate_share=spec.duplicate_share,
        )
    )


def world_deal(world: World, deal_id: str) -> SyntheticDeal:
    """A world deal by its id; ``M...`` ids are migrated copies of ``D...`` deals."""
    original = world.deal(int(deal_id[1:]))
    return migrated_copy(original, world.spec) if deal_id.startswith("M") else original


def accounts(hub: Hub) -> dict[str, dict[str, Any]]:
    rows = hub.rows("accounts")
    for row in rows:
        row["custom_fields"] = json.loads(row["custom_fields"]) if row["custom_fields"] else None
    return {r["source_account_id"]: r for r in rows}


def quarantined(hub: Hub) -> list[dict[str, Any]]:
    tables = {t for (t,) in hub.sql("SELECT table_name FROM information_schema.tables")}
    if "quarantine" not in tables:
        return []
    return hub.rows("quarantine", ["entity", "record_id", "column_name", "value", "reason"])


def _org(hub: Hub, org_id: int) -> requests.Response:
    """One organisation as any client reads it, option labels included."""
    return requests.get(
        f"{hub.sandbox.base_url}/api/v2/organizations/{org_id}",
        params={"include_option_labels": "true"},
        headers={"x-api-token": hub.sandbox.api_token},
        timeout=30,
    )


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Hub]:
    """The second of two sources, holding migrated copies of the first one's deals."""
    yield from make_hub(tmp_path, n_sources=2, source_index=1, duplicate_share=0.3)


def test_organisations_land_as_the_companies_this_source_holds(hub: Hub) -> None:
    hub.pull()
    world = world_of(hub)
    spec = hub.sandbox.spec
    landed = accounts(hub)
    ids = hub.sandbox.world_account_ids()
    companies = {a.account_id: a for a in world.source_accounts(spec.source_index, spec.n_sources)}
    assert sorted(ids[int(native)] for native in landed) == sorted(companies)
    emails = {r["source_owner_id"]: r["email"] for r in hub.rows("owners")}
    for native, row in landed.items():
        company = companies[ids[int(native)]]
        view = account_view(company, spec.source_index, spec.seed)
        assert (row["name"], row["website"]) == (view.name, view.website), native
        assert row["domain"] == (company.domain if view.website else None), native
        assert row["country"] == COUNTRY[company.country], native
        assert row["industry"] == company.industry, native
        assert emails[row["owner_id"]] == world.rep_by_id[company.owner].email, native
        assert row["custom_fields"] == {"segment": company.segment, "employees": company.employees}
        assert row["is_deleted"] is False and row["account_key"] == f"{SOURCE}:{native}"
    with_site = [r for r in landed.values() if r["website"]]
    assert with_site and any(r["website"] != r["domain"] for r in with_site)  # typed variously
    assert quarantined(hub) == []


def test_deals_point_at_the_company_they_were_seeded_from(hub: Hub) -> None:
    hub.pull()
    world = world_of(hub)
    deal_ids, org_ids = hub.sandbox.world_deal_ids(), hub.sandbox.world_account_ids()
    deals = hub.rows("deals", ["source_deal_id", "account_id", "account_key", "custom_fields"])
    links = hub.rows("deal_accounts", ["deal_key", "account_key", "is_primary", "label"])
    assert len(deals) == len(deal_ids) and len(links) == len(deals)  # one link per deal
    by_deal = {link["deal_key"]: link for link in links}
    known = {r["account_key"] for r in hub.rows("accounts", ["account_key"])}
    for d in deals:
        truth = world_deal(world, deal_ids[int(d["source_deal_id"])])
        assert org_ids[int(d["account_id"])] == truth.account.account_id
        assert d["account_key"] == f"{SOURCE}:{d['account_id']}" and d["account_key"] in known
        link = by_deal[f"{SOURCE}:{d['source_deal_id']}"]
        assert (link["account_key"], link["is_primary"], link["label"]) == (
            d["account_key"],
            True,
            None,
        )
        custom = json.loads(d["custom_fields"]) if d["custom_fields"] else {}
        assert custom.get("lead_source") == truth.lead_source  # the label, not an option id


def test_migrated_copies_carry_the_original_id_as_legacy_id(migrated: Hub) -> None:
    migrated.pull()
    world = world_of(migrated)
    deal_ids = migrated.sandbox.world_deal_ids()
    copies = {n: w for n, w in deal_ids.items() if w.startswith("M")}
    assert copies, "duplicate_share puts copies of the previous source's deals here"
    rows = migrated.rows("deals", ["source_deal_id", "custom_fields"])
    legacy = {
        int(r["source_deal_id"]): json.loads(r["custom_fields"] or "{}").get("legacy_id")
        for r in rows
    }
    for native, world_id in deal_ids.items():
        want = world_deal(world, world_id).legacy_id
        assert legacy[native] == want, (native, world_id)
    assert {legacy[n] for n in copies} == {f"D{w[1:]}" for w in copies.values()}
    spec = migrated.sandbox.spec
    landed = {migrated.sandbox.world_account_ids()[int(n)] for n in accounts(migrated)}
    assert landed == {a.account_id for a in world.source_accounts(spec.source_index, 2)}


def test_field_definitions_describe_every_custom_field_taken(hub: Hub) -> None:
    hub.pull()
    rows = hub.rows(
        "field_definitions",
        ["field_key", "entity", "column_name", "source_field", "label", "data_type"],
    )
    got = {(r["entity"], r["column_name"], r["label"], r["data_type"]) for r in rows}
    assert got == {
        ("deal", "lead_source", "Lead source", "enum"),
        ("deal", "legacy_id", "Legacy ID", "text"),
        ("deal", "segments", "Segments", "enum"),
        ("deal", "contract_months", "Contract months", "number"),
        ("account", "segment", "Segment", "enum"),
        ("account", "employees", "Employees", "number"),
    }
    for r in rows:
        assert r["field_key"] == f"{SOURCE}:{r['entity']}:{r['column_name']}"
        assert len(r["source_field"]) == 40  # Pipedrive's own (hashed) API name
    sets = hub.sql("SELECT custom_fields FROM deals WHERE custom_fields LIKE '%segments%'")
    values = [json.loads(c)["segments"] for (c,) in sets]
    assert values and all(isinstance(v, str) and len(v.split(", ")) == 2 for v in values)
    assert {label for v in values for label in v.split(", ")} <= {"SMB", "Mid-Market", "Enterprise"}


def test_options_take_the_fields_they_name_by_label_column_or_key(hub: Hub) -> None:
    key = hub.sandbox.store.field_by_name("Contract months")["key"]
    stats = hub.pull(
        custom_fields=["Lead source", key, "No such field"],
        organization_custom_fields=["employees"],
    )
    rows = hub.rows("field_definitions", ["entity", "column_name"])
    assert {(r["entity"], r["column_name"]) for r in rows} == {
        ("deal", "lead_source"),
        ("deal", "contract_months"),
        ("account", "employees"),
    }
    keys = {k for (c,) in hub.sql("SELECT custom_fields FROM accounts") for k in json.loads(c)}
    assert keys == {"employees"}
    assert any("'No such field'" in w for w in stats.warnings), stats.warnings


def test_organisation_edits_deletes_and_additions_arrive_incrementally(hub: Hub) -> None:
    hub.pull()
    store = hub.sandbox.store
    changes = hub.mutate(seed=4, org_edits=3, org_deletes=2, new_orgs=1, **QUIET)
    hub.reset_requests()
    stats = hub.pull()
    calls = stats.by_endpoint()
    assert calls["GET /api/v2/organizations"] == 1 and calls["GET /api/v1/recents"] == 1
    assert_warehouse_equals_sandbox(hub)
    landed = accounts(hub)
    for org_id in changes["changed_org_ids"] + changes["new_org_ids"]:
        truth = _org(hub, org_id).json()["data"]  # the labels as any client reads them
        custom = truth["custom_fields"]
        segment = custom[store.field_by_name("Segment", "organization")["key"]]["label"]
        size = custom[store.field_by_name("Employees", "organization")["key"]]
        row = landed[str(org_id)]
        assert row["custom_fields"] == {"segment": segment, "employees": size}
        assert (row["name"], row["website"], row["is_deleted"]) == (
            truth["name"],
            truth["website"],
            False,
        )
    for org_id in changes["deleted_org_ids"]:
        assert _org(hub, org_id).status_code == 404  # gone from v2 ...
        assert landed[str(org_id)]["is_deleted"] is True  # ... but known deleted here
        assert landed[str(org_id)]["name"]  # with its last values
    deleted = hub.sql("SELECT count(*) FROM accounts WHERE is_deleted")[0][0]
    assert deleted == len(changes["deleted_org_ids"]) == 2


def test_a_deal_moved_to_another_organisation_keeps_one_link(hub: Hub) -> None:
    hub.pull()
    changes = hub.mutate(seed=5, **{**QUIET, "association_changes": 3})
    hub.pull()
    assert_warehouse_equals_sandbox(hub)  # deal_accounts compared exactly
    store = hub.sandbox.store
    orphan = store.deals[changes["changed_deal_ids"][0]]
    store.set_value(orphan, "org_id", None, hub.sandbox.now().replace(microsecond=0), 1, "app")
    hub.pull()
    key = f"{SOURCE}:{orphan['id']}"
    assert hub.sql(f"SELECT account_key FROM deals WHERE deal_key = '{key}'") == [(None,)]
    assert hub.sql(f"SELECT count(*) FROM deal_accounts WHERE deal_key = '{key}'") == [(0,)]
    assert_warehouse_equals_sandbox(hub)


def test_a_bad_custom_value_is_quarantined_and_the_record_kept(hub: Hub) -> None:
    hub.pull()
    store, now = hub.sandbox.store, hub.sandbox.now().replace(microsecond=0)
    employees = store.field_by_name("Employees", "organization")["key"]
    segment = store.field_by_name("Segment", "organization")["key"]
    lead = store.field_by_name("Lead source")["key"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    org_a, org_b = sorted(store.live_org_ids())[:2]
    store.organizations[org_a]["custom_fields"][employees] = "about fifty"
    store.organizations[org_b]["custom_fields"][segment] = 99_999  # an option since deleted
    for org_id in (org_a, org_b):
        store.organizations[org_id]["update_time"] = stamp
    deal = next(d for d in store.deals.values() if not d["is_deleted"] and not d["is_archived"])
    deal["custom_fields"][lead] = "Inbound"  # a label where Pipedrive keeps an option id
    deal["update_time"] = stamp
    hub.reset_requests()
    stats = hub.pull()
    # the unknown option made the connector read the definitions again, once
    assert stats.by_endpoint().get("GET /api/v1/organizationFields") == 1
    bad = quarantined(hub)
    got = {(q["entity"], q["record_id"], q["column_name"], q["value"]) for q in bad}
    assert got == {
        ("accounts", str(org_a), "Employees", "about fifty"),
        ("accounts", str(org_b), "Segment", "99999"),
        ("deals", str(deal["id"]), "Lead source", "Inbound"),
    }
    assert all("custom field key" in q["reason"] for q in bad), bad
    landed = accounts(hub)
    assert set(landed[str(org_a)]["custom_fields"]) == {"segment"}  # the rest still loaded
    assert set(landed[str(org_b)]["custom_fields"]) == {"employees"}
    assert landed[str(org_a)]["name"] == store.organizations[org_a]["name"]


def test_field_definitions_are_read_again_only_when_they_may_have_changed(hub: Hub) -> None:
    hub.pull()
    hub.reset_requests()
    assert not {"GET /api/v1/dealFields", "GET /api/v1/organizationFields"} & set(
        hub.pull().by_endpoint()
    )
    # a day later the kept definitions are stale: read again (and a rename shows)
    hub.sandbox.store.field_by_name("Lead source")["name"] = "Lead origin"
    later = hub.pull(days_later=1.1).by_endpoint()
    assert later["GET /api/v1/dealFields"] == later["GET /api/v1/organizationFields"] == 1
    labels = {r["label"] for r in hub.rows("field_definitions", ["label"])}
    assert "Lead origin" in labels
    # a new field with a value: read at once, the same run
    store = hub.sandbox.store
    response = requests.post(
        f"{hub.sandbox.base_url}/api/v2/dealFields",
        json={"field_name": "Renewal date", "field_type": "date"},
        headers={"x-api-token": hub.sandbox.api_token},
        timeout=30,
    )
    key = response.json()["data"]["field_code"]
    deal = next(d for d in store.deals.values() if not d["is_deleted"] and not d["is_archived"])
    deal["custom_fields"][key] = "2027-01-31"
    deal["update_time"] = hub.sandbox.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    hub.reset_requests()
    calls = hub.pull().by_endpoint()
    assert (
        calls.get("GET /api/v1/dealFields") == 1 and "GET /api/v1/organizationFields" not in calls
    )
    row = hub.sql(f"SELECT custom_fields FROM deals WHERE source_deal_id = '{deal['id']}'")
    assert json.loads(row[0][0])["renewal_date"] == "2027-01-31"
    assert ("renewal_date", "date") in {
        (r["column_name"], r["data_type"]) for r in hub.rows("field_definitions")
    }


def test_a_gap_longer_than_the_deletions_feed_reaches_is_reported(hub: Hub) -> None:
    hub.pull()
    stats = hub.pull(days_later=40)
    assert any("deleted between" in w for w in stats.warnings), stats.warnings


def test_accounts_can_be_left_out(hub: Hub) -> None:
    stats = hub.pull(include_organizations=False)
    calls = stats.by_endpoint()
    assert not {"GET /api/v2/organizations", "GET /api/v1/organizationFields"} & set(calls)
    assert hub.sql("SELECT count(*) FROM deal_accounts")[0][0] > 0  # links come from deals
    tables = {t for (t,) in hub.sql("SELECT table_name FROM information_schema.tables")}
    assert "accounts" not in tables or hub.sql("SELECT count(*) FROM accounts") == [(0,)]
