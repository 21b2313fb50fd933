"""Serve one CRM sandbox in this process for a benchmark: ``python -m bench.serve KIND ...``.

Like ``hub sandbox`` but with the knobs a benchmark needs (activities per deal, the source
slice, rate limits) and a machine-readable first line on stdout: ``{"base_url", "source",
"counts", "deals", "activities", "minimum", "seed_s", "rss_mb"}``, where ``source`` is the
hub.yml entry with this instance's credentials and ``minimum`` the sandbox's own page-size
minimum (``SandboxServer.page_minimum``). It then serves until killed. Running it as its own process keeps the sandbox's memory and CPU out of the hub's figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("kind", choices=("hubspot", "pipedrive", "salesforce"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--deals", type=int, default=300, help="deals in this sandbox (its share)")
    parser.add_argument("--activities-per-deal", type=float, default=3.0)
    parser.add_argument("--source-index", type=int, default=0)
    parser.add_argument("--n-sources", type=int, default=1)
    parser.add_argument("--rate-limits", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument(
        "--knob",
        action="append",
        default=[],
        help="extra vendor keyword as NAME=JSON (e.g. daily_limit=200000)",
    )
    args = parser.parse_args(argv)

    from connectors.registry import sandbox_class
    from connectors.sandbox import SandboxSpec

    knobs = {}
    for item in args.knob:
        name, _, value = item.partition("=")
        knobs[name] = json.loads(value)
    started = time.perf_counter()
    spec = SandboxSpec(
        port=args.port,
        seed=args.seed,
        n_deals=args.deals,
        rate_limits=args.rate_limits,
        source_index=args.source_index,
        n_sources=args.n_sources,
        activities_per_deal=args.activities_per_deal,
    )
    server = sandbox_class(args.kind)(spec, **knobs)  # a knob may also override a spec field
    seed_s = time.perf_counter() - started
    counts = server.counts()
    base_url = server.start()
    print(
        json.dumps(
            {
                "base_url": base_url,
                "source": server.source_config(args.kind),
                "counts": counts,
                "deals": deal_count(args.kind, counts),
                "activities": activity_count(args.kind, counts),
                "minimum": server.page_minimum(counts),
                "seed_s": round(seed_s, 1),
                "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        ),
        flush=True,
    )
    sys.stdout.flush()
    server.serve_forever()


def deal_count(kind: str, counts: dict[str, int]) -> int:
    """Deals served, from the sandbox's ``counts()`` (whose keys differ by vendor)."""
    if kind == "salesforce":
        return counts["Opportunity"]
    return counts["deals_live"] + counts["deals_archived"]


def activity_count(kind: str, counts: dict[str, int]) -> int:
    """Activities and notes served, from the sandbox's ``counts()``."""
    if kind == "hubspot":
        from connectors.hubspot import settings

        return sum(counts[f"{t}_live"] for t in settings.ACTIVITY_OBJECTS)
    if kind == "pipedrive":
        return counts["activities"] + counts["notes"]
    return counts["Task"] + counts["Event"]


if __name__ == "__main__":
    main()
