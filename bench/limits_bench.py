"""Rate-limit efficiency: each sandbox at its vendor's real limits, the hub pulling flat out.

Issue figure (reliability): the achieved request rate is at least 90% of the allowed rate
with at most 1% of requests answered 429. Each run is sized to be rate-bound for about
``seconds`` (75 by default). The sandbox (own process, rate limits on) records when it
answered each request (``/_sandbox/stats?timeline=1``, tenths of a second). Three figures:

* ``window_efficiency`` (the headline): the vendor's window laid end to end from the first
  answer; requests answered inside the whole windows over ``windows x limit``. A rolling
  window allows at most ``limit`` in each, so this is the share of the allowance used,
  with neither the opening burst nor the last, partly used window distorting it.
* ``efficiency``: requests over the span from first to last answer, per allowed rate.
* ``polled_efficiency``: the older figure from polling the counters once a second.

* HubSpot, burst: a first sync (list pages of 20, so that CPU is not the bound) against
  190 requests per rolling 10 s: allowed 19/s. Search: after ``touch_all`` an incremental run pages ``/search`` (5 a second
  allowed): the search requests' rate over their window.
* Pipedrive: a first sync (deal flows dominate) on the sandbox's ``advanced`` plan with an
  API token: 40 requests per rolling 2 s, allowed 20/s.
* Salesforce has no per-second limit: the constraint is the org's daily allocation. The
  org is given a small allocation; the hub may use ``max_daily_share`` (0.25) of it and must
  stop cleanly (QuotaExhausted, status ``stopped``) near that share. The figure is the share
  of that budget the run used, plus its unthrottled request rate.
"""

from __future__ import annotations

import math
import tempfile
import threading
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
from bench.sandbox_bench import KINDS

FULL = {"seconds": 75.0}
QUICK = {"seconds": 3.0}

HUBSPOT_BURST = (190, 10.0)
HUBSPOT_SEARCH_PER_S = 5.0
PIPEDRIVE_BURST = (40, 2.0)  # the sandbox's default plan: advanced, API token
SALESFORCE_SHARE = 0.25  # SalesforceOptions.max_daily_share default
APD = 5.0
# HubSpot pages of 20 (not 100/50): a first-sync request then costs this 2-core machine
# little enough that the run is bound by the limit, not by CPU (at full pages it reached
# only ~17 requests/s with the limits off; see docs/benchmarks.md).
HUBSPOT_OPTIONS = {"page_size": 20, "search_page_size": 20}


def _sizes(kind: str, seconds: float) -> dict[str, Any]:
    """World size that keeps a first sync rate-bound for about ``seconds``."""
    if kind == "hubspot":  # pages of 20: ~0.3 requests per deal at 5 activities per deal
        return {"deals": max(60, int(seconds * 19 / 0.3))}
    if kind == "pipedrive":  # ~0.63 flows per deal + pages
        return {"deals": max(30, int(seconds * 20 / 0.65))}
    # salesforce: 200 records a page, ~0.047 requests per deal; the budget ends the run at
    # about half of it.
    deals = max(300, int(seconds * 40 / 0.047))
    requests = math.ceil(deals * 0.047)
    return {"deals": deals, "daily_limit": max(40, int(requests / 2 / SALESFORCE_SHARE))}


class Sampler:
    """Polls a sandbox's /_sandbox/stats once a second during a run."""

    def __init__(self, box: Sandbox, match: str | None = None) -> None:
        self.box, self.match = box, match
        self.samples: list[tuple[float, int]] = []
        self.lock = threading.Lock()

    def count(self, stats: dict[str, Any]) -> int:
        if self.match is None:
            return int(stats["total"])
        return sum(n for k, n in stats["requests"].items() if self.match in k)

    def __call__(self, t: float) -> None:
        try:
            n = self.count(self.box.stats())
        except OSError:
            return
        with self.lock:
            self.samples.append((t, n))

    def stalls(self, final: int, min_s: float = 2.0) -> list[float]:
        """Gaps of at least ``min_s`` with no request inside the window (pacer pauses)."""
        with self.lock:
            samples = [(t, n) for t, n in self.samples if 0 < n < final]
        gaps, since = [], None
        for (t0, n0), (t1, n1) in zip(samples, samples[1:], strict=False):
            if n1 == n0:
                since = t0 if since is None else since
            elif since is not None:
                if t1 - since >= min_s:
                    gaps.append(round(t1 - since, 1))
                since = None
        return gaps

    def window(self, final: int) -> tuple[float, int]:
        """(seconds, requests) from the last sample before any request to the first sample
        at ``final``: the whole rate-bound phase, its opening burst included (the span is
        over-estimated by up to one sampling interval, so the rate errs low)."""
        with self.lock:
            samples = list(self.samples)
        if not samples or samples[-1][1] == 0:
            return 0.0, 0
        idle = [t for t, n in samples if n == 0]
        t0 = idle[-1] if idle else 0.0
        n0 = 0
        t1, n1 = next(((t, n) for t, n in samples if n >= final), samples[-1])
        return t1 - t0, n1 - n0


