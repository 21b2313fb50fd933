"""Full and incremental pulls against FakeHubspot equal the sandbox's own state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.base import DealUpdate
from connectors.hubspot import CONNECTOR
from tests.harness import SandboxHub, mutate, reset_requests, sandbox_requests
from tests.hubspot.helpers import assert_warehouse_equals_sandbox

ROUNDS: list[dict[str, Any]] = [
    {
        "seed": 1,
        "stage_moves": 8,
        "backward_moves": 2,
        "amount_edits": 4,
        "won": 2,
        "lost": 2,
        "deletes": 2,
        "new_deals": 4,
        "new_activities": 6,
        "association_changes": 3,
        "new_then_deleted": 2,
        "moved_then_deleted": 2,
    },
    {
        "seed": 2,
        "stage_moves": 5,
        "won": 1,
        "lost": 3,
        "deletes": 1,
        "restores": 1,
        "new_deals": 2,
        "new_activities": 5,
        "association_changes": 2,
        "activity_deletes": 2,
    },
    {"seed": 3, "pipeline_edit": True, "stage_moves": 3, "new_deals": 1, "deletes": 1},
    {
        "seed": 4,
        "stage_moves": 10,
        "backward_moves": 3,
        "amount_edits": 6,
        "won": 2,
        "lost": 2,
        "deletes": 3,
        "new_deals": 6,
        "new_activities": 8,
        "association_changes": 4,
    },
]


def test_full_sync_equals_the_sandbox(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    assert_warehouse_equals_sandbox(hub)
    deals = hub.rows("deals")
    assert {d["custom_fields"] is not None for d in deals} == {True}
    sample = next(d for d in deals if d["pipeline_id"] == "default")
    assert '"region"' in str(sample["custom_fields"]) or "region" in sample["custom_fields"]


def test_enumeration_properties_arrive_as_labels(make_sandbox: Any, tmp_path: Path) -> None:
    hub = SandboxHub(make_sandbox(n_deals=20), tmp_path)
    hub.pull()
    values = {str(d["custom_fields"]) for d in hub.rows("deals")}
    assert any("North America" in v or "EMEA" in v for v in values)
    assert not any("newbusiness" in v for v in values)


def test_mutate_then_incremental_equals_the_sandbox_over_several_rounds(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    for spec in ROUNDS:
        changed = mutate(sandbox, **spec)
        hub.pull(days_later=1.01)  # a day later: the association sweep is due
        assert_warehouse_equals_sandbox(hub)
        deleted = {d["source_deal_id"] for d in hub.rows("deals") if d["is_deleted"]}
        restored = set(changed["restored_deal_ids"])
        assert set(changed["deleted_deal_ids"]) - restored <= deleted
        assert not restored & deleted


def test_incremental_within_the_sweep_interval_still_applies_deals_and_deletes(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    for seed in (5, 6):
        mutate(
            sandbox,
            seed=seed,
            stage_moves=6,
            deletes=2,
            new_deals=3,
            new_activities=4,
            association_changes=0,
        )
        hub.pull(days_later=0.01)
        assert_warehouse_equals_sandbox(hub)


def test_association_changes_are_caught_by_the_periodic_sweep(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path, options={"association_sweep_minutes": 60})
    hub.pull()
    moved = mutate(
        sandbox,
        seed=9,
        stage_moves=0,
        backward_moves=0,
        amount_edits=0,
        won=0,
        lost=0,
        deletes=0,
        new_deals=0,
        new_activities=0,
        association_changes=3,
    )
    moved_ids = set(moved["moved_activity_ids"])
    want = {
        a["activity_key"]: a["deal_key"]
        for a in sandbox.expected_canonical("hubspot_test")["activities"]
    }

    def linked() -> dict[str, Any]:
        return {
            a["activity_key"]: a["deal_key"]
            for a in hub.rows("activities")
            if a["source_activity_id"] in moved_ids
        }

    hub.pull(days_later=0.01)  # not yet due: the associations moved silently
    assert linked() != {k: want[k] for k in linked()}
    hub.pull(days_later=0.05)  # 72 minutes after the first run: the sweep runs
    assert linked() == {k: want[k] for k in linked()}
    assert_warehouse_equals_sandbox(hub)


def test_stage_history_is_fetched_only_for_deals_that_changed_stage(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    mutate(
        sandbox,
        seed=3,
        stage_moves=0,
        backward_moves=0,
        won=0,
        lost=0,
        deletes=0,
        new_deals=0,
        new_activities=0,
        association_changes=0,
        amount_edits=7,
    )
    reset_requests(sandbox)
    hub.pull(days_later=0.01)
    assert not [k for k in sandbox_requests(sandbox) if "batch/read" in k and "deals" in k]
    moved = mutate(
        sandbox,
        seed=4,
        stage_moves=7,
        backward_moves=0,
        won=0,
        lost=0,
        deletes=0,
        new_deals=0,
        new_activities=0,
        association_changes=0,
        amount_edits=0,
    )
    sandbox.request_log.clear()
    reset_requests(sandbox)
    hub.pull(days_later=0.01)
    reads = sandbox_requests(sandbox)["POST /crm/v3/objects/deals/batch/read 200"]
    assert reads == 1  # 7 changed deals, one batch read (50 a call)
    assert len(moved["changed_deal_ids"]) == 7
    assert_warehouse_equals_sandbox(hub)


def test_a_pipeline_edit_restamping_every_deal_fetches_no_history(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    mutate(
        sandbox,
        seed=1,
        pipeline_edit=True,
        stage_moves=0,
        backward_moves=0,
        won=0,
        lost=0,
        deletes=0,
        new_deals=0,
        new_activities=0,
        association_changes=0,
        amount_edits=0,
    )
    reset_requests(sandbox)
    hub.pull(days_later=0.01)
    counts = sandbox_requests(sandbox)
    assert not [k for k in counts if "deals/batch/read" in k]
    assert_warehouse_equals_sandbox(hub)


def test_the_hubs_own_stage_writes_come_back_as_hub_push(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    config = hub.config()
    writer = CONNECTOR.build_writer(CONNECTOR.context(config, config.sources[0]))  # type: ignore[misc]
    deal = next(
        d for d in hub.rows("deals") if d["stage_id"] == "qualifiedtobuy" and not d["is_deleted"]
    )
    [result] = writer.write(
        [
            DealUpdate(
                deal["source_deal_id"],
                {"stage_id": "presentationscheduled"},
                base={"stage_id": "qualifiedtobuy"},
                pipeline_id="default",
            )
        ]
    )
    assert result.status == "written"
    mutate(sandbox, seed=7, stage_moves=3, association_changes=0)
    hub.pull(days_later=0.01)
    origins = {(c["deal_key"], c["stage_id"]): c["origin"] for c in hub.rows("stage_changes")}
    assert origins[(deal["deal_key"], "presentationscheduled")] == "hub_push"
    assert {o for k, o in origins.items() if k[0] != deal["deal_key"]} == {"crm_history"}
    assert_warehouse_equals_sandbox(hub)


@pytest.mark.parametrize("full_refresh", [True])
def test_full_refresh_relists_everything_and_changes_nothing(
    make_sandbox: Any, tmp_path: Path, full_refresh: bool
) -> None:
    sandbox = make_sandbox(n_deals=60)
    hub = SandboxHub(sandbox, tmp_path)
    hub.pull()
    mutate(sandbox, seed=2)
    hub.pull(full_refresh=full_refresh)
    assert_warehouse_equals_sandbox(hub)
