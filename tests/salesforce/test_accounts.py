"""Issue #15: Salesforce Accounts, each deal's account, and custom fields typed from describe,
pulled over real HTTP from FakeSalesforce and checked against the synthetic world the org was
seeded from (not against the connector's own helpers)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.salesforce.sandbox import FakeSalesforce
from connectors.salesforce.sandbox.store import PICKLISTS
from connectors.synthetic.companies import account_view
from hub.pull import run_pull
from tests.harness import SandboxHub
from tests.salesforce.test_sync import ROUND, api_requests

QUIET = {k: 0 for k in ROUND} | {"account_edits": 0}
# Salesforce describe type -> the data type a FieldDefinition must say (written out here,
# not imported, so a wrong mapping in the connector fails this test).
EXPECTED_TYPES = {
    "string": "text",
    "textarea": "text",
    "url": "text",
    "email": "text",
    "phone": "text",
    "multipicklist": "text",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "int": "number",
    "date": "date",
    "datetime": "datetime",
    "boolean": "bool",
    "picklist": "enum",
}


@pytest.fixture
def migrated(sandboxes: Callable[..., Any]) -> FakeSalesforce:
    """The second of two sources, holding migrated copies of the first one's deals."""
    return sandboxes(  # type: ignore[no-any-return]
        "salesforce", seed=42, n_deals=120, source_index=1, n_sources=2, duplicate_share=0.3
    )


def loaded(hub: SandboxHub, table: str) -> dict[str, dict[str, Any]]:
    """A table's rows by their native id, custom_fields parsed."""
    key = {"accounts": "source_account_id", "deals": "source_deal_id"}[table]
    rows = hub.rows(table)
    for row in rows:
        row["custom_fields"] = json.loads(row["custom_fields"] or "null")
    return {row[key]: row for row in rows}


def test_accounts_land_typed_and_deals_link_to_them(migrated: FakeSalesforce, tmp_path) -> None:
    hub = SandboxHub(migrated, tmp_path, "sf_b")
    hub.pull()
    world = migrated.org.world
    accounts = loaded(hub, "accounts")
    truth = {
        acc_id: world.accounts[int(w[3:])] for acc_id, w in migrated.world_account_ids().items()
    }
    assert set(accounts) == set(truth)
    assert {a.account_id for a in truth.values()} == {
        a.account_id for a in world.source_accounts(1, 2)
    }
    users = migrated.org.rep_users
    with_site = 0
    for acc_id, company in truth.items():
        row, view = accounts[acc_id], account_view(company, 1, 42)
        assert row["name"] == view.name and row["website"] == view.website
        # the domain is the company's, whichever way this source wrote its website
        assert row["domain"] == (company.domain if view.website else None), view.website
        with_site += view.website is not None
        assert (row["industry"], row["country"]) == (company.industry, company.country)
        assert row["owner_id"] == users[company.owner]
        assert row["created_at"] == company.created_at.replace(microsecond=0)
        assert row["custom_fields"] == {"employees": company.employees, "segment": company.segment}
        assert row["account_key"] == f"sf_b:{acc_id}" and not row["is_deleted"]
    assert with_site > len(truth) // 2
    assert {r["custom_fields"]["segment"] for r in accounts.values()} == {
        "Enterprise",
        "Mid-Market",  # the picklist's label: the API value is Mid_Market
        "SMB",
    }

    deals = loaded(hub, "deals")
    world_deal = migrated.world_deal_ids()
    copies = 0
    for opp_id, row in deals.items():
        seeded = world_deal[opp_id]
        original = world.deal(int(seeded[1:]))
        assert migrated.world_account_ids()[row["account_id"]] == original.account.account_id
        assert row["account_key"] == f"sf_b:{row['account_id']}"
        expected = {"lead_source": original.lead_source}
        if seeded.startswith("M"):  # a migrated copy names the deal it copies
            expected["legacy_id"] = original.deal_id
            copies += 1
        assert row["custom_fields"] == expected, opp_id
    assert copies > 5
    links = hub.rows("deal_accounts")
    assert {(r["deal_key"], r["account_key"]) for r in links} == {
        (r["deal_key"], r["account_key"]) for r in deals.values()
    }
    assert all(r["is_primary"] and r["label"] is None for r in links)
    definitions = {
        (r["entity"], r["column_name"], r["source_field"], r["data_type"], r["field_key"])
        for r in hub.rows("field_definitions")
    }
    assert definitions == {
        ("deal", "lead_source", "LeadSource", "enum", "sf_b:deal:lead_source"),
        ("deal", "legacy_id", "Legacy_Id__c", "text", "sf_b:deal:legacy_id"),
        ("account", "employees", "NumberOfEmployees", "number", "sf_b:account:employees"),
        ("account", "segment", "Segment__c", "enum", "sf_b:account:segment"),
    }