def server_span(stats: dict[str, Any], match: str | None = None) -> tuple[float, int]:
    """(seconds, requests) from the sandbox's first to its last answer, by its own clock:
    the span of the rate-bound phase without hub start-up or the load after the last
    request. Control requests (``/_sandbox``) are not counted."""
    keys = [k for k in stats["requests"] if "/_sandbox" not in k and (match is None or match in k)]
    spans = [stats.get("spans", {}).get(k) for k in keys]
    spans = [s for s in spans if s]
    if not spans:
        return 0.0, 0
    first = min(s[0] for s in spans)
    last = max(s[1] for s in spans)
    return last - first, sum(stats["requests"][k] for k in keys)


def window_of(kind: str, match: str | None) -> tuple[int, float]:
    """(requests, seconds) of the vendor's rolling window this run is limited by."""
    if kind == "hubspot":
        return (5, 1.0) if match == "/search" else HUBSPOT_BURST
    return PIPEDRIVE_BURST


def full_windows(
    stats: dict[str, Any], limit: int, window_s: float, match: str | None = None
) -> tuple[int, int]:
    """(requests, windows): the answers inside the whole windows laid end to end from the
    first answer, and how many windows fit before the last answer.

    A rolling window allows at most ``limit`` in each of those windows, so
    ``requests / (windows * limit)`` is the share of the vendor's allowance the hub used,
    neither flattered by the opening burst nor penalised for the run's last, partly used
    window (the run simply ran out of work there). Times are tenths of a second.
    """
    timeline: dict[int, int] = {}
    for key, counts in stats.get("timeline", {}).items():
        if "/_sandbox" in key or (match is not None and match not in key):
            continue
        for tenth, n in counts.items():
            timeline[int(tenth)] = timeline.get(int(tenth), 0) + n
    if not timeline:
        return 0, 0
    first, last = min(timeline), max(timeline)
    width = round(window_s * 10)
    windows = (last - first) // width
    end = first + windows * width
    return sum(n for t, n in timeline.items() if t < end), int(windows)


def _rate_record(
    kind: str,
    phase: str,
    box: Sandbox,
    sampler: Sampler,
    measured: Any,
    allowed: float,
    folder: Path,
    match: str | None = None,
) -> dict[str, Any]:
    stats = box.stats(timeline=True)
    final = sampler.count(stats)
    polled_s, polled_n = sampler.window(final)
    polled_rate = polled_n / polled_s if polled_s else None
    span_s, n = server_span(stats, match)
    rate = n / span_s if span_s else None
    limit, window_s = window_of(kind, match) if kind != "salesforce" else (0, 0.0)
    in_windows, windows = full_windows(stats, limit, window_s, match) if limit else (0, 0)
    throttled = count_status(stats, 429)
    run = last_run(folder / "hub.yml")
    return emit(
        {
            "bench": "limits",
            "crm": kind,
            "phase": phase,
            "deals": box.info["counts"]
            and sum(v for k, v in box.info["counts"].items() if k.startswith("deals"))
            or None,
            "requests": stats["total"],
            "measured_requests": n,
            "window_s": round(span_s, 2),
            "achieved_per_s": round(rate, 2) if rate else None,
            "allowed_per_s": allowed,
            "efficiency": round(rate / allowed, 3) if rate else None,
            "full_windows": windows,
            "requests_in_full_windows": in_windows,
            "window_efficiency": round(in_windows / (windows * limit), 3) if windows else None,
            "polled_window_s": round(polled_s, 1),
            "polled_efficiency": round(polled_rate / allowed, 3) if polled_rate else None,
            "status_429": throttled,
            "share_429": round(throttled / max(1, stats["total"]), 4),
            "wall_s": measured.seconds,
            "run_status": run.get("status"),
            "exit": measured.returncode,
            "stalls_s": sampler.stalls(final),
            "by_endpoint": stats["requests"],
        }
    )


def _pull(
    box: Sandbox, folder: Path, options: dict[str, Any] | None = None, match: str | None = None
) -> tuple[Sampler, Any]:
    config = write_config(folder, [box.source_entry(f"{box.kind}_limits", options)])
    box.reset_stats()
    sampler = Sampler(box, match)
    measured = run_measured(
        [*hub_executable(), "pull", "--config", str(config)], cwd=folder, on_tick=sampler
    )
    return sampler, measured


