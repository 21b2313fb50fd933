"""Writing back: one PATCH per deal, per-row results, hub fields, recognising our own writes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.base import DealUpdate
from connectors.pipedrive import CONNECTOR
from connectors.pipedrive.client import parse_time
from connectors.pipedrive.writer import PipedriveWriter
from tests.pipedrive.conftest import Hub


def _writer(hub: Hub) -> PipedriveWriter:
    writer = CONNECTOR.build_writer(hub.context())  # type: ignore[misc]
    assert isinstance(writer, PipedriveWriter)
    return writer


def _open_deals(hub: Hub, n: int) -> list[dict]:
    deals = [
        d
        for d in hub.sandbox.store.deals.values()
        if d["status"] == "open" and not d["is_deleted"] and not d["is_archived"]
    ]
    return sorted(deals, key=lambda d: d["id"])[:n]


def test_setup_fields_creates_the_hub_fields_once(hub: Hub) -> None:
    first = _writer(hub).setup_fields()
    assert [line.startswith("created") for line in first] == [True, True]
    again = _writer(hub).setup_fields()
    assert all("exists" in line for line in again)
    names = [f["name"] for f in hub.sandbox.store.fields]
    assert names.count("Hub score") == 1 and names.count("Hub score reason") == 1


def test_one_patch_per_deal_and_one_result_per_row(hub: Hub) -> None:
    writer = _writer(hub)
    writer.setup_fields()
    a, b, c, d, e = _open_deals(hub, 5)
    deleted = next(x for x in hub.sandbox.store.deals.values() if x["status"] == "won")
    hub.sandbox.store.delete(deleted, hub.sandbox.now(), deleted["owner_id"])
    seen = parse_time(c["update_time"])
    # c was edited by a rep after the hub read it: its stage differs from what the hub saw.
    hub.sandbox.store.move(
        c, 5 if c["stage_id"] != 5 else 4, seen + timedelta(hours=1), c["owner_id"], "app"
    )
    next_stage = lambda deal: deal["stage_id"] % 5 + 1  # noqa: E731
    updates = [
        DealUpdate(
            str(a["id"]),
            {"stage_id": str(next_stage(a))},
            {"stage_id": str(a["stage_id"])},
            parse_time(a["update_time"]),
        ),
        DealUpdate(str(b["id"]), {"hub_score": 0.82, "hub_score_reason": "engaged champion"}),
        DealUpdate(str(c["id"]), {"stage_id": "1"}, {"stage_id": str(c["stage_id"] % 5 + 9)}, seen),
        DealUpdate(str(d["id"]), {"stage_id": "7"}),  # a Renewals stage, d is in Pipeline
        DealUpdate(str(e["id"]), {"stage_id": str(e["stage_id"])}),
        DealUpdate(str(deleted["id"]), {"hub_score": 0.1}),
    ]
    hub.reset_requests()
    results = writer.write(updates)
    assert [r.deal_id for r in results] == [u.deal_id for u in updates]
    assert [r.status for r in results] == [
        "written",
        "written",
        "conflict",
        "failed",
        "skipped",
        "failed",
    ]
    assert results[0].modified_at is not None
    calls = [f"{r.method} {r.path}" for r in hub.recorded]
    reads = [u.deal_id for u in updates if f"GET /api/v2/deals/{u.deal_id}" in calls]
    assert len(reads) == len(updates)  # each deal read right before its write
    assert sum(c.startswith("PATCH /api/v2/deals/") for c in calls) == 2  # one per deal written
    assert sum(c.endswith("/changelog") for c in calls) == 2  # and its changelog checked after
    assert a["stage_id"] == next_stage(a) or a["stage_id"] == int(updates[0].fields["stage_id"])
    keys = writer.field_keys()
    assert b["custom_fields"][keys["hub_score"]] == 0.82
    assert all(
        set(body) <= {"stage_id", "pipeline_id", "custom_fields"}
        for body in hub.sandbox.patch_bodies
    )


def test_a_batch_larger_than_one_hundred_is_refused(hub: Hub) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        _writer(hub).write([DealUpdate(str(i), {"hub_score": 1}) for i in range(101)])


def test_the_hubs_own_stage_writes_come_back_as_hub_push(hub: Hub) -> None:
    hub.pull()
    deal = _open_deals(hub, 1)[0]
    target = deal["stage_id"] % 5 + 1
    result = _writer(hub).write([DealUpdate(str(deal["id"]), {"stage_id": str(target)})])
    assert result[0].status == "written"
    hub.mutate(seed=2, stage_moves=2, won=0, lost=0, deletes=0, new_deals=0)
    hub.pull()
    origins = dict(
        hub.sql(
            f"SELECT stage_id, origin FROM stage_changes WHERE deal_key = 'pd:{deal['id']}' "
            "ORDER BY changed_at DESC LIMIT 1"
        )
    )
    assert origins == {str(target): "hub_push"}
    assert hub.sql("SELECT count(*) FROM stage_changes WHERE origin = 'hub_push'")[0][0] == 1
