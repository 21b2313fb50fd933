"""Pulling: full sync, incremental rounds, and what each costs in requests."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.pipedrive.conftest import Hub, assert_warehouse_equals_sandbox

FIELDS = {"GET /api/v1/dealFields", "GET /api/v1/organizationFields"}
# A no-change incremental sync before accounts (the connector README's measured figure):
# deals, archived deals, activities, notes + users, deal fields, pipelines, stages.
NO_CHANGE_BEFORE_ACCOUNTS = 8
ROUND = {
    "stage_moves": 4,
    "backward_moves": 1,
    "amount_edits": 4,
    "won": 2,
    "lost": 1,
    "deletes": 2,
    "new_deals": 3,
    "new_activities": 6,
    "association_changes": 2,
}


def test_full_sync_lands_exactly_the_sandbox_state(hub: Hub) -> None:
    hub.pull()
    assert_warehouse_equals_sandbox(hub)
    custom = hub.sql("SELECT custom_fields FROM deals WHERE custom_fields IS NOT NULL")
    keys = {k for (c,) in custom for k in json.loads(c)}
    assert keys == {"lead_source", "segments", "contract_months"}, "columns named by label"


def test_mutate_then_incremental_sync_equals_sandbox_over_several_rounds(hub: Hub) -> None:
    hub.pull()
    for round_no in range(1, 4):
        before = {d["id"]: d["update_time"] for d in hub.sandbox.store.deals.values()}
        changes = hub.mutate(seed=round_no, **ROUND)
        now = hub.sandbox.now()
        old = [
            i
            for i in changes["changed_deal_ids"] + changes["deleted_deal_ids"]
            if i in before and now - _t(before[i]) > timedelta(days=31)
        ]
        assert old, f"{changes} the changed deals include deals last touched more than a month ago"
        hub.pull()
        assert_warehouse_equals_sandbox(hub)
    deleted = hub.sql("SELECT count(*) FROM deals WHERE is_deleted")[0][0]
    assert deleted == 3 * ROUND["deletes"]


def test_flow_is_read_only_for_deals_whose_stage_moved(hub: Hub) -> None:
    hub.pull()
    hub.reset_requests()
    changes = hub.mutate(seed=11, **ROUND)
    hub.pull()
    flows = sorted(int(r.path.split("/")[4]) for r in hub.recorded if r.path.endswith("/flow"))
    assert sorted(set(flows)) == changes["stage_moved_deal_ids"]
    assert_warehouse_equals_sandbox(hub)


def test_no_change_incremental_sync_costs_one_request_more_than_before_accounts(hub: Hub) -> None:
    """Accounts add the organisations list and the deletions feed; the field definitions
    kept in state save the deal fields request, so a quiet run costs one request more."""
    hub.pull()
    hub.mutate(seed=3, org_edits=2, org_deletes=1, **ROUND)
    hub.pull()
    hub.reset_requests()
    stats = hub.pull()
    calls = stats.by_endpoint()
    assert calls == {
        "GET /api/v1/users": 1,
        "GET /api/v2/pipelines": 1,
        "GET /api/v2/stages": 1,
        "GET /api/v2/deals": 1,
        "GET /api/v2/deals/archived": 1,
        "GET /api/v2/activities": 1,
        "GET /api/v1/notes": 1,
        "GET /api/v2/organizations": 1,
        "GET /api/v1/recents": 1,
    }, calls
    assert stats.total == NO_CHANGE_BEFORE_ACCOUNTS + 1
    assert sum(hub.requests().values()) == stats.total  # the sandbox counted the same
    assert not FIELDS & set(calls), "field definitions come from state on a quiet run"


def test_full_sync_request_count_is_within_ten_percent_of_the_page_minimum(tmp_path) -> None:
    from tests.pipedrive.conftest import make_hub

    for hub in make_hub(tmp_path, flow_null_rate=0.0):
        minimum = hub.sandbox.page_minimum(hub.sandbox.counts())
        stats = hub.pull()
        assert stats.total <= 1.1 * minimum, (stats.total, minimum, stats.by_endpoint())
        assert_warehouse_equals_sandbox(hub)


def test_the_token_travels_only_in_a_header(hub: Hub) -> None:
    stats = hub.pull()
    token = hub.sandbox.api_token
    assert hub.sandbox.query_token_uses == 0
    for r in hub.recorded:
        assert "api_token" not in r.query
        assert token not in repr(r.query) and token not in r.path
    assert token not in repr(stats)


def test_updated_since_is_rfc3339_without_fractional_seconds(hub: Hub) -> None:
    hub.pull()
    hub.mutate(seed=5)
    hub.reset_requests()
    hub.pull()
    sent = [r.query["updated_since"][0] for r in hub.recorded if "updated_since" in r.query]
    assert sent and all("." not in s and s.endswith("Z") for s in sent)
    assert not any(
        "updated_since" in r.query
        for r in hub.recorded
        if r.path.endswith(("/stages", "/pipelines"))
    )


def _t(text: str):  # noqa: ANN202
    from connectors.pipedrive.client import parse_time

    return parse_time(text)
