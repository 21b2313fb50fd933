"""Reverse sync: Collections batches of 200, per-row results in order, 412 conflicts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.base import DealUpdate
from connectors.salesforce import CONNECTOR
from connectors.salesforce.writer import SalesforceWriter
from models.errors import ConfigError
from tests.harness import SandboxHub
from tests.salesforce.conftest import assert_matches_sandbox


def writer_for(harness: SandboxHub) -> SalesforceWriter:
    assert CONNECTOR.build_writer is not None
    writer = CONNECTOR.build_writer(harness.context())
    assert isinstance(writer, SalesforceWriter)
    return writer


def open_ids(harness: SandboxHub) -> list[str]:
    opps = harness.sandbox.org.tables["Opportunity"].values()
    return [o["Id"] for o in opps if not o["IsDeleted"] and not o["IsClosed"]]


def test_scores_go_out_in_collections_of_200_with_one_result_per_row(harness: SandboxHub) -> None:
    ids = [o for o in harness.sandbox.org.tables["Opportunity"]][:200]
    writer = writer_for(harness)
    assert writer.max_batch == 200
    updates = [DealUpdate(i, {"hub_score": 0.5, "hub_score_reason": "test"}) for i in ids]
    results = writer.write(updates)
    assert [r.deal_id for r in results] == ids
    assert all(r.status == "written" and r.modified_at for r in results)
    stats = harness.requests()
    assert stats["PATCH /services/data/{v}/composite/sobjects 200"] == 1
    assert harness.sandbox.org.tables["Opportunity"][ids[0]]["Hub_Score__c"] == 0.5


def test_bad_rows_fail_alone_and_keep_their_place(harness: SandboxHub) -> None:
    ids = open_ids(harness)[:4]
    harness.sandbox.org.delete_opportunity(ids[2], harness.sandbox.now())
    updates = [
        DealUpdate(ids[0], {"stage_id": "Negotiation/Review"}),
        DealUpdate(ids[1], {"stage_id": "negotiation"}),  # canonical, not a picklist value
        DealUpdate(ids[2], {"hub_score": 0.9}),
        DealUpdate(ids[3], {"hub_score": 0.1}),
    ]
    results = writer_for(harness).write(updates)
    assert [r.status for r in results] == ["written", "failed", "failed", "written"]
    assert results[1].error and "Negotiation/Review" in results[1].error
    assert results[2].error and "ENTITY_IS_DELETED" in results[2].error


def test_a_rep_edit_after_the_hub_read_is_a_conflict_not_an_overwrite(harness: SandboxHub) -> None:
    org = harness.sandbox.org
    ids = org.live_opportunities()[:30]
    base = {i: org.tables["Opportunity"][i]["LastModifiedDate"] for i in ids}
    edited = ids[5]
    org.update_opportunity(
        edited,
        {"Amount": 1.0},
        by=org.tables["Opportunity"][edited]["OwnerId"],
        at=harness.sandbox.now().replace(microsecond=0),
    )
    updates = [DealUpdate(i, {"hub_score": 0.7}, base_modified_at=base[i]) for i in ids]
    results = writer_for(harness).write(updates)
    statuses = {r.deal_id: r.status for r in results}
    assert statuses.pop(edited) == "conflict"
    assert set(statuses.values()) == {"written"}
    assert org.tables["Opportunity"][edited]["Hub_Score__c"] is None
    assert harness.requests()["POST /services/data/{v}/composite 200"] == 2  # 25 a call


def test_unable_to_lock_row_is_retryable(harness: SandboxHub) -> None:
    harness.mutate(lock_row_rate=1.0)
    results = writer_for(harness).write([DealUpdate(open_ids(harness)[0], {"hub_score": 0.3})])
    assert results[0].status == "retryable" and "UNABLE_TO_LOCK_ROW" in (results[0].error or "")


def test_a_missing_hub_field_names_the_field_and_the_permission(harness: SandboxHub) -> None:
    harness.options = {"score_field": "Win_Score__c"}
    writer = writer_for(harness)
    with pytest.raises(ConfigError) as info:
        writer.write([DealUpdate(open_ids(harness)[0], {"hub_score": 0.3})])
    assert "Opportunity.Win_Score__c" in str(info.value) and "permission set" in str(info.value)
    assert any("Win_Score__c" in line for line in writer.setup_fields())


def test_the_hubs_own_stage_writes_come_back_as_hub_push(harness: SandboxHub) -> None:
    harness.pull()
    deal = open_ids(harness)[0]
    harness.sandbox.time_offset_s += 5
    results = writer_for(harness).write([DealUpdate(deal, {"stage_id": "Closed Won"})])
    assert results[0].status == "written"
    harness.pull()
    origin = harness.sql(
        f"SELECT origin FROM stage_changes WHERE deal_key = 'sf_main:{deal}' AND stage_id = 'Closed Won'"
    )
    assert origin == [("hub_push",)]
    assert_matches_sandbox(harness)
    assert results[0].modified_at and results[0].modified_at > harness.sandbox.now() - timedelta(
        minutes=1
    )
