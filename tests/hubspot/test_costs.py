"""Request budgets: a full sync close to the page-size minimum, a quiet incremental cheap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.hubspot import settings
from tests.harness import SandboxHub, mutate, reset_requests, sandbox_requests

METADATA = (
    "/crm/v3/pipelines/deals",
    "/crm/v3/properties/deals",
    "/crm/v3/properties/companies",
    "/crm/v3/owners",
)
# A quiet incremental run before companies were pulled (measured on ea16746 against this
# sandbox): deal search, recycle bin, engagements probe, plus pipelines, deal properties and
# owners x2. Each entity added since may cost at most one more request.
QUIET_RUN_BEFORE_ACCOUNTS = 7
NEW_ENTITIES = ("accounts", "deal_accounts", "field_definitions")


def data_requests(counts: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in counts.items() if not any(m in k for m in METADATA)}


def test_a_full_sync_costs_at_most_1_1x_the_page_size_minimum(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=300)
    mutate(sandbox, seed=1, deletes=7)  # give the recycle bin something
    reset_requests(sandbox)
    hub = SandboxHub(sandbox, tmp_path)
    stats = hub.pull()
    served = sum(sandbox_requests(sandbox).values())
    minimum = sandbox.page_minimum(sandbox.counts())
    assert served == stats.total
    assert served <= 1.1 * minimum, (served, minimum, stats.by_endpoint())


def test_a_no_change_incremental_costs_at_most_one_request_more_per_new_entity(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    mutate(sandbox, seed=2, new_activities=10, company_edits=3)  # every type has changes
    hub.pull(days_later=0.01)
    reset_requests(sandbox)
    sandbox.request_log.clear()
    hub.pull(days_later=0.01)
    counts = sandbox_requests(sandbox)
    assert sum(counts.values()) <= QUIET_RUN_BEFORE_ACCOUNTS + len(NEW_ENTITIES), counts
    data = data_requests(counts)
    # deal and company searches, both recycle bins, one engagements-feed probe
    assert sum(data.values()) == 5, data
    assert sum(counts.values()) - sum(data.values()) == 5, counts  # + company properties
    lines = [line.split("?")[0] for line in sandbox.request_log]
    assert lines.count("GET /crm/v3/objects/companies") == 1  # the recycle bin
    assert "POST /crm/v3/objects/companies/search" in lines
    assert not [line for line in lines if "/crm/v4/associations/" in line]


def test_without_the_probe_a_quiet_run_costs_one_search_per_object_type(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=60)
    hub = SandboxHub(sandbox, tmp_path, options={"activity_probe": False})
    hub.pull()
    reset_requests(sandbox)
    hub.pull(days_later=0.01)
    data = data_requests(sandbox_requests(sandbox))
    # deal and company searches and recycle bins, one search per activity type
    assert sum(data.values()) == 4 + len(settings.ACTIVITY_OBJECTS), data
    assert all("search" in k or "archived" in k for k in data) or data


def test_the_probe_searches_only_the_activity_types_that_changed(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=60)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    mutate(sandbox, seed=2, new_activities=10)
    hub.pull(days_later=0.01)
    mutate(
        sandbox,
        seed=3,
        new_activities=1,
        stage_moves=0,
        backward_moves=0,
        amount_edits=0,
        won=0,
        lost=0,
        deletes=0,
        new_deals=0,
        association_changes=0,
    )  # one call
    sandbox.request_log.clear()
    hub.pull(days_later=0.01)
    searched = {line.split()[1].split("?")[0] for line in sandbox.request_log if "/search?" in line}
    assert searched == {
        "/crm/v3/objects/deals/search",
        "/crm/v3/objects/companies/search",
        "/crm/v3/objects/calls/search",
    }
    calls = [a for a in hub.rows("activities") if a["type"] == "call"]
    assert len(calls) == len({a["activity_key"] for a in calls})
