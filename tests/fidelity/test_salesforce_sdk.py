"""Issue #16: simple-salesforce, a client nobody here wrote, drives FakeSalesforce through its
ordinary public calls and gets what the real API gives it.

simple-salesforce builds every URL with ``https://``; the sandbox serves plain HTTP on
127.0.0.1, so the client gets a ``requests.Session`` (its public ``session=`` argument) that
sends the same requests over ``http://``. Nothing else is adapted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import simple_salesforce.bulk2
from simple_salesforce import Salesforce

from connectors.salesforce.sandbox import FakeSalesforce

VERSION = "58.0"  # not the sandbox's default (60.0): URLs must follow the client's version
SMALL_PAGES = {"headers": {"Sforce-Query-Options": "batchSize=200"}}


class PlainHttpSession(requests.Session):
    """The client's requests, over http:// to the local sandbox."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().request(method, str(url).replace("https://", "http://", 1), *args, **kwargs)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bulk 2.0 polling sleeps between job polls; the sandbox's jobs need no waiting."""
    monkeypatch.setattr(simple_salesforce.bulk2, "sleep", lambda seconds: None)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(seed=42, n_deals=150, rate_limits=False) as sb:
        yield sb


@pytest.fixture(scope="module")
def sf(sandbox: FakeSalesforce) -> Salesforce:
    token = requests.post(
        f"{sandbox.base_url}/services/oauth2/token",
        data={"grant_type": "refresh_token", **sandbox.credentials()},
        timeout=10,
    ).json()
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        version=VERSION,
        session=PlainHttpSession(),
    )


def live(sandbox: FakeSalesforce, obj: str = "Opportunity") -> list[dict[str, Any]]:
    return [r for r in sandbox.org.tables[obj].values() if not r.get("IsDeleted")]


# ----- SOQL ------------------------------------------------------------------------------
def test_query_and_query_more_page_with_the_clients_version(
    sf: Salesforce, sandbox: FakeSalesforce
) -> None:
    first = sf.query("SELECT Id, StageName FROM OpportunityHistory", **SMALL_PAGES)
    assert first["done"] is False and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{VERSION}/query/")
    by_url = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, **SMALL_PAGES)
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    by_locator = sf.query_more(locator, **SMALL_PAGES)
    assert by_url["records"] == by_locator["records"]
    assert by_url["records"][0]["attributes"]["url"].startswith(f"/services/data/v{VERSION}/")


def test_query_all_and_query_all_iter_read_every_row_including_deleted(
    sf: Salesforce, sandbox: FakeSalesforce
) -> None:
    victim = sandbox.org.live_opportunities()[-1]
    sandbox.org.delete_opportunity(victim, sandbox.now())
    soql = "SELECT Id, IsDeleted FROM Opportunity"
    every = sf.query_all(soql, include_deleted=True, **SMALL_PAGES)
    assert every["done"] is True
    assert every["totalSize"] == len(every["records"]) == len(sandbox.org.tables["Opportunity"])
    assert {r["Id"] for r in every["records"] if r["IsDeleted"]} >= {victim}
    lazily = list(sf.query_all_iter(soql, **SMALL_PAGES))
    assert len(lazily) == len(live(sandbox)) and victim not in {r["Id"] for r in lazily}


def test_count_group_by_and_like_through_the_client(
    sf: Salesforce, sandbox: FakeSalesforce
) -> None:
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == len(live(sandbox))
    groups = sf.query_all("SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName")
    assert sum(r["n"] for r in groups["records"]) == len(live(sandbox))
    assert all(r["attributes"]["type"] == "AggregateResult" for r in groups["records"])
    names = sf.query("SELECT Name FROM Opportunity WHERE Name LIKE '%migration' LIMIT 5 OFFSET 1")
    assert names["records"] and all(r["Name"].endswith("migration") for r in names["records"])


# ----- metadata, limits, records ----------------------------------------------------------
def test_describe_sobject_and_global(sf: Salesforce) -> None:
    opp = sf.Opportunity.describe()
    assert opp["name"] == "Opportunity" and opp["keyPrefix"] == "006"
    stage = next(f for f in opp["fields"] if f["name"] == "StageName")
    assert stage["picklistValues"] and "compoundFieldName" in stage
    every = sf.describe()
    assert every is not None
    names = {s["name"] for s in every["sobjects"]}
    assert {"Opportunity", "OpportunityHistory", "User", "Task", "Event"} <= names
    assert every["sobjects"][0]["urls"]["describe"].startswith(f"/services/data/v{VERSION}/")


def test_limits_match_the_usage_the_client_parsed(sf: Salesforce, sandbox: FakeSalesforce) -> None:
    limits = sf.limits()
    usage = sf.api_usage["api-usage"]
    assert limits["DailyApiRequests"]["Max"] == usage.total == sandbox.daily_limit
    assert limits["DailyApiRequests"]["Remaining"] == usage.total - usage.used


def test_record_get(sf: Salesforce, sandbox: FakeSalesforce) -> None:
    opp = live(sandbox)[0]
    record = sf.Opportunity.get(opp["Id"])
    assert record["Id"] == opp["Id"] and record["Name"] == opp["Name"]
    assert (
        record["attributes"]["url"] == f"/services/data/v{VERSION}/sobjects/Opportunity/{opp['Id']}"
    )
    some = sf.Opportunity.get(opp["Id"], params={"fields": "Name,StageName"})
    assert set(some) == {"attributes", "Name", "StageName"}
    with pytest.raises(simple_salesforce.exceptions.SalesforceResourceNotFound):
        sf.Opportunity.get("0065g00000ZZZZZAAA")


# ----- writes ------------------------------------------------------------------------------
def test_composite_collection_update(sf: Salesforce, sandbox: FakeSalesforce) -> None:
    first, second = (o["Id"] for o in live(sandbox)[:2])
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Opportunity"}, "id": first, "Hub_Score__c": 0.75},
                {"attributes": {"type": "Opportunity"}, "id": second, "Nope__c": 1},
            ],
        },
    )
    assert results[0] == {"id": first, "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert sf.Opportunity.get(first)["Hub_Score__c"] == 0.75


# ----- Bulk API 2.0 --------------------------------------------------------------------------
def test_bulk2_query_pages_csv_by_locator(sf: Salesforce, sandbox: FakeSalesforce) -> None:
    pages = list(sf.bulk2.Opportunity.query("SELECT Id, Name FROM Opportunity", max_records=40))
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(pages) == -(-len(live(sandbox)) // 40)
    assert sorted(r["Id"] for r in rows) == sorted(o["Id"] for o in live(sandbox))


def test_bulk2_download_writes_one_file_per_page(
    sf: Salesforce, sandbox: FakeSalesforce, tmp_path: Path
) -> None:
    results = sf.bulk2.Opportunity.download(
        "SELECT Id FROM Opportunity", path=str(tmp_path), max_records=100
    )
    assert sum(r["number_of_records"] for r in results) == len(live(sandbox))
    assert all(Path(r["file"]).exists() for r in results)


def test_bulk2_job_abort_list_and_delete(sf: Salesforce) -> None:
    job = sf.restful(
        "jobs/query",
        method="POST",
        json={"operation": "query", "query": "SELECT Id FROM Opportunity"},
    )
    aborted = sf.restful(f"jobs/query/{job['id']}", method="PATCH", json={"state": "Aborted"})
    assert aborted["state"] == "Aborted"
    listing = sf.restful("jobs/query")
    assert job["id"] in {j["id"] for j in listing["records"]}
    assert sf.restful(f"jobs/query/{job['id']}", method="DELETE") is None  # 204
    assert job["id"] not in {j["id"] for j in sf.restful("jobs/query")["records"]}


def test_bulk2_client_delete_job_expects_a_body_the_api_does_not_send(sf: Salesforce) -> None:
    """simple-salesforce 1.12's ``delete_job`` parses JSON from the 204 that Salesforce
    documents ("no response body"): the library is wrong, the job is deleted all the same."""
    client = sf.bulk2.Opportunity._client
    job = client.create_job("query", "SELECT Id FROM Opportunity")
    client.abort_job(job["id"], True)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        client.delete_job(job["id"], True)
    assert job["id"] not in {j["id"] for j in sf.restful("jobs/query")["records"]}


# ----- accounts and custom fields (issue #15) -------------------------------------------------
def test_account_query_follows_the_owner_relationship(
    sf: Salesforce, sandbox: FakeSalesforce
) -> None:
    soql = (
        "SELECT Id, Name, Website, Industry, BillingCountry, NumberOfEmployees, Segment__c, "
        "Owner.Name FROM Account WHERE IsDeleted = false ORDER BY Name"
    )
    result = sf.query_all(soql, **SMALL_PAGES)
    accounts = live(sandbox, "Account")
    assert result["totalSize"] == len(result["records"]) == len(accounts)
    names = [r["Name"] for r in result["records"]]
    assert names == sorted(names, key=str.casefold)  # Salesforce sorts text ignoring case
    record = result["records"][0]
    stored = sandbox.org.tables["Account"][record["Id"]]
    assert (
        record["attributes"]["url"] == f"/services/data/v{VERSION}/sobjects/Account/{record['Id']}"
    )
    assert record["Owner"]["attributes"]["type"] == "User"
    assert record["Owner"]["Name"] == sandbox.org.tables["User"][stored["OwnerId"]]["Name"]
    assert isinstance(record["NumberOfEmployees"], int)
    assert record["Segment__c"] in {"Enterprise", "Mid_Market", "SMB"}  # API values, not labels
    custom = sf.query("SELECT FIELDS(CUSTOM) FROM Account LIMIT 5")["records"]
    assert set(custom[0]) == {"attributes", "Segment__c"}
    assert sf.Account.get(record["Id"])["Website"] == stored["Website"]


def test_account_and_opportunity_describes_type_every_field(sf: Salesforce) -> None:
    account = sf.Account.describe()
    assert account["keyPrefix"] == "001" and account["name"] == "Account"
    fields = {f["name"]: f for f in account["fields"]}
    expected = {
        "Website": ("url", "xsd:string", False),
        "Industry": ("picklist", "xsd:string", False),
        "BillingCountry": ("string", "xsd:string", False),
        "NumberOfEmployees": ("int", "xsd:int", False),
        "OwnerId": ("reference", "tns:ID", False),
        "SystemModstamp": ("datetime", "xsd:dateTime", False),
        "Segment__c": ("picklist", "xsd:string", True),
    }
    for name, (ftype, soap, custom) in expected.items():
        assert (fields[name]["type"], fields[name]["soapType"], fields[name]["custom"]) == (
            ftype,
            soap,
            custom,
        ), name
    segment = {(p["value"], p["label"]) for p in fields["Segment__c"]["picklistValues"]}
    assert segment == {("Enterprise", "Enterprise"), ("Mid_Market", "Mid-Market"), ("SMB", "SMB")}
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["NumberOfEmployees"]["label"] == "Employees"
    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert (
        opportunity["LeadSource"]["type"] == "picklist" and not opportunity["LeadSource"]["custom"]
    )
    assert {p["value"] for p in opportunity["LeadSource"]["picklistValues"]} == {
        "Inbound",
        "Outbound",
        "Referral",
        "Partner",
        "Event",
    }
    assert opportunity["Legacy_Id__c"]["type"] == "string" and opportunity["Legacy_Id__c"]["custom"]


def test_bulk2_account_query_reads_every_live_account(
    sf: Salesforce, sandbox: FakeSalesforce
) -> None:
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, Segment__c FROM Account", max_records=50))
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert sorted(r["Id"] for r in rows) == sorted(a["Id"] for a in live(sandbox, "Account"))
    assert len(pages) == -(-len(rows) // 50)


def test_a_query_past_the_uri_limit_gets_salesforces_414(sf: Salesforce) -> None:
    soql = "SELECT " + ", ".join(["Name"] * 2500) + " FROM Account"
    with pytest.raises(simple_salesforce.exceptions.SalesforceGeneralError) as refused:
        sf.query(soql)
    assert refused.value.status == 414
    assert "URI Too Long" in str(refused.value.content)


def test_a_bulk_query_past_100000_characters_is_malformed(sf: Salesforce) -> None:
    """The POST body escapes the URI limit, not SOQL's own limit on statement length."""
    soql = "SELECT " + ", ".join(["Name"] * 17_000) + " FROM Account"
    assert len(soql) > 100_000
    with pytest.raises(simple_salesforce.exceptions.SalesforceMalformedRequest) as refused:
        sf.restful("jobs/query", method="POST", json={"operation": "query", "query": soql})
    assert refused.value.content[0]["errorCode"] == "MALFORMED_QUERY"
