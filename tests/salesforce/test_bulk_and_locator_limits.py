"""Issue #16: Salesforce limits the pull must survive. A Bulk 2.0 query job that ends Failed
or Aborted, or runs past the connector's time limit, is aborted, deleted and replaced by
REST paging; Bulk queries carry no ORDER BY. A REST query locator that expired (idle time,
or one cursor too many for the user) is read on from the last row, not from the start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.salesforce.sandbox import FakeSalesforce
from tests.harness import SandboxHub, VirtualClock
from tests.salesforce.conftest import assert_matches_sandbox
from tests.salesforce.test_sync import ROUND

BULK = {"bulk": "always", "bulk_page_records": 150}
SMALL_PAGES = {"page_size": 200, "bulk": "never"}
RESUMED = "SystemModstamp = "  # the tiebreak clause of a query that reads on after a row


def job_ids(sandbox: FakeSalesforce) -> list[str]:
    """The query jobs the org still holds, from its own job listing."""
    token = requests.post(
        f"{sandbox.base_url}/services/oauth2/token",
        data={"grant_type": "refresh_token", **sandbox.credentials()},
        timeout=10,
    ).json()["access_token"]
    listing = requests.get(
        f"{sandbox.base_url}/services/data/v60.0/jobs/query",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return [job["id"] for job in listing.json()["records"]]


def pull_twice(harness: SandboxHub) -> list[str]:
    """A first sync and an incremental one, each equal to the org; the warnings of both."""
    warnings = list(harness.pull().warnings)
    assert_matches_sandbox(harness)
    harness.mutate(seed=11, **ROUND)
    warnings += harness.pull().warnings
    assert_matches_sandbox(harness)
    return warnings


@pytest.mark.parametrize("outcome", ["Failed", "Aborted", "InProgress"])
@pytest.mark.parametrize("bulk", ["always", "auto"])
def test_a_bulk_job_that_does_not_complete_is_deleted_and_its_slice_read_by_rest(
    sandboxes: Callable[..., Any], tmp_path: Path, outcome: str, bulk: str
) -> None:
    sandbox = sandboxes("salesforce", seed=42, n_deals=200, bulk_outcome=outcome)
    limit = {"bulk_timeout_s": 120} if outcome == "InProgress" else {}  # virtual seconds
    options = {**BULK, "bulk": bulk, "bulk_threshold": 100, **limit}
    harness = SandboxHub(sandbox, tmp_path, "sf_main", options=options)
    warnings = pull_twice(harness)
    stats = harness.requests()
    assert sum(n for key, n in stats.items() if key.startswith("POST") and "jobs/query" in key)
    assert job_ids(sandbox) == []  # aborted if still running, and deleted
    assert any("Bulk 2.0 query job" in w and "read by REST" in w for w in warnings), warnings


def test_bulk_queries_carry_no_order_by(sandbox: FakeSalesforce, tmp_path: Path) -> None:
    """Salesforce: ORDER BY turns off PK chunking in a Bulk 2.0 query (slow, may time out)."""
    harness = SandboxHub(sandbox, tmp_path, "sf_main", options=BULK)
    harness.pull()
    assert_matches_sandbox(harness)
    bulk_queries = [q for q in sandbox.query_log if "OpportunityStage" not in q]
    assert len(bulk_queries) >= 4 and not any("ORDER BY" in q for q in bulk_queries)


def test_a_stop_in_the_middle_of_unordered_bulk_pages_loses_nothing(
    sandbox: FakeSalesforce, tmp_path: Path
) -> None:
    """Bulk pages are unordered, so the cursor may not move page by page: a run stopped
    by the daily allocation half-way through reads again, and nothing is missing."""
    harness = SandboxHub(sandbox, tmp_path, "sf_main", options=BULK)
    harness.mutate(api_usage=sandbox.daily_limit - 14)
    harness.pull()
    harness.mutate(api_usage=0)
    harness.pull()
    assert_matches_sandbox(harness)


def test_an_expired_locator_answers_invalid_query_locator_after_idle_time(
    sandboxes: Callable[..., Any], virtual_clock: VirtualClock
) -> None:
    sandbox = sandboxes("salesforce", seed=42, n_deals=300, locator_idle_s=900)
    virtual_clock.follow(sandbox)
    token = requests.post(
        f"{sandbox.base_url}/services/oauth2/token",
        data={"grant_type": "refresh_token", **sandbox.credentials()},
        timeout=10,
    ).json()["access_token"]
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {token}", "Sforce-Query-Options": "batchSize=200"}
    )
    base = sandbox.base_url
    page = session.get(
        f"{base}/services/data/v60.0/query/", params={"q": "SELECT Id FROM Task"}
    ).json()
    virtual_clock.sleep(899)
    page = session.get(f"{base}{page['nextRecordsUrl']}").json()
    assert page["records"] and not page["done"]
    virtual_clock.sleep(900)
    expired = session.get(f"{base}{page['nextRecordsUrl']}")
    assert expired.status_code == 400
    assert expired.json() == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR", "fields": []}
    ]


@pytest.mark.parametrize(
    "mode",
    [{"locator_idle_s": 0}, {"max_open_cursors": 1}],
    ids=["every-locator-expired-by-idle-time", "one-open-cursor-per-user"],
)
def test_a_read_whose_locator_expired_goes_on_from_its_last_row(
    sandboxes: Callable[..., Any], tmp_path: Path, mode: dict[str, Any]
) -> None:
    sandbox = sandboxes("salesforce", seed=42, n_deals=300, **mode)
    harness = SandboxHub(sandbox, tmp_path, "sf_main", options=SMALL_PAGES)
    warnings = pull_twice(harness)
    assert any("INVALID_QUERY_LOCATOR" in w for w in warnings), warnings
    resumed = [q for q in sandbox.query_log if RESUMED in q]
    assert resumed and all("ORDER BY" in q for q in resumed)
    # read on from the last row, never from the start: no query of the first sync re-reads
    # the whole object (each object's unrestricted first-sync query is sent once; stage
    # metadata is re-read every run)
    whole = [q for q in sandbox.query_log if "WHERE" not in q and "OpportunityStage" not in q]
    assert len(whole) == len(set(whole))