def expected_accounts(hub: SandboxHub) -> set[tuple[Any, ...]]:
    return {
        (
            a["account_key"],
            a["name"],
            a["website"],
            a["industry"],
            a["is_deleted"],
            a["segment"],
            a["employees"],
        )
        for a in hub.sandbox.expected_canonical(hub.name)["accounts"]
    }


def loaded_accounts(hub: SandboxHub) -> set[tuple[Any, ...]]:
    return {
        (
            r["account_key"],
            r["name"],
            r["website"],
            r["industry"],
            r["is_deleted"],
            (r["custom_fields"] or {}).get("segment"),
            (r["custom_fields"] or {}).get("employees"),
        )
        for r in loaded(hub, "accounts").values()
    }


def test_account_edits_and_deletes_arrive_incrementally(harness: SandboxHub) -> None:
    harness.pull()
    assert loaded_accounts(harness) == expected_accounts(harness)
    changes = harness.mutate(seed=4, **{**QUIET, "account_edits": 6, "account_deletes": 2})
    assert len(changes["changed_account_ids"]) >= 4 and len(changes["deleted_account_ids"]) == 2
    harness.sandbox.query_log.clear()
    harness.pull()
    assert loaded_accounts(harness) == expected_accounts(harness)
    (account_query,) = [q for q in harness.sandbox.query_log if "FROM Account" in q]
    assert "SystemModstamp >= " in account_query  # incremental, not a re-read
    deleted = harness.sql("SELECT source_account_id FROM accounts WHERE is_deleted")
    assert {r[0] for r in deleted} == set(changes["deleted_account_ids"])
    # Salesforce deletes an account's opportunities with it: they arrive deleted too
    cascaded = set(changes["deleted_deal_ids"])
    assert cascaded
    rows = harness.sql("SELECT source_deal_id, is_deleted FROM deals WHERE is_deleted")
    assert cascaded <= {r[0] for r in rows}


def test_accounts_page_by_query_more(sandboxes: Callable[..., Any], tmp_path: Path) -> None:
    sandbox = sandboxes("salesforce", seed=7, n_deals=700, activities_per_deal=0.5)
    assert len(sandbox.org.tables["Account"]) > 200
    hub = SandboxHub(sandbox, tmp_path, "sf_paged", options={"page_size": 200})
    hub.pull()
    # every queryAll read follows nextRecordsUrl to its end, Account's included
    followed = len([q for q in sandbox.path_log if "/queryAll/01g" in q])
    tables = sandbox.org.tables
    read_all = ("Opportunity", "OpportunityHistory", "Task", "Event", "Account")
    assert followed == sum(math.ceil(len(tables[obj]) / 200) - 1 for obj in read_all)
    assert loaded_accounts(hub) == expected_accounts(hub)


