"""Scale: ``hub sync`` (pull of three sandboxes, then transform) of one large world.

Issue figure: 1,000,000 deals and 5,000,000 activities, a third each in the HubSpot,
Pipedrive and Salesforce sandboxes: wall time, requests, peak RSS, and requests per
connector within 1.1x of the page-size minimum. ``python -m bench scale`` runs that size;
``--deals`` runs a smaller world. At full size the three sandboxes hold the world in Python
objects, 13.4 GB together, and the run takes about 72 minutes here (docs/benchmarks.md).
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
    run_measured,
    source_runs,
    write_config,
)
from bench.sandbox_bench import KINDS, start_all

FULL = {"deals": 1_000_000, "activities_per_deal": 5.0}
QUICK = {"deals": 300, "activities_per_deal": 5.0}


def run(
    *,
    deals: int,
    activities_per_deal: float,
    keep: str | None = None,
    boxes: dict[str, Sandbox] | None = None,
    transform: bool = True,
) -> list[dict[str, Any]]:
    """``deals`` is the world's total; each sandbox serves a third (``source_index`` i of 3)."""
    folder = Path(keep or tempfile.mkdtemp(prefix="hub-bench-scale-"))
    own = boxes is None
    if boxes is None:
        boxes = start_all(
            KINDS,
            deals=deals // len(KINDS),
            activities_per_deal=activities_per_deal,
            n_sources=len(KINDS),
        )
    try:
        config = write_config(folder, [b.source_entry(f"{k}_scale") for k, b in boxes.items()])
        for box in boxes.values():
            box.reset_stats()
        command = "sync" if transform else "pull"
        measured = run_measured([*hub_executable(), command, "--config", str(config)], cwd=folder)
        runs = source_runs(config)
        per: dict[str, Any] = {}
        total_requests = total_minimum = 0
        for kind, box in boxes.items():
            stats = box.stats()
            minimum = int(box.info["minimum"])
            total_requests += stats["total"]
            total_minimum += minimum
            run = runs.get(f"{kind}_scale", {})
            per[kind] = {
                "deals": box.info["deals"],
                "activities": box.info["activities"],
                "requests": stats["total"],
                "page_minimum": minimum,
                "requests_vs_minimum": round(stats["total"] / minimum, 3),
                "status_429": count_status(stats, 429),
                "pull_seconds": run.get("seconds"),
                "run_status": run.get("status"),
                "sandbox_rss_mb": box.peak_rss_mb(),
            }
        pull_s = sum(p["pull_seconds"] or 0 for p in per.values())
        record = {
            "bench": "scale",
            "command": f"hub {command}",
            "deals": sum(p["deals"] for p in per.values()),
            "activities": sum(p["activities"] for p in per.values()),
            "seconds": measured.seconds,
            "pull_seconds": round(pull_s, 1),
            "requests": total_requests,
            "page_minimum": total_minimum,
            "requests_vs_minimum": round(total_requests / total_minimum, 3)
            if total_minimum
            else None,
            "peak_rss_mb": measured.peak_rss_mb,
            "exit": measured.returncode,
            "per_crm": per,
        }
        if measured.returncode != 0:
            record["output_tail"] = measured.stdout[-2000:]
        return [emit(record)]
    finally:
        if own:
            for box in boxes.values():
                box.stop()
