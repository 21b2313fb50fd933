"""Serve one CRM sandbox in this process for a benchmark: ``python -m bench.serve KIND ...``.

Like ``hub sandbox`` but with the knobs a benchmark needs (activities per deal, the source
slice, rate limits) and a machine-readable first line on stdout:
``{"base_url", "counts", "minimum", "seed_s", "rss_mb"}``. It then serves until killed.
Running it as its own process keeps the sandbox's memory and CPU out of the hub's figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any


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

    from bench.minimum import page_minimum, sandbox_counts
    from connectors.registry import get_connector

    knobs = {}
    for item in args.knob:
        name, _, value = item.partition("=")
        knobs[name] = json.loads(value)
    started = time.perf_counter()
    factory: Any = get_connector(args.kind).sandbox
    server = factory(
        port=args.port,
        seed=args.seed,
        n_deals=args.deals,
        rate_limits=args.rate_limits,
        source_index=args.source_index,
        n_sources=args.n_sources,
        activities_per_deal=args.activities_per_deal,
        **knobs,
    )
    seed_s = time.perf_counter() - started
    counts = sandbox_counts(args.kind, server)
    base_url = server.start()
    print(
        json.dumps(
            {
                "base_url": base_url,
                "counts": counts,
                "minimum": page_minimum(args.kind, counts),
                "seed_s": round(seed_s, 1),
                "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        ),
        flush=True,
    )
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