def test_a_deal_moved_or_unlinked_keeps_only_its_current_account(harness: SandboxHub) -> None:
    """merge_key replaces a re-read deal's link; a cleared AccountId loses its link in the
    post-load step, which runs under ``hub pull`` (hub.pull.run_pull)."""
    harness.pull()
    changes = harness.mutate(seed=9, **{**QUIET, "account_moves": 4, "account_unlinks": 2})
    assert len(changes["changed_deal_ids"]) >= 4
    opps = harness.sandbox.org.tables["Opportunity"].values()
    unlinked_now = {o["Id"] for o in opps if not o["AccountId"]}
    assert unlinked_now
    (run,) = run_pull(harness.config())
    assert run.status == "ok", run.error
    links = {(r[0], r[1]) for r in harness.sql("SELECT deal_key, account_key FROM deal_accounts")}
    expected = {
        (d["deal_key"], d["account_key"])
        for d in harness.sandbox.expected_canonical(harness.name)["deal_accounts"]
    }
    assert links == expected
    unlinked = harness.sql("SELECT source_deal_id FROM deals WHERE account_key IS NULL")
    assert {r[0] for r in unlinked} == unlinked_now


def test_every_custom_field_comes_typed_from_describe(
    sandboxes: Callable[..., Any], tmp_path: Path
) -> None:
    sandbox = sandboxes("salesforce", seed=42, n_deals=60, extra_custom_fields=28)
    hub = SandboxHub(sandbox, tmp_path, "sf_wide")
    hub.pull()
    org = sandbox.org
    definitions = {(r["entity"], r["source_field"]): r for r in hub.rows("field_definitions")}
    for entity, obj in (("deal", "Opportunity"), ("account", "Account")):
        for name, ftype in org.extra:
            definition = definitions[(entity, name)]
            assert definition["data_type"] == EXPECTED_TYPES[ftype], name
            assert definition["column_name"] == name.removesuffix("__c").lower()
            assert definition["label"] == org.label(obj, name)
        records = org.tables[obj]
        table = "deals" if obj == "Opportunity" else "accounts"
        checked = 0
        for rec_id, row in loaded(hub, table).items():
            for name, ftype in org.extra:
                raw = records[rec_id][name]
                got = row["custom_fields"].get(name.removesuffix("__c").lower())
                assert got == typed(raw, ftype), (rec_id, name, raw, got)
                checked += raw is not None
        assert checked > 500


def typed(raw: Any, ftype: str) -> Any:
    """What custom_fields must hold for a sandbox value of ``ftype`` (written out here)."""
    labels = {"Option_A": "Option A", "Option_B": "Option B", "Option_C": "Option C"}
    if raw is None:
        return None
    if ftype == "picklist":
        return labels[raw]
    if ftype == "multipicklist":
        return ";".join(labels[v] for v in raw.split(";"))
    if ftype == "date":
        return raw.isoformat()
    if ftype == "datetime":
        return raw.astimezone(UTC).isoformat()
    return raw


def test_a_bad_custom_value_is_quarantined_and_its_account_still_loads(
    harness: SandboxHub,
) -> None:
    account = next(iter(harness.sandbox.org.tables["Account"].values()))
    account["NumberOfEmployees"] = "about fifty"  # what a broken integration might store
    harness.pull()
    rows = harness.sql(
        "SELECT entity, record_id, location, column_name, value, reason FROM quarantine"
    )
    assert rows == [
        ("accounts", account["Id"], "Account", "NumberOfEmployees", "about fifty", rows[0][5])
    ]
    assert "number" in rows[0][5]
    row = loaded(harness, "accounts")[account["Id"]]
    assert row["name"] == account["Name"]
    segments = dict(PICKLISTS[("Account", "Segment__c")])
    assert row["custom_fields"] == {"segment": segments[account["Segment__c"]]}
    assert harness.sql("SELECT count(*) FROM accounts")[0][0] == len(
        harness.sandbox.org.tables["Account"]
    )


