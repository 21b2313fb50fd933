"""Companies, deal-company associations and custom fields, pulled over real HTTP from
FakeHubspot and compared with the synthetic world they were seeded from (or, after
changes, with the sandbox's own state)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from connectors.synthetic.companies import account_view
from connectors.synthetic.world import Account
from connectors.values import field_column
from tests.harness import SandboxHub, mutate, reset_requests, sandbox_requests

QUIET = {  # mutate's deal and activity knobs off: only what a test names changes
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


def custom(row: dict[str, Any]) -> dict[str, Any]:
    value = row["custom_fields"]
    return json.loads(value) if isinstance(value, str) else (value or {})


def world_account(sandbox: Any, company_id: str) -> Account:
    account_id = sandbox.world_account_ids()[company_id]
    return sandbox.world.accounts[int(account_id.removeprefix("ACC"))]  # type: ignore[no-any-return]


def links_of(hub: SandboxHub) -> Counter[tuple[Any, ...]]:
    return Counter(
        (r["deal_key"], r["account_key"], r["is_primary"], r["label"])
        for r in hub.rows("deal_accounts")
    )


def expected_links(hub: SandboxHub) -> Counter[tuple[Any, ...]]:
    return Counter(
        (r["deal_key"], r["account_key"], r["is_primary"], r["label"])
        for r in hub.sandbox.expected_canonical(hub.name)["deal_accounts"]
    )


def deal_listings(sandbox: Any) -> list[str]:
    """The deal list requests (not the recycle bin's) in the sandbox's request log."""
    return [
        line
        for line in sandbox.request_log
        if line.split("?")[0] == "GET /crm/v3/objects/deals" and "archived=true" not in line
    ]


def test_accounts_land_as_the_world_holds_them(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(n_deals=120)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    world = sandbox.world
    accounts = {a["source_account_id"]: a for a in hub.rows("accounts")}
    ids = sandbox.world_account_ids()
    assert set(accounts) == set(ids)
    assert sorted(ids.values()) == sorted(a.account_id for a in world.source_accounts(0, 1))
    email_of = {o["source_owner_id"]: o["email"] for o in hub.rows("owners")}
    with_website = 0
    for company_id, row in accounts.items():
        account = world_account(sandbox, company_id)
        view = account_view(account, 0, world.spec.seed)
        with_website += view.website is not None
        assert (row["name"], row["website"]) == (view.name, view.website)
        assert row["domain"] == (account.domain if view.website else None)
        assert (row["industry"], row["country"]) == (account.industry, account.country)
        assert email_of[row["owner_id"]] == world.rep_by_id[account.owner].email
        assert (row["created_at"], row["updated_at"]) == (account.created_at, account.updated_at)
        fields = custom(row)
        assert (fields["employees"], fields["segment"]) == (account.employees, account.segment)
        assert fields["key_account"] is (account.index % 5 == 0)
        assert len(fields["renewal_date"]) == 10 and not row["is_deleted"]
    assert 0 < with_website < len(accounts)  # some sources leave the website empty

    definitions = {
        (d["entity"], d["column_name"]): (d["source_field"], d["data_type"], d["field_key"])
        for d in hub.rows("field_definitions")
    }
    assert {k: v[:2] for k, v in definitions.items()} == {
        ("deal", "region"): ("region", "enum"),
        ("deal", "lead_source"): ("lead_source", "enum"),
        ("deal", "legacy_id"): ("legacy_id", "text"),
        ("account", "employees"): ("numberofemployees", "number"),
        ("account", "segment"): ("segment", "enum"),
        ("account", "key_account"): ("key_account", "bool"),
        ("account", "renewal_date"): ("renewal_date", "date"),
    }
    assert definitions[("account", "employees")][2] == f"{hub.name}:account:employees"


def test_deals_point_at_their_world_company_and_keep_every_association(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=120)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    deals = {d["source_deal_id"]: d for d in hub.rows("deals")}
    company_world = sandbox.world_account_ids()
    for deal_id, world_id in sandbox.world_deal_ids().items():
        world_deal = sandbox.world.deal(int(world_id.removeprefix("D")))
        row = deals[deal_id]
        company_id = row["account_key"].split(":", 1)[1]
        assert row["account_id"] == company_id
        assert company_world[company_id] == world_deal.account.account_id
        assert custom(row)["lead_source"] == world_deal.lead_source  # the label, not "inbound"

    links = hub.rows("deal_accounts")
    by_deal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        by_deal[link["deal_key"]].append(link)
    for deal in deals.values():
        primary = [r["account_key"] for r in by_deal[deal["deal_key"]] if r["is_primary"]]
        assert primary == [deal["account_key"]]
    several = [d for d, rows in by_deal.items() if len(rows) > 1]
    assert len(several) >= 10
    assert {r["label"] for r in links} == {None, "Reseller"}
    assert links_of(hub) == expected_links(hub)
    account_keys = {a["account_key"] for a in hub.rows("accounts")}
    assert {r["account_key"] for r in links} <= account_keys


def test_company_changes_deletes_and_new_companies_arrive_incrementally(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=120)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    changes = mutate(sandbox, seed=5, company_edits=4, company_deletes=2, new_companies=2, **QUIET)
    sandbox.request_log.clear()
    hub.pull(days_later=0.01)
    company_calls = [line.split("?")[0] for line in sandbox.request_log if "companies" in line]
    assert sorted(company_calls) == [
        "GET /crm/v3/objects/companies",  # the recycle bin
        "GET /crm/v3/properties/companies",
        "POST /crm/v3/objects/companies/search",
    ]

    rows = {a["source_account_id"]: a for a in hub.rows("accounts")}
    companies = sandbox.objects["companies"]
    assert set(rows) == set(companies)
    for company_id in changes["changed_company_ids"]:
        props = companies[company_id].props
        if companies[company_id].archived:
            continue
        fields = custom(rows[company_id])
        assert fields["employees"] == int(props["numberofemployees"])
        assert fields["segment"] == {"enterprise": "Enterprise", "mid_market": "Mid-Market",
                                     "smb": "SMB"}[props["segment"]]  # fmt: skip
    assert all(rows[c]["is_deleted"] for c in changes["deleted_company_ids"])
    for company_id in changes["new_company_ids"]:
        assert rows[company_id]["domain"] == companies[company_id].props["domain"]
        assert rows[company_id]["name"].startswith("New Company")
    want = {a["account_key"]: a for a in sandbox.expected_canonical(hub.name)["accounts"]}
    got = {a["account_key"]: {k: a[k] for k in next(iter(want.values()))} for a in rows.values()}
    assert got == want

    before = hub.sql("SELECT * EXCLUDE (_dlt_load_id, _dlt_id) FROM accounts ORDER BY account_key")
    hub.pull(days_later=0.01)  # nothing changed (what the lookback re-reads merges away)
    assert (
        hub.sql("SELECT * EXCLUDE (_dlt_load_id, _dlt_id) FROM accounts ORDER BY account_key")
        == before
    )


def test_a_bad_custom_value_is_quarantined_and_the_company_still_lands(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=60)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    changes = mutate(sandbox, seed=3, bad_company_values=2, **QUIET)
    hub.pull(days_later=0.01)
    bad_ids = set(changes["changed_company_ids"])
    rows = {a["source_account_id"]: a for a in hub.rows("accounts")}
    for company_id in bad_ids:
        fields = custom(rows[company_id])
        assert "employees" not in fields and fields["segment"]  # the rest of it is there
    quarantined = hub.rows("quarantine")
    assert {(q["record_id"], q["column_name"], q["value"]) for q in quarantined} == {
        (c, "numberofemployees", "a few hundred") for c in bad_ids
    }
    assert all(q["entity"] == "accounts" and "not a number" in q["reason"] for q in quarantined)


def test_association_changes_reach_deals_at_the_sweep(make_sandbox: Any, tmp_path: Path) -> None:
    """HubSpot moves no hs_lastmodifieddate when a deal's companies change: the deals are
    relisted with their companies every association_sweep_minutes (a day by default)."""
    sandbox = make_sandbox(n_deals=120)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    before = {d["source_deal_id"]: d["account_key"] for d in hub.rows("deals")}
    changes = mutate(sandbox, seed=7, company_reassignments=4, company_unlinks=2, **QUIET)
    moved = changes["reassigned_deal_ids"] + changes["unlinked_deal_ids"]
    assert len(moved) == 6
    hub.pull(days_later=0.01)  # no sweep yet: nothing moved the deals' modification time
    assert {d["source_deal_id"]: d["account_key"] for d in hub.rows("deals")} == before

    sandbox.request_log.clear()
    hub.pull(days_later=1.01)  # the sweep is due
    deals = {d["deal_key"]: d for d in hub.rows("deals")}
    for want in sandbox.expected_canonical(hub.name)["deals"]:
        assert deals[want["deal_key"]]["account_key"] == want["account_key"]
    for deal_id in changes["unlinked_deal_ids"]:
        assert deals[f"{hub.name}:{deal_id}"]["account_key"] is None
    assert links_of(hub) == expected_links(hub)  # replaced per deal, none left for unlinked
    lines = [line.split("?")[0] for line in sandbox.request_log]
    assert len(deal_listings(sandbox)) == 2  # 120 deals, 100 a page, without history
    assert lines.count("POST /crm/v4/associations/deals/companies/batch/read") == 1

    sandbox.request_log.clear()
    hub.pull(days_later=0.01)  # the next sweep is a day away
    assert deal_listings(sandbox) == []


def test_every_custom_property_is_taken_and_a_long_list_is_split(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=150)
    mutate(sandbox, seed=1, long_properties=160, deletes=3, company_deletes=2, new_deals=0)
    counts = sandbox.counts()
    assert counts["company_properties_past_url"] > 0 and counts["deal_properties_past_url"] > 0
    reset_requests(sandbox)
    hub = SandboxHub(sandbox, tmp_path)
    stats = hub.pull()
    served = sandbox_requests(sandbox)
    assert not [k for k in served if k.endswith(" 414")], served
    assert served["POST /crm/v3/objects/companies/batch/read 200"] >= 2  # live and binned
    assert sum(served.values()) <= 1.1 * sandbox.page_minimum(counts), served
    assert stats.total == sum(served.values())

    last = sandbox.company_properties[-1]["name"]  # the 160th imported property
    column = field_column(last)
    for table, object_type, id_column in (
        ("accounts", "companies", "source_account_id"),
        ("deals", "deals", "source_deal_id"),
    ):
        rows = hub.rows(table)
        assert len(rows) == len(sandbox.objects[object_type])
        for row in rows:
            assert custom(row)[column] == f"value 159 of {row[id_column]}"
    assert hub.sql("SELECT count(*) FROM field_definitions")[0][0] == 7 + 2 * 160

    mutate(sandbox, seed=2, company_edits=3, **{**QUIET, "stage_moves": 2})
    reset_requests(sandbox)
    hub.pull(days_later=0.01)  # searches carry their properties in the body
    assert not [k for k in sandbox_requests(sandbox) if k.endswith(" 414")]
    assert all(custom(a)[column] for a in hub.rows("accounts"))


def test_migrated_copies_carry_their_legacy_id(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(n_deals=80, n_sources=2, source_index=1, duplicate_share=0.3)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    deals = {d["source_deal_id"]: custom(d) for d in hub.rows("deals")}
    copies = {n: w for n, w in sandbox.world_deal_ids().items() if w.startswith("M")}
    assert len(copies) >= 5
    for native, world_id in sandbox.world_deal_ids().items():
        want = f"D{world_id[1:]}" if world_id.startswith("M") else None
        assert (deals[native] or {}).get("legacy_id") == want
