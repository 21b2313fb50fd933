"""10,000 score changes: HubSpot in at most 101 write requests, Salesforce in at most 401,
and an immediate second push writes nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.push import apply_push, plan_push, setup_fields
from tests.push.conftest import Crm

# Both at the full 10,000 (about 30 s each since the Salesforce sandbox looks up
# `Id IN (...)` lists in a set).
SIZES = {"hubspot": 10_000, "salesforce": 10_000}
LIMITS = {k: n // {"hubspot": 100, "salesforce": 25}[k] + 1 for k, n in SIZES.items()}


def live_ids(crm: Crm) -> list[str]:
    sb = crm.sandbox
    if crm.kind == "hubspot":
        return sorted(i for i, d in sb.objects["deals"].items() if not d.archived)
    return sb.org.live_opportunities()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_ten_thousand_scores_go_out_in_full_batches(
    kind: str, tmp_path: Path, sandboxes: Callable[..., Any]
) -> None:
    N = SIZES[kind]
    crm = Crm(sandboxes(kind, n_deals=int(N * 1.1)), tmp_path)
    setup_fields(crm.config())
    ids = live_ids(crm)[:N]
    assert len(ids) == N
    # No pull needed: the outbound rows name the deals; the hub has no deal count for the
    # safety cap, so this run is forced, as a first push of every score would be.
    crm.outbound(
        [
            {
                "deal_key": f"{crm.name}:{i}",
                "source_deal_id": i,
                "field": "hub_score",
                "value": f"0.{n % 89 + 10}",
            }
            for n, i in enumerate(ids)
        ]
    )
    crm.reset_requests()
    started = time.perf_counter()
    plan = plan_push(crm.config())
    assert plan.sources[crm.name].counts["write"] == N
    result = apply_push(crm.config(), plan, force=True)
    elapsed = time.perf_counter() - started
    assert result.sources[crm.name].counts["written"] == N
    writes = crm.write_requests()
    print(
        f"\n{kind}: {N:,} scores in {writes} write requests, "
        f"{crm.requests().total()} requests in all, {elapsed:.1f}s"
    )
    assert writes <= LIMITS[kind]
    assert crm.value(ids[-1], "hub_score") == f"0.{(N - 1) % 89 + 10}".rstrip("0")

    crm.reset_requests()
    again = plan_push(crm.config())
    assert again.sources[crm.name].counts["unchanged"] == N
    assert apply_push(crm.config(), again, force=True).counts["written"] == 0
    assert crm.requests().total() == 0
