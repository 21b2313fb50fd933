"""The sandbox answers in Salesforce's exact shapes: checked against the vendor's OpenAPI
document and the recorded restforce fixtures in ../shared/api-specs/salesforce/."""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from connectors.salesforce.sandbox import FakeSalesforce

SPECS = Path(__file__).resolve().parents[3] / "shared" / "api-specs" / "salesforce"
if not SPECS.exists():
    SPECS = Path("/work/shared/api-specs/salesforce")
REST_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
needs_specs = pytest.mark.skipif(
    not (SPECS / "salesforce.oas.json.gz").exists(),
    reason=f"Salesforce API specs not found at {SPECS}",
)


def _nullable(schema: Any) -> Any:
    """OAS 3.0 sObject schemas omit nullability; every Salesforce field may be null (a
    describe's ``filteredLookupInfo`` object too)."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


@pytest.fixture(scope="session")
def oas_schemas() -> dict[str, Any]:
    """Load the 19 MB document once; keep only the schemas these tests use."""
    if not (SPECS / "salesforce.oas.json.gz").exists():
        pytest.skip(f"Salesforce API specs not found at {SPECS}")
    with gzip.open(SPECS / "salesforce.oas.json.gz") as fh:
        doc = json.load(fh)
    wanted = (
        "OpportunitySObject",
        "OpportunityHistorySObject",
        "OpportunityStageSObject",
        "AccountSObject",
        "DescribeSObjectResult",
        "SaveResult",
        "ErrorInfo",
    )
    return {name: _nullable(copy.deepcopy(doc["components"]["schemas"][name])) for name in wanted}


@pytest.fixture(scope="module")
def org() -> Any:
    sb = FakeSalesforce(seed=42, n_deals=80, rate_limits=False)
    sb.start()
    token = requests.post(
        f"{sb.base_url}/services/oauth2/token",
        data={"grant_type": "refresh_token", **sb.credentials()},
        timeout=10,
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    yield sb, session
    sb.stop()


def query(org: Any, soql: str, resource: str = "query", **headers: str) -> requests.Response:
    sb, session = org
    return session.get(
        f"{sb.base_url}/services/data/v60.0/{resource}/",
        params={"q": soql},
        headers=headers,
        timeout=10,
    )


@needs_specs
@pytest.mark.parametrize(
    ("obj", "fields"),
    [
        (
            "Opportunity",
            "Id, Name, StageName, Amount, Probability, CloseDate, IsClosed, IsWon, OwnerId, AccountId, CreatedDate, SystemModstamp, IsDeleted, LastStageChangeDate",
        ),
        (
            "OpportunityHistory",
            "Id, OpportunityId, StageName, Amount, Probability, CloseDate, CreatedDate, CreatedById, IsDeleted",
        ),
        (
            "OpportunityStage",
            "Id, ApiName, MasterLabel, SortOrder, IsActive, IsClosed, IsWon, DefaultProbability, ForecastCategoryName",
        ),
        (
            "Account",
            "Id, Name, Website, Industry, BillingCountry, NumberOfEmployees, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp, IsDeleted",
        ),
    ],
)
def test_query_records_match_the_vendor_sobject_schema(
    org: Any, oas_schemas: dict[str, Any], obj: str, fields: str
) -> None:
    body = query(org, f"SELECT {fields} FROM {obj} LIMIT 50").json()
    assert set(body) == {"totalSize", "done", "records"}
    schema = oas_schemas[f"{obj}SObject"]
    for rec in body["records"]:
        jsonschema.validate(rec, schema)
        assert set(rec["attributes"]) == {"type", "url"} and rec["attributes"]["type"] == obj
        for name in ("CreatedDate", "SystemModstamp", "LastStageChangeDate"):
            if rec.get(name):
                assert REST_DATETIME.match(rec[name]), rec[name]


def test_pages_have_the_recorded_shape_and_follow_next_records_url(org: Any) -> None:
    first_fixture = json.loads(
        (SPECS / "recorded-restforce/query_paginated_first_page_response.json").read_text()
    )
    last_fixture = json.loads(
        (SPECS / "recorded-restforce/query_paginated_last_page_response.json").read_text()
    )
    first = query(
        org,
        "SELECT Id, StageName FROM OpportunityHistory ORDER BY Id",
        **{"Sforce-Query-Options": "batchSize=200"},
    ).json()
    assert set(first) == set(first_fixture) and len(first["records"]) == 200
    assert re.match(r"^/services/data/v60\.0/query/01g\w+-200$", first["nextRecordsUrl"])
    sb, session = org
    seen = len(first["records"])
    page = first
    while not page["done"]:
        page = session.get(sb.base_url + page["nextRecordsUrl"], timeout=10).json()
        seen += len(page["records"])
    assert set(page) == set(last_fixture)
    assert seen == first["totalSize"]


@needs_specs
def test_account_describe_matches_the_vendor_schema(org: Any, oas_schemas: dict[str, Any]) -> None:
    sb, session = org
    body = session.get(
        f"{sb.base_url}/services/data/v60.0/sobjects/Account/describe", timeout=10
    ).json()
    jsonschema.validate(body, oas_schemas["DescribeSObjectResult"])
    fields = {f["name"]: f for f in body["fields"]}
    # the vendor's sObject schema knows the standard fields the describe lists
    standard = {n for n, f in fields.items() if not f["custom"]}
    assert standard <= set(oas_schemas["AccountSObject"]["properties"])
    assert fields["Segment__c"]["custom"] and not fields["Industry"]["custom"]
    assert fields["Website"]["type"] == "url" and fields["NumberOfEmployees"]["type"] == "int"


def test_describe_matches_the_vendor_schema_and_the_recorded_describe(
    org: Any, oas_schemas: dict[str, Any]
) -> None:
    sb, session = org
    body = session.get(
        f"{sb.base_url}/services/data/v60.0/sobjects/Opportunity/describe", timeout=10
    ).json()
    jsonschema.validate(body, oas_schemas["DescribeSObjectResult"])
    recorded = json.loads(
        (SPECS / "recorded-restforce/sobject_describe_success_response.json").read_text()
    )
    assert set(recorded["fields"][0]) <= set(body["fields"][0])  # and newer keys (#16)
    stage = next(f for f in body["fields"] if f["name"] == "StageName")
    assert [v["value"] for v in stage["picklistValues"]][:2] == ["Prospecting", "Qualification"]
    score = next(f for f in body["fields"] if f["name"] == "Hub_Score__c")
    assert score["updateable"] and score["custom"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Opportunity GROUP BY StageName", "MALFORMED_QUERY"),
        ("SELECT COUNT(), Name FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE", "MALFORMED_QUERY"),
        ("SELECT Id, Foo__c FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Whizbang", "INVALID_TYPE"),
        (
            "SELECT Id FROM Opportunity WHERE SystemModstamp > '2024-01-01'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
    ],
    ids=[
        "group-by",
        "aggregate",
        "dangling-where",
        "unknown-field",
        "unknown-object",
        "quoted-datetime",
    ],
)
def test_unsupported_or_wrong_soql_gets_salesforces_error_body(
    org: Any, oas_schemas: dict[str, Any], soql: str, code: str
) -> None:
    response = query(org, soql)
    assert response.status_code == 400
    body = response.json()
    assert body[0]["errorCode"] == code
    for error in body:
        jsonschema.validate(error, oas_schemas["ErrorInfo"])
    recorded = json.loads((SPECS / "recorded-restforce/write_error_response.json").read_text())
    assert set(recorded[0]) <= set(body[0])


@pytest.mark.parametrize(
    ("where", "check"),
    [
        (
            "IsClosed = false AND (StageName = 'Prospecting' OR StageName = 'Qualification')",
            lambda r: not r["IsClosed"] and r["StageName"] in ("Prospecting", "Qualification"),
        ),
        ("StageName IN ('Closed Won', 'Closed Lost')", lambda r: r["IsClosed"]),
        ("StageName NOT IN ('Closed Won')", lambda r: r["StageName"] != "Closed Won"),
        (
            "CreatedDate < LAST_N_DAYS:30 AND CloseDate >= 2020-01-01",
            lambda r: r["CloseDate"] >= "2020-01-01",
        ),
        ("SystemModstamp >= 2026-01-01T00:00:00Z", lambda r: r["SystemModstamp"] >= "2026-01-01"),
    ],
    ids=["and-or", "in", "not-in", "date-literals", "datetime"],
)
def test_the_soql_subset_filters_like_salesforce(org: Any, where: str, check: Any) -> None:
    body = query(
        org,
        f"SELECT Id, StageName, IsClosed, CloseDate, SystemModstamp FROM Opportunity WHERE {where} ORDER BY CloseDate DESC LIMIT 20",
    ).json()
    assert body["records"] and all(check(r) for r in body["records"])
    dates = [r["CloseDate"] for r in body["records"]]
    assert dates == sorted(dates, reverse=True)


def test_every_authenticated_api_response_carries_sforce_limit_info(org: Any) -> None:
    ok = query(org, "SELECT Id FROM User")
    bad = query(org, "SELECT nonsense")
    unauth = requests.get(
        f"{org[0].base_url}/services/data/v60.0/query/",
        params={"q": "SELECT Id FROM User"},
        timeout=10,
    )
    for response in (ok, bad):
        assert re.match(r"^api-usage=\d+/\d+$", response.headers["Sforce-Limit-Info"])
    assert "Sforce-Limit-Info" not in unauth.headers  # #16: a 401 is nobody's usage
    assert unauth.status_code == 401 and unauth.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_query_all_returns_recycle_bin_rows_and_query_does_not(org: Any) -> None:
    sb, _ = org
    victim = sb.org.live_opportunities()[0]
    sb.org.delete_opportunity(victim, sb.now())
    soql = f"SELECT Id, IsDeleted FROM Opportunity WHERE Id = '{victim}'"
    assert query(org, soql).json()["records"] == []
    assert query(org, soql, "queryAll").json()["records"][0]["IsDeleted"] is True


def test_collection_results_are_save_results_in_request_order(
    org: Any, oas_schemas: dict[str, Any]
) -> None:
    sb, session = org
    ids = sb.org.live_opportunities()[:3]
    records = [{"attributes": {"type": "Opportunity"}, "id": i, "Hub_Score__c": 0.4} for i in ids]
    records[1]["Nope__c"] = 1
    body = session.patch(
        f"{sb.base_url}/services/data/v60.0/composite/sobjects",
        json={"allOrNone": False, "records": records},
        timeout=10,
    ).json()
    assert [r["success"] for r in body] == [True, False, True]
    assert body[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    for result in body:
        jsonschema.validate(result, oas_schemas["SaveResult"])
    too_many = session.patch(
        f"{sb.base_url}/services/data/v60.0/composite/sobjects",
        json={"records": records * 67},
        timeout=10,
    )
    assert too_many.status_code == 400


def test_a_stale_if_unmodified_since_gets_412(org: Any) -> None:
    sb, session = org
    rec_id = sb.org.live_opportunities()[1]
    url = f"{sb.base_url}/services/data/v60.0/sobjects/Opportunity/{rec_id}"
    stale = session.patch(
        url,
        json={"Hub_Score__c": 0.1},
        headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        timeout=10,
    )
    assert stale.status_code == 412
    fresh = session.patch(
        url,
        json={"Hub_Score__c": 0.1},
        headers={"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        timeout=10,
    )
    assert fresh.status_code == 204


def test_bulk_query_jobs_page_csv_by_sforce_locator(org: Any) -> None:
    sb, session = org
    base = f"{sb.base_url}/services/data/v60.0/jobs/query"
    job = session.post(
        base,
        json={
            "operation": "query",
            "query": "SELECT Id, Account.Name, SystemModstamp FROM Opportunity",
            "contentType": "CSV",
        },
        timeout=10,
    ).json()
    assert job["state"] == "UploadComplete"
    while session.get(f"{base}/{job['id']}", timeout=10).json()["state"] != "JobComplete":
        pass
    first = session.get(f"{base}/{job['id']}/results", params={"maxRecords": 20}, timeout=10)
    assert first.headers["Content-Type"].startswith("text/csv")
    assert first.text.splitlines()[0] == "Id,Account.Name,SystemModstamp"
    assert first.text.splitlines()[1].endswith("Z")
    assert (
        first.headers["Sforce-NumberOfRecords"] == "20"
        and first.headers["Sforce-Locator"] != "null"
    )
    rest = session.get(
        f"{base}/{job['id']}/results",
        params={"maxRecords": 1000, "locator": first.headers["Sforce-Locator"]},
        timeout=10,
    )
    assert rest.headers["Sforce-Locator"] == "null"
