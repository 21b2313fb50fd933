"""Issue #16: the Salesforce sandbox answers what the real API answers to any client, not only
to the requests our connector sends (versions, global describe, limits, record GET, the
SOQL our connector never writes, Bulk 2.0 job management), and never a traceback."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.salesforce.sandbox import FakeSalesforce
from connectors.salesforce.sandbox.store import SCHEMA

SPECS = Path("/work/shared/api-specs/salesforce")
Org = tuple[FakeSalesforce, requests.Session]


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    with FakeSalesforce(seed=42, n_deals=120, rate_limits=False) as sb:
        token = requests.post(
            f"{sb.base_url}/services/oauth2/token",
            data={"grant_type": "refresh_token", **sb.credentials()},
            timeout=10,
        ).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        yield sb, session


def get(org: Org, path: str, **params: str) -> requests.Response:
    sb, session = org
    return session.get(f"{sb.base_url}{path}", params=params, timeout=10)


def soql(org: Org, text: str, version: str = "60.0") -> requests.Response:
    return get(org, f"/services/data/v{version}/query/", q=text)


def live_opportunities(org: Org) -> list[dict[str, Any]]:
    sb, _ = org
    return [o for o in sb.org.tables["Opportunity"].values() if not o["IsDeleted"]]


def error_code(response: requests.Response) -> str:
    body = response.json()
    assert isinstance(body, list) and set(body[0]) >= {"message", "errorCode"}
    return str(body[0]["errorCode"])


# ----- resources -------------------------------------------------------------------------
def test_versions_list_answers_without_a_session(org: Org) -> None:
    sb, _ = org
    response = requests.get(f"{sb.base_url}/services/data/", timeout=10)
    assert response.status_code == 200
    versions = response.json()
    assert versions[-1] == {
        "label": "Spring '24",
        "url": "/services/data/v60.0",
        "version": "60.0",
    }
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions


def test_global_describe_lists_every_sobject_with_its_urls(org: Org) -> None:
    response = get(org, "/services/data/v59.0/sobjects/")
    assert response.status_code == 200
    body = response.json()
    assert body["encoding"] == "UTF-8" and body["maxBatchSize"] == 200
    by_name = {s["name"]: s for s in body["sobjects"]}
    assert {"Opportunity", "OpportunityHistory", "User", "Task", "Event"} <= set(by_name)
    opp = by_name["Opportunity"]
    assert opp["keyPrefix"] == "006" and opp["queryable"] and opp["updateable"]
    assert opp["urls"]["describe"] == "/services/data/v59.0/sobjects/Opportunity/describe"
    assert opp["urls"]["rowTemplate"] == "/services/data/v59.0/sobjects/Opportunity/{ID}"


def test_limits_agree_with_the_usage_counter_and_sforce_limit_info(org: Org) -> None:
    sb, _ = org
    response = get(org, "/services/data/v60.0/limits/")
    assert response.status_code == 200
    daily = response.json()["DailyApiRequests"]
    used, top = map(int, re.findall(r"\d+", response.headers["Sforce-Limit-Info"]))
    assert daily == {"Max": top, "Remaining": top - used}
    assert used == sb.api_usage and top == sb.daily_limit
    assert {"DailyBulkV2QueryJobs", "DailyBulkV2QueryFileStorageMB"} <= set(response.json())


def test_record_get_with_and_without_fields(org: Org) -> None:
    opp = live_opportunities(org)[0]
    path = f"/services/data/v58.0/sobjects/Opportunity/{opp['Id']}"
    some = get(org, path, fields="Name,Amount")
    assert some.status_code == 200
    assert some.json() == {
        "attributes": {"type": "Opportunity", "url": path},
        "Name": opp["Name"],
        "Amount": opp["Amount"],
    }
    every = get(org, path).json()
    assert set(every) - {"attributes"} == set(SCHEMA["Opportunity"])
    assert get(org, path, fields="Nope__c").status_code == 400
    missing = get(org, "/services/data/v58.0/sobjects/Opportunity/0065g00000ZZZZZAAA")
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"


def oas_field_keys() -> set[str]:
    with gzip.open(SPECS / "salesforce.oas.json.gz") as fh:
        doc = json.load(fh)
    fields = doc["components"]["schemas"]["DescribeSObjectResult"]["properties"]["fields"]
    return set(fields["items"]["properties"]) | {"defaultValue"}


@pytest.mark.skipif(not SPECS.exists(), reason="Salesforce API specs not found")
def test_describe_fields_carry_the_standard_keys(org: Org) -> None:
    body = get(org, "/services/data/v60.0/sobjects/Opportunity/describe").json()
    recorded = json.loads(
        (SPECS / "recorded-restforce/sobject_describe_success_response.json").read_text()
    )
    oas = oas_field_keys()
    for field in body["fields"]:
        assert set(recorded["fields"][0]) <= set(field) <= oas, field["name"]
        assert "compoundFieldName" in field
    by_name = {f["name"]: f for f in body["fields"]}
    assert by_name["AccountId"]["referenceTo"] == ["Account"]
    assert by_name["AccountId"]["relationshipName"] == "Account"
    assert by_name["Id"]["soapType"] == "tns:ID" and by_name["Id"]["idLookup"]
    assert by_name["CloseDate"]["soapType"] == "xsd:date"
    assert set(recorded) <= set(body)


# ----- query paging --------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["52.0", "60.0"])
def test_next_records_url_and_record_urls_echo_the_requested_version(
    org: Org, version: str
) -> None:
    sb, session = org
    first = session.get(
        f"{sb.base_url}/services/data/v{version}/queryAll/",
        params={"q": "SELECT Id FROM OpportunityHistory"},
        headers={"Sforce-Query-Options": "batchSize=200"},
        timeout=10,
    ).json()
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{version}/queryAll/")
    assert first["records"][0]["attributes"]["url"].startswith(f"/services/data/v{version}/")
    more = session.get(f"{sb.base_url}{first['nextRecordsUrl']}", timeout=10).json()
    assert more["records"][0]["attributes"]["url"].startswith(f"/services/data/v{version}/")


# ----- SOQL ----------------------------------------------------------------------------------
def test_count_answers_total_size_only(org: Org) -> None:
    body = soql(org, "SELECT COUNT() FROM Opportunity WHERE IsClosed = false").json()
    expected = sum(not o["IsClosed"] for o in live_opportunities(org))
    assert body == {"totalSize": expected, "done": True, "records": []}


def test_group_by_answers_aggregate_results(org: Org) -> None:
    body = soql(
        org,
        "SELECT StageName, COUNT(Id), SUM(Amount) total, MAX(CloseDate) FROM Opportunity "
        "GROUP BY StageName ORDER BY StageName",
    ).json()
    rows = live_opportunities(org)
    counts = Counter(o["StageName"] for o in rows)
    assert [r["StageName"] for r in body["records"]] == sorted(counts)
    assert body["totalSize"] == len(counts) and body["done"] is True
    for record in body["records"]:
        stage = record["StageName"]
        assert record["attributes"] == {"type": "AggregateResult"}
        assert record["expr0"] == counts[stage]
        mine = [o for o in rows if o["StageName"] == stage]
        assert record["total"] == pytest.approx(sum(o["Amount"] for o in mine))
        assert record["expr1"] == max(o["CloseDate"] for o in mine).isoformat()


def test_aggregate_without_group_by_is_one_row_and_ungrouped_fields_are_refused(
    org: Org,
) -> None:
    body = soql(org, "SELECT COUNT(Id), AVG(Amount) FROM Opportunity").json()
    assert body["records"][0]["expr0"] == len(live_opportunities(org))
    refused = soql(org, "SELECT Name, COUNT(Id) FROM Opportunity GROUP BY StageName")
    assert refused.status_code == 400 and error_code(refused) == "MALFORMED_QUERY"
    assert "Name" in refused.json()[0]["message"]
    limited = soql(org, "SELECT MAX(CloseDate) FROM Opportunity LIMIT 1")
    assert limited.status_code == 400 and error_code(limited) == "MALFORMED_QUERY"
    ungroupable = soql(org, "SELECT Amount, COUNT(Id) FROM Opportunity GROUP BY Amount")
    assert ungroupable.status_code == 400 and error_code(ungroupable) == "INVALID_FIELD"


def test_limit_and_offset_page_the_sorted_rows(org: Org) -> None:
    ids = sorted(o["Id"] for o in live_opportunities(org))
    body = soql(org, "SELECT Id FROM Opportunity ORDER BY Id LIMIT 5 OFFSET 7").json()
    assert [r["Id"] for r in body["records"]] == ids[7:12]
    too_far = soql(org, "SELECT Id FROM Opportunity LIMIT 5 OFFSET 2001")
    assert too_far.status_code == 400 and error_code(too_far) == "NUMBER_OUTSIDE_VALID_RANGE"


def test_like_matches_case_insensitively_with_wildcards(org: Org) -> None:
    body = soql(org, "SELECT Name FROM Opportunity WHERE Name LIKE '%DATA_migration'").json()
    expected = [
        o for o in live_opportunities(org) if re.fullmatch(r"(?is).*data.migration", o["Name"])
    ]
    assert expected and body["totalSize"] == len(expected)
    wrong_type = soql(org, "SELECT Id FROM Opportunity WHERE Amount LIKE '1%'")
    assert wrong_type.status_code == 400


def test_fields_functions_and_their_limit_rule(org: Org) -> None:
    unbounded = soql(org, "SELECT FIELDS(ALL) FROM Opportunity")
    assert unbounded.status_code == 400 and error_code(unbounded) == "MALFORMED_QUERY"
    assert "LIMIT" in unbounded.json()[0]["message"]
    assert soql(org, "SELECT FIELDS(CUSTOM) FROM Opportunity LIMIT 201").status_code == 400
    every = soql(org, "SELECT FIELDS(ALL) FROM Opportunity LIMIT 200").json()["records"][0]
    custom = soql(org, "SELECT FIELDS(CUSTOM) FROM Opportunity LIMIT 1").json()["records"][0]
    standard = soql(org, "SELECT FIELDS(STANDARD) FROM Opportunity").json()["records"][0]
    assert set(custom) - {"attributes"} == {
        "Loss_Reason__c",
        "Legacy_Id__c",
        "Hub_Score__c",
        "Hub_Score_Reason__c",
    }
    assert not any(k.endswith("__c") for k in standard)
    assert set(every) == set(custom) | set(standard)
    duplicate = soql(org, "SELECT Id, FIELDS(STANDARD) FROM Opportunity")
    assert duplicate.status_code == 400 and "duplicate field selected: Id" in duplicate.text


# ----- Bulk API 2.0 job management -----------------------------------------------------------
def create_job(org: Org, query: str = "SELECT Id FROM Opportunity") -> requests.Response:
    sb, session = org
    return session.post(
        f"{sb.base_url}/services/data/v60.0/jobs/query",
        json={"operation": "query", "query": query},
        timeout=10,
    )


def test_bulk_query_job_abort_list_and_delete(org: Org) -> None:
    sb, session = org
    jobs = f"{sb.base_url}/services/data/v60.0/jobs/query"
    job_id = create_job(org).json()["id"]
    running = session.delete(f"{jobs}/{job_id}", timeout=10)
    assert running.status_code == 400 and error_code(running) == "API_ERROR"
    aborted = session.patch(f"{jobs}/{job_id}", json={"state": "Aborted"}, timeout=10)
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert session.get(f"{jobs}/{job_id}", timeout=10).json()["state"] == "Aborted"
    again = session.patch(f"{jobs}/{job_id}", json={"state": "Aborted"}, timeout=10)
    assert again.status_code == 400
    assert session.get(f"{jobs}/{job_id}/results", timeout=10).status_code == 400
    listing = session.get(jobs, timeout=10).json()
    assert listing["done"] is True and listing["nextRecordsUrl"] is None
    assert {"id": job_id, "state": "Aborted"}.items() <= next(
        j for j in listing["records"] if j["id"] == job_id
    ).items()
    deleted = session.delete(f"{jobs}/{job_id}", timeout=10)
    assert deleted.status_code == 204 and deleted.content == b""
    assert session.get(f"{jobs}/{job_id}", timeout=10).status_code == 404
    assert job_id not in {j["id"] for j in session.get(jobs, timeout=10).json()["records"]}


def test_bulk_refuses_aggregates_like_the_real_bulk_api(org: Org) -> None:
    response = create_job(org, "SELECT COUNT() FROM Opportunity")
    assert response.status_code == 400 and error_code(response)


# ----- errors --------------------------------------------------------------------------------
def test_401_carries_no_sforce_limit_info(org: Org) -> None:
    sb, _ = org
    unauth = requests.get(f"{sb.base_url}/services/data/v60.0/limits", timeout=10)
    assert unauth.status_code == 401 and error_code(unauth) == "INVALID_SESSION_ID"
    assert "Sforce-Limit-Info" not in unauth.headers


def test_unknown_resources_and_methods_get_salesforce_errors(org: Org) -> None:
    sb, session = org
    missing = get(org, "/services/data/v60.0/nothing/here")
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"
    wrong = session.put(f"{sb.base_url}/services/data/v60.0/limits", timeout=10)
    assert wrong.status_code == 405 and error_code(wrong) == "METHOD_NOT_ALLOWED"


def test_a_sandbox_bug_is_a_salesforce_500_not_a_traceback(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, _ = org

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(sb.org, "iter_records", broken)
    response = soql(org, "SELECT Id FROM Opportunity")
    assert response.status_code == 500 and error_code(response) == "UNKNOWN_EXCEPTION"
    assert "KeyError" not in response.text and "Traceback" not in response.text


def test_order_by_text_ignores_case_and_ids_do_not(org: Org) -> None:
    """Salesforce sorts text case-insensitively; the sandbox once sorted 'acme' after 'Zeta'."""
    sb, _ = org
    accounts = sorted(sb.org.tables["Account"].values(), key=lambda a: a["Id"])
    first, last = accounts[0], accounts[-1]
    saved = first["Name"], last["Name"]
    first["Name"], last["Name"] = "ZZ Top Ltd", "aardvark & co"
    try:
        names = [
            r["Name"] for r in soql(org, "SELECT Name FROM Account ORDER BY Name").json()["records"]
        ]
        ascii_names = [n for n in names if n.isascii()]  # others: by the user's locale
        assert ascii_names[0] == "aardvark & co" and ascii_names[-1] == "ZZ Top Ltd"
        assert names == sorted(names, key=str.casefold)
        ids = [r["Id"] for r in soql(org, "SELECT Id FROM Account ORDER BY Id").json()["records"]]
        assert ids == sorted(ids)
    finally:
        first["Name"], last["Name"] = saved
