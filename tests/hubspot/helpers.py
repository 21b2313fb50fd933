"""Helpers for the HubSpot tests: a hub run the way hub/pull.py does it (real dlt, real
DuckDB on tmp_path), virtual time shared by the client and the sandbox, and the exact
comparison of the warehouse with the sandbox's own state."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import requests

from connectors.http import RequestStats
from connectors.hubspot import CONNECTOR
from connectors.hubspot.sandbox import FakeHubspot
from models.config import HubConfig, parse_config

SOURCE = "hubspot_test"


class VirtualClock:
    """Sleeps advance a virtual clock instead of the wall clock, for the client's pacer
    and the sandbox's rate-limit windows alike, so limits are real but tests are fast."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sandboxes: list[FakeHubspot] = []
        self.slept: list[float] = []

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.offset += seconds
            for sandbox in self.sandboxes:
                sandbox.time_offset_s += seconds


class Hub:
    """One source pulled into one DuckDB file, run after run, like the orchestrator."""

    def __init__(self, sandbox: FakeHubspot, tmp_path: Path, **options: Any) -> None:
        self.sandbox = sandbox
        self.db = tmp_path / "hub.duckdb"
        self.pipelines_dir = tmp_path / ".hub" / "pipelines"
        entry = sandbox.source_config(SOURCE)
        entry["options"].update(options)
        self.entry = entry
        self.clock = datetime.now(UTC)

    def config(self, **options: Any) -> HubConfig:
        entry = {**self.entry, "options": {**self.entry["options"], **options}}
        return parse_config({"sources": [entry]})

    def run(
        self, *, days_later: float = 0, full_refresh: bool = False, **options: Any
    ) -> RequestStats:
        """Pull once; ``days_later`` moves the run's start (and the sandbox) forward;
        keyword arguments override source options for this run only."""
        if days_later:
            self.clock += timedelta(days=days_later)
            self.sandbox.time_offset_s += days_later * 86_400
        config = self.config(**options)
        stats = RequestStats()
        ctx = CONNECTOR.context(
            config,
            config.sources[0],
            stats=stats,
            run_started_at=self.clock,
            full_refresh=full_refresh,
        )
        pipeline = dlt.pipeline(
            pipeline_name=f"hub_{SOURCE}",
            destination=dlt.destinations.duckdb(str(self.db)),
            dataset_name=f"src_{SOURCE}",
            pipelines_dir=str(self.pipelines_dir),
        )
        pipeline.run(CONNECTOR.build_source(ctx))
        self.last_ctx = ctx
        return stats

    def rows(self, table: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            cur = con.execute(f"select * from src_{SOURCE}.{table}")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def server_requests(sandbox: FakeHubspot) -> Counter[str]:
    data = requests.get(f"{sandbox.base_url}/_sandbox/stats", timeout=10).json()
    return Counter(data["requests"])


def reset_server_stats(sandbox: FakeHubspot) -> None:
    requests.delete(f"{sandbox.base_url}/_sandbox/stats", timeout=10)


def mutate(sandbox: FakeHubspot, **spec: Any) -> dict[str, Any]:
    response = requests.post(f"{sandbox.base_url}/_sandbox/mutate", json=spec, timeout=120)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def assert_warehouse_equals_sandbox(hub: Hub, *, activities: bool = True) -> None:
    """Deals (stage, status, amount, owner, is_deleted), every stage-history entry,
    owners, stages and (optionally) activities with their deal, exactly, no duplicates."""
    truth = hub.sandbox.expected_canonical(SOURCE)
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