@pytest.mark.parametrize("mode", ["always", "auto"])
def test_bulk_first_sync_reads_accounts_in_a_query_job(
    sandbox: FakeSalesforce, tmp_path: Path, mode: str
) -> None:
    hub = SandboxHub(
        sandbox,
        tmp_path,
        "sf_main",
        options={"bulk": mode, "bulk_threshold": 100, "bulk_page_records": 50},
    )
    hub.pull()
    jobs = [j["info"] for j in sandbox._jobs.values()]
    account_jobs = [j for j in jobs if j["object"] == "Account"]
    assert [j["operation"] for j in account_jobs] == ["queryAll"]  # deletes come too
    assert len(sandbox.org.tables["Account"]) > 100  # so auto chose Bulk over REST
    assert loaded_accounts(hub) == expected_accounts(hub)
    # incremental runs read by REST
    hub.mutate(seed=12, **{**QUIET, "account_edits": 3})
    hub.pull()
    assert len(sandbox._jobs) == len(jobs)
    assert loaded_accounts(hub) == expected_accounts(hub)


def test_describes_are_read_once_and_kept_across_runs(harness: SandboxHub) -> None:
    harness.pull()
    assert api_requests(harness.requests(), r"/describe ") == 2
    harness.reset_requests()
    harness.pull()  # no change: today's five requests plus the Account query
    stats = harness.requests()
    assert api_requests(stats) == 6, stats
    assert api_requests(stats, r"/describe ") == 0
    harness.reset_requests()
    harness.pull(days_later=1.5)  # older than describe_max_age_s: read again
    assert api_requests(harness.requests(), r"/describe ") == 2
    assert not any("read again" in w for w in harness.last_ctx.stats.warnings)


def test_a_field_added_in_the_org_is_filled_on_every_row(harness: SandboxHub) -> None:
    """A new custom field does not move SystemModstamp: once the describe shows it, the
    object is read in full, so rows that did not change get it too."""
    harness.pull()
    org = harness.sandbox.org
    regions = {
        acc_id: ("EMEA_North", "AMER")[i % 2] for i, acc_id in enumerate(org.tables["Account"])
    }
    org.add_field(
        "Account",
        "Sales_Region__c",
        "picklist",
        "Sales Region",
        regions,
        (("EMEA_North", "EMEA North"), ("AMER", "Americas")),
    )
    harness.pull()  # describe still cached: nothing new yet
    assert all(
        "sales_region" not in (r["custom_fields"] or {})
        for r in loaded(harness, "accounts").values()
    )
    harness.pull(days_later=1.5)
    accounts = loaded(harness, "accounts")
    labels = {"EMEA_North": "EMEA North", "AMER": "Americas"}
    assert {k: r["custom_fields"]["sales_region"] for k, r in accounts.items()} == {
        k: labels[v] for k, v in regions.items()
    }
    assert any("read again" in w for w in harness.last_ctx.stats.warnings)
    definition = harness.sql(
        "SELECT data_type, label FROM field_definitions WHERE source_field = 'Sales_Region__c'"
    )
    assert definition == [("enum", "Sales Region")]


def test_a_field_deleted_in_the_org_refreshes_the_cached_describe(harness: SandboxHub) -> None:
    harness.pull()
    harness.sandbox.org.remove_field("Opportunity", "Legacy_Id__c")
    harness.mutate(seed=3, **{**QUIET, "amount_edits": 2})
    harness.reset_requests()
    harness.pull()  # the cached describe still names Legacy_Id__c: INVALID_FIELD, refresh, retry
    stats = harness.requests()
    assert api_requests(stats, r"/sobjects/\{obj\}/describe ") == 1
    assert api_requests(stats, r"queryAll 400") == 1
    assert any("INVALID_FIELD" in w for w in harness.last_ctx.stats.warnings)
    amounts = dict(harness.sql("SELECT source_deal_id, amount FROM deals"))
    for opp_id, opp in harness.sandbox.org.tables["Opportunity"].items():
        assert float(amounts[opp_id]) == pytest.approx(opp["Amount"])


def test_a_listed_field_the_org_lacks_is_a_clear_error(harness: SandboxHub) -> None:
    harness.options = {"account_custom_fields": ["Segment__c", "Tier__c"]}
    with pytest.raises(Exception, match=r"account_custom_fields: Account has no field 'Tier__c'"):
        harness.pull()


