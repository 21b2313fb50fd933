"""Per CRM: a full ``hub pull`` of one sandbox at the issues' scale.

Issue figure: 100,000 deals and 500,000 activities (Salesforce: opportunities and
tasks/events) per CRM: wall time, requests (and their ratio to the page-size minimum) and
the hub's peak RSS (target under 1 GB).

The sandbox runs in its own process (``bench.serve``) with rate limits off and daily
budgets raised, so what is timed is the hub's own work plus the local HTTP round trips.
The hub runs as the real ``hub pull`` command line in a child process; its peak RSS is that
process's ``ru_maxrss``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    Sandbox,
    count_status,
    emit,
    hub_executable,
    last_run,
    run_measured,
    start_sandbox,
    wait_ready,
    write_config,
)

KINDS = ("hubspot", "pipedrive", "salesforce")
FULL = {"deals": 100_000, "activities_per_deal": 5.0}
QUICK = {"deals": 200, "activities_per_deal": 5.0}
# Daily budgets far above what one pull needs: these runs measure throughput, not quota.
# page_cache: list pages cost O(page), not O(world), in the sandbox (connectors/sandbox/server.py).
UNLIMITED_KNOBS: dict[str, dict[str, Any]] = {
    "hubspot": {"daily_limit": 100_000_000, "page_cache": True},
    "pipedrive": {"daily_tokens": 10_000_000_000, "page_cache": True},
    "salesforce": {"daily_limit": 100_000_000, "page_cache": True},
}


def start_all(
    kinds: tuple[str, ...], *, deals: int, activities_per_deal: float, n_sources: int = 1
) -> dict[str, Sandbox]:
    """Start one sandbox per kind in parallel (seeding is the slow part); wait for all."""
    boxes = {
        kind: start_sandbox(
            kind,
            deals=deals,
            activities_per_deal=activities_per_deal,
            source_index=i % n_sources,
            n_sources=n_sources,
            knobs=UNLIMITED_KNOBS[kind],
        )
        for i, kind in enumerate(kinds)
    }
    for box in boxes.values():
        wait_ready(box)
    return boxes


def pull_one(box: Sandbox, folder: Path, *, timeout_s: float | None = None) -> dict[str, Any]:
    kind = box.kind
    config = write_config(folder, [box.source_entry(f"{kind}_bench")])
    box.reset_stats()
    measured = run_measured(
        [*hub_executable(), "pull", "--config", str(config)], cwd=folder, timeout_s=timeout_s
    )
    stats = box.stats()
    minimum = int(box.info["minimum"])
    run = last_run(config)
    record = {
        "bench": "sandbox",
        "crm": kind,
        "deals": box.info["deals"],
        "activities": box.info["activities"],
        "seconds": measured.seconds,
        "requests": stats["total"],
        "page_minimum": minimum,
        "requests_vs_minimum": round(stats["total"] / minimum, 3) if minimum else None,
        "status_429": count_status(stats, 429),
        "peak_rss_mb": measured.peak_rss_mb,
        "sandbox_rss_mb": box.peak_rss_mb(),
        "sandbox_seed_s": box.info.get("seed_s"),
        "rows": run.get("rows"),
        "run_status": run.get("status"),
        "exit": measured.returncode,
        "by_endpoint": stats["requests"],
    }
    if measured.returncode != 0:
        record["output_tail"] = measured.stdout[-2000:]
    return emit(record)


def run(
    *,
    deals: int,
    activities_per_deal: float,
    kinds: tuple[str, ...] = KINDS,
    keep: str | None = None,
    boxes: dict[str, Sandbox] | None = None,
) -> list[dict[str, Any]]:
    root = Path(keep or tempfile.mkdtemp(prefix="hub-bench-sandbox-"))
    own = boxes is None
    boxes = boxes or start_all(kinds, deals=deals, activities_per_deal=activities_per_deal)
    try:
        return [pull_one(boxes[kind], root / kind) for kind in kinds]
    finally:
        if own:
            for box in boxes.values():
                box.stop()
