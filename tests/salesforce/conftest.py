"""Shared fixtures: a FakeSalesforce over real HTTP pulled into a tmp DuckDB, and the
comparison of that warehouse with the sandbox's own state."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.sandbox import FakeSalesforce
from tests.harness import SandboxHub, VirtualClock


@pytest.fixture(autouse=True)
def _virtual_time(virtual_clock: VirtualClock) -> None:
    """Every Salesforce test runs on virtual time: retries and pacing do not wait."""


@pytest.fixture
def sandbox(sandboxes: Callable[..., Any]) -> FakeSalesforce:
    return sandboxes("salesforce", seed=42, n_deals=200)  # type: ignore[no-any-return]


def warehouse_state(hub: SandboxHub) -> dict[str, set[tuple[Any, ...]]]:
    return {
        "deals": set(hub.sql("SELECT deal_key, stage_id, status, amount, is_deleted FROM deals")),
        "stage_changes": set(hub.sql("SELECT deal_key, changed_at, stage_id FROM stage_changes")),
        "activities": set(hub.sql("SELECT activity_key, deal_key, is_deleted FROM activities")),
        "owners": set(hub.sql("SELECT owner_key FROM owners")),
    }


def expected_state(hub: SandboxHub) -> dict[str, set[tuple[Any, ...]]]:
    exp = hub.sandbox.expected_canonical(hub.name)
    return {
        "deals": {
            (
                d["deal_key"],
                d["stage_id"],
                d["status"],
                Decimal(d["amount"]).quantize(Decimal("1e-9")),
                d["is_deleted"],
            )
            for d in exp["deals"]
        },
        "stage_changes": {
            (h["deal_key"], h["changed_at"], h["stage_id"]) for h in exp["stage_changes"]
        },
        "activities": {
            (a["activity_key"], a["deal_key"], a["is_deleted"]) for a in exp["activities"]
        },
        "owners": {(o["owner_key"],) for o in exp["owners"]},
    }


def assert_matches_sandbox(hub: SandboxHub) -> None:
    got, want = warehouse_state(hub), expected_state(hub)
    for table in want:
        missing = want[table] - got[table]
        extra = got[table] - want[table]
        assert not missing and not extra, (
            f"{table}: {len(missing)} missing e.g. {sorted(missing, key=str)[:3]}, "
            f"{len(extra)} extra e.g. {sorted(extra, key=str)[:3]}"
        )
    counts = hub.sql("SELECT count(*), count(DISTINCT deal_key) FROM deals")[0]
    assert counts[0] == counts[1], "duplicate deal rows"


@pytest.fixture
def harness(sandbox: FakeSalesforce, tmp_path: Path) -> SandboxHub:
    return SandboxHub(sandbox, tmp_path, "sf_main")