def test_field_columns_rename_and_drop(harness: SandboxHub) -> None:
    harness.options = {
        "field_columns": {
            "Opportunity.LeadSource": None,
            "Opportunity.Legacy_Id__c": "crm_legacy_ref",
            "Account.Industry": "account_industry",
        }
    }
    harness.pull()
    columns = {
        (r["entity"], r["column_name"], r["source_field"])
        for r in harness.rows("field_definitions")
    }
    assert columns == {
        ("deal", "crm_legacy_ref", "Legacy_Id__c"),
        ("account", "employees", "NumberOfEmployees"),
        ("account", "account_industry", "Industry"),
        ("account", "segment", "Segment__c"),
    }


# ----- an org with hundreds of custom fields ------------------------------------------------
WIDE = 600  # custom fields on Account and on Opportunity, ~30-character API names


def assert_wide_values(hub: SandboxHub) -> None:
    org = hub.sandbox.org
    for obj, table in (("Opportunity", "deals"), ("Account", "accounts")):
        rows = loaded(hub, table)
        assert set(rows) == set(org.tables[obj])
        for rec_id, row in rows.items():
            for name, ftype in org.extra:
                got = row["custom_fields"].get(name.removesuffix("__c").lower())
                assert got == typed(org.tables[obj][rec_id][name], ftype), (rec_id, name)


def test_every_field_of_a_wide_org_is_read_under_the_real_uri_limit(
    sandboxes: Callable[..., Any], tmp_path: Path
) -> None:
    sandbox = sandboxes("salesforce", seed=42, n_deals=60, extra_custom_fields=WIDE)
    every = ", ".join(sandbox.org.schema["Account"])
    assert len(urlencode({"q": f"SELECT {every} FROM Account"})) > 16_384  # one URI cannot
    hub = SandboxHub(sandbox, tmp_path, "sf_wide")
    hub.pull()
    stats = hub.requests()
    assert not [k for k in stats if k.endswith((" 414", " 431"))], stats
    for obj in ("Opportunity", "Account"):
        parts = [q for q in sandbox.query_log if q.split(" FROM ")[1].startswith(f"{obj} ")]
        assert len(parts) >= 2, obj  # split into queries that each fit, joined on Id
    assert_wide_values(hub)
    # the limit bites: a client that believed URIs could be longer gets Salesforce's 414
    other = SandboxHub(sandbox, tmp_path / "too_long", "sf_too_long")
    with pytest.raises(Exception, match="414"):
        other.pull(max_uri_bytes=60_000)


def test_a_wide_first_sync_by_bulk_is_one_job_per_object(
    sandboxes: Callable[..., Any], tmp_path: Path
) -> None:
    """A Bulk query is a POST body: every field in one job, the row count asked by
    ``SELECT COUNT()`` because no single REST page could carry them all."""
    sandbox = sandboxes("salesforce", seed=42, n_deals=60, extra_custom_fields=WIDE)
    hub = SandboxHub(sandbox, tmp_path, "sf_wide", options={"bulk": "auto", "bulk_threshold": 10})
    hub.pull()
    for obj in ("Opportunity", "Account"):
        (job,) = [j for j in sandbox._jobs.values() if j["info"]["object"] == obj]
        assert {name for name, _ in sandbox.org.extra} <= set(job["query"].fields)
        assert f"SELECT COUNT() FROM {obj}" in sandbox.query_log
        assert not [
            q for q in sandbox.query_log if q.startswith("SELECT Id") and f"FROM {obj} " in q
        ]
    assert_wide_values(hub)


def test_an_object_the_integration_user_cannot_read_is_named(harness: SandboxHub) -> None:
    """Without Read on Account its describe answers 404 (the error names the object and the
    permission to grant) and ``Account.Name`` is a relationship SOQL does not understand:
    whichever the run meets first, the error says where to look."""
    harness.sandbox.org.schema.pop("Account")
    with pytest.raises(
        Exception, match=r"Read on Account|Didn't understand relationship 'Account'"
    ):
        harness.pull()
