"""The exact comparison of a HubSpot pull's warehouse with the sandbox's own state."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.harness import SandboxHub


def assert_warehouse_equals_sandbox(hub: SandboxHub, *, activities: bool = True) -> None:
    """Deals (stage, status, amount, owner, is_deleted), every stage-history entry,
    owners, stages and (optionally) activities with their deal, exactly, no duplicates."""
    truth = hub.sandbox.expected_canonical(hub.name)
    deals = hub.rows("deals")
    keys = [d["deal_key"] for d in deals]
    assert len(keys) == len(set(keys)), "duplicate deal rows"
    got = {d["deal_key"]: {k: d[k] for k in truth["deals"][0]} for d in deals}
    want = {d["deal_key"]: d for d in truth["deals"]}
    assert set(got) == set(want), (
        f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
    )
    diffs = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert not diffs, f"{len(diffs)} deals differ, e.g. {diffs[:2]}"

    changes = hub.rows("stage_changes")
    got_changes = Counter((c["deal_key"], c["stage_id"], c["changed_at"]) for c in changes)
    assert max(got_changes.values(), default=1) == 1, "duplicate stage changes"
    want_changes = Counter(
        (c["deal_key"], c["stage_id"], c["changed_at"]) for c in truth["stage_changes"]
    )
    assert set(got_changes) == set(want_changes), (
        f"missing {list(set(want_changes) - set(got_changes))[:3]}, "
        f"extra {list(set(got_changes) - set(want_changes))[:3]}"
    )

    owners = {
        o["owner_key"]: {k: o[k] for k in ("owner_key", "email", "is_active")}
        for o in hub.rows("owners")
    }
    assert owners == {o["owner_key"]: o for o in truth["owners"]}
    stages = {
        s["stage_key"]: {k: s[k] for k in ("stage_key", "label", "pipeline_id")}
        for s in hub.rows("stages")
    }
    assert stages == {s["stage_key"]: s for s in truth["stages"]}

    if activities:
        acts = hub.rows("activities")
        assert len(acts) == len({a["activity_key"] for a in acts}), "duplicate activity rows"
        got_acts = {a["activity_key"]: {k: a[k] for k in truth["activities"][0]} for a in acts}
        want_acts = {a["activity_key"]: a for a in truth["activities"]}
        assert set(got_acts) == set(want_acts)
        deleted_deals = {d["deal_key"] for d in truth["deals"] if d["is_deleted"]}

        def same(got: dict[str, Any], want: dict[str, Any]) -> bool:
            if want["is_deleted"]:  # the recycle bin keeps no associations
                return bool(got["is_deleted"])
            if want["deal_key"] is None and got["deal_key"] in deleted_deals:
                # linked only to a deal deleted since the last sweep: still points at it
                return {**got, "deal_key": None} == want
            return got == want

        diffs = [
            (k, got_acts[k], want_acts[k]) for k in want_acts if not same(got_acts[k], want_acts[k])
        ]
        assert not diffs, f"{len(diffs)} activities differ, e.g. {diffs[:2]}"