def hubspot(seconds: float, folder: Path) -> list[dict[str, Any]]:
    size = _sizes("hubspot", seconds)
    box = wait_ready(
        start_sandbox(
            "hubspot",
            deals=size["deals"],
            activities_per_deal=APD,
            rate_limits=True,
            knobs={"page_cache": True},
        )
    )
    try:
        allowed = HUBSPOT_BURST[0] / HUBSPOT_BURST[1]
        sampler, measured = _pull(box, folder, HUBSPOT_OPTIONS)
        out = [
            _rate_record(
                "hubspot", "first sync (burst 190/10 s)", box, sampler, measured, allowed, folder
            )
        ]
        box.mutate(touch_all=10**9)
        sampler, measured = _pull(box, folder, HUBSPOT_OPTIONS, match="/search")
        out.append(
            _rate_record(
                "hubspot",
                "incremental after touch_all (search 5/s)",
                box,
                sampler,
                measured,
                HUBSPOT_SEARCH_PER_S,
                folder,
                match="/search",
            )
        )
        return out
    finally:
        box.stop()


def pipedrive(seconds: float, folder: Path) -> list[dict[str, Any]]:
    size = _sizes("pipedrive", seconds)
    box = wait_ready(
        start_sandbox(
            "pipedrive",
            deals=size["deals"],
            activities_per_deal=APD,
            rate_limits=True,
            knobs={"page_cache": True},
        )
    )
    try:
        sampler, measured = _pull(box, folder)
        return [
            _rate_record(
                "pipedrive",
                "first sync (40 per 2 s, advanced plan)",
                box,
                sampler,
                measured,
                PIPEDRIVE_BURST[0] / PIPEDRIVE_BURST[1],
                folder,
            )
        ]
    finally:
        box.stop()


def salesforce(seconds: float, folder: Path) -> list[dict[str, Any]]:
    size = _sizes("salesforce", seconds)
    limit = size["daily_limit"]
    box = wait_ready(
        start_sandbox(
            "salesforce",
            deals=size["deals"],
            activities_per_deal=APD,
            rate_limits=True,
            knobs={"daily_limit": limit, "api_usage": 0, "page_cache": True},
        )
    )
    try:
        sampler, measured = _pull(box, folder, options={"page_size": 200, "bulk": "never"})
        stats = box.stats()
        seconds_w, n = sampler.window(sampler.count(stats))
        budget = int(limit * SALESFORCE_SHARE)
        api = sum(v for k, v in stats["requests"].items() if "/services/data" in k)
        refused = count_status(stats, 403)
        run = last_run(folder / "hub.yml")
        return [
            emit(
                {
                    "bench": "limits",
                    "crm": "salesforce",
                    "phase": f"first sync against a daily allocation of {limit} (hub share {SALESFORCE_SHARE})",
                    "deals": size["deals"],
                    "requests": stats["total"],
                    "api_requests": api,
                    "allowed_requests": budget,
                    "efficiency": round(api / budget, 3),
                    "status_403": refused,
                    "share_403": round(refused / max(1, stats["total"]), 4),
                    "window_s": round(seconds_w, 1),
                    "achieved_per_s": round(n / seconds_w, 1) if seconds_w else None,
                    "wall_s": measured.seconds,
                    "run_status": run.get("status"),
                    "run_error": (run.get("error") or "")[:200],
                    "exit": measured.returncode,
                    "page_minimum_full": box.info["minimum"],
                    "by_endpoint": stats["requests"],
                }
            )
        ]
    finally:
        box.stop()


def ceiling(kind: str, seconds: float, folder: Path) -> list[dict[str, Any]]:
    """The same first sync with the sandbox's rate limits off: the rate this machine allows.

    When it is not well above the vendor's limit, the limited run is CPU- or latency-bound
    here and its efficiency says little about the connector's pacing.
    """
    size = _sizes(kind, seconds)
    box = wait_ready(
        start_sandbox(
            kind,
            deals=size["deals"],
            activities_per_deal=APD,
            rate_limits=False,
            knobs={"page_cache": True},
        )
    )
    try:
        sampler, measured = _pull(box, folder, HUBSPOT_OPTIONS if kind == "hubspot" else None)
        allowed = (
            HUBSPOT_BURST[0] / HUBSPOT_BURST[1]
            if kind == "hubspot"
            else PIPEDRIVE_BURST[0] / PIPEDRIVE_BURST[1]
        )
        return [
            _rate_record(
                kind,
                "ceiling: same first sync, sandbox limits off",
                box,
                sampler,
                measured,
                allowed,
                folder,
            )
        ]
    finally:
        box.stop()


RUNNERS = {"hubspot": hubspot, "pipedrive": pipedrive, "salesforce": salesforce}


def run(
    *,
    kinds: tuple[str, ...] = KINDS,
    seconds: float = FULL["seconds"],
    quick: bool = False,
    keep: str | None = None,
    with_ceiling: bool = True,
) -> list[dict[str, Any]]:
    """The CRMs run one after another (in parallel they would share the two cores); HubSpot
    and Pipedrive are followed by their ceiling run (``with_ceiling``)."""
    root = Path(keep or tempfile.mkdtemp(prefix="hub-bench-limits-"))
    out: list[dict[str, Any]] = []
    for kind in kinds:
        out += RUNNERS[kind](seconds, root / kind)
        if with_ceiling and kind != "salesforce":
            out += ceiling(kind, seconds, root / f"{kind}-ceiling")
    return out
