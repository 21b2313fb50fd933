"""Run the benchmarks and print one JSON line per measurement.

    python -m bench                    # everything at the issues' sizes (= make bench)
    python -m bench all --quick        # every benchmark at tiny sizes: a smoke test
    python -m bench csv                # CSV pull + transform, 1M deals / 3M activities
    python -m bench csv --vs-duckdb --deals 300000 --activities-per-deal 5
                                       # hub pull vs DuckDB's read_csv of the same files
    python -m bench csv --resync --deals 300000  # pull; unchanged pull; 1 % of deals changed
    python -m bench sandbox            # hub pull per CRM sandbox, 100k deals / 500k activities
    python -m bench limits             # rate-limit efficiency per CRM at the vendors' limits
    python -m bench scale              # hub sync of 1M deals / 5M activities from 3 sandboxes
    python -m bench transform          # full transform vs no-change and 1 %-changed syncs,
                                       # 1M deals / 5M activities, DuckDB and PostgreSQL
    python -m bench sandbox --with-scale   # then hub sync of the same three sandboxes
    python -m bench score              # deal score fit on 1M closed deals (issue #20)
    python bench/score_sync_bench.py --folder DIR --code after=. --code before=OLD_CHECKOUT
                                       # write_scores per hourly-sync case, 100k deals
    python -m bench peers              # Airbyte's sources vs hub pull, same sandboxes, 2k deals
                                       # (not in "all": it installs the peers from PyPI)
    python -m bench.pg_pull_bench --deals 100000
                                       # CSV pull into PostgreSQL, COPY vs INSERT loads

Sizes can be overridden (--deals, --activities-per-deal; --seconds for limits). Modules:
``csv_bench``, ``sandbox_bench``, ``limits_bench``, ``scale_bench``, ``transform_bench``,
``score_bench``, ``pg_pull_bench``, ``peers`` (with ``redirect``, which routes the peers'
vendor hosts to the sandboxes); ``serve`` runs one sandbox process; ``minimum`` holds the
page-size minimum formulas; ``changes`` the hourly-sync change set of the transform and
score benches; ``common`` the plumbing.
Results are recorded by hand in docs/benchmarks.md (machine and date on every figure).
"""

from __future__ import annotations

import argparse
import sys

from bench import (
    csv_bench,
    limits_bench,
    peers,
    sandbox_bench,
    scale_bench,
    score_bench,
    transform_bench,
)
from bench.common import emit, machine

BENCHES = (
    "csv",
    "sandbox",
    "limits",
    "scale",
    "transform",
    "score",
)  # "all"; peers only by name (it installs from PyPI)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("which", nargs="?", default="all", choices=(*BENCHES, "peers", "all"))
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke test, not a figure"
    )
    parser.add_argument(
        "--deals", type=int, help="deals (per CRM for sandbox; total for csv and scale)"
    )
    parser.add_argument("--activities-per-deal", type=float)
    parser.add_argument(
        "--seconds", type=float, help="limits: target length of each rate-bound run"
    )
    parser.add_argument(
        "--crm",
        action="append",
        choices=sandbox_bench.KINDS,
        help="sandbox/limits/peers: only this CRM (repeatable)",
    )
    parser.add_argument(
        "--with-scale",
        action="store_true",
        help="sandbox: slice one world over the 3 sandboxes, then hub sync them all",
    )
    parser.add_argument("--no-transform", action="store_true", help="csv/scale: pull only")
    parser.add_argument(
        "--vs-duckdb",
        action="store_true",
        help="csv: hub pull vs DuckDB's read_csv of the same files (rows/s, ratio); no transform",
    )
    parser.add_argument(
        "--resync",
        action="store_true",
        help="csv: pull, then pull again unchanged and with 1%% of deals changed "
        "(deals file a full snapshot); no transform",
    )
    parser.add_argument(
        "--warehouse",
        action="append",
        choices=transform_bench.WAREHOUSES,
        help="transform: only this warehouse (repeatable; default both)",
    )
    parser.add_argument(
        "--changed-share",
        type=float,
        default=0.01,
        help="transform: share of deals changed before the last sync (default 0.01)",
    )
    parser.add_argument("--keep", help="folder to keep data and warehouses in")
    parser.add_argument(
        "--reuse-warehouse",
        action="store_true",
        help="transform: with --keep, time the kept warehouse again (no build step; the "
        "full transform runs with --full-refresh)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def sizes(args: argparse.Namespace, module: object) -> dict[str, float]:
    preset = dict(module.QUICK if args.quick else module.FULL)  # type: ignore[attr-defined]
    if args.deals:
        preset["deals"] = args.deals
    if args.activities_per_deal is not None:
        preset["activities_per_deal"] = args.activities_per_deal
    return preset


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.child:
        csv_bench.child(*args.child)
        return
    emit({"bench": "machine", **machine(), "quick": args.quick})
    which = BENCHES if args.which == "all" else (args.which,)
    kinds = tuple(args.crm or sandbox_bench.KINDS)
    keep = args.keep
    if "csv" in which:
        s = sizes(args, csv_bench)
        csv_bench.run(
            deals=int(s["deals"]),
            activities_per_deal=s["activities_per_deal"],
            keep=keep and f"{keep}/csv",
            transform=not args.no_transform,
            vs_duck=args.vs_duckdb,
            resync=args.resync,
        )
    if "sandbox" in which:
        s = sizes(args, sandbox_bench)
        if args.with_scale:
            boxes = sandbox_bench.start_all(
                sandbox_bench.KINDS,
                deals=int(s["deals"]),
                activities_per_deal=s["activities_per_deal"],
                n_sources=3,
            )
            try:
                sandbox_bench.run(
                    deals=int(s["deals"]),
                    activities_per_deal=s["activities_per_deal"],
                    kinds=kinds,
                    keep=keep and f"{keep}/sandbox",
                    boxes=boxes,
                )
                scale_bench.run(
                    deals=3 * int(s["deals"]),
                    activities_per_deal=s["activities_per_deal"],
                    keep=keep and f"{keep}/scale",
                    boxes=boxes,
                    transform=not args.no_transform,
                )
            finally:
                for box in boxes.values():
                    box.stop()
        else:
            sandbox_bench.run(
                deals=int(s["deals"]),
                activities_per_deal=s["activities_per_deal"],
                kinds=kinds,
                keep=keep and f"{keep}/sandbox",
            )
    if "limits" in which:
        s = sizes(args, limits_bench)
        limits_bench.run(
            kinds=kinds,
            seconds=args.seconds or s["seconds"],
            quick=args.quick,
            keep=keep and f"{keep}/limits",
        )
    if "scale" in which:
        s = sizes(args, scale_bench)
        scale_bench.run(
            deals=int(s["deals"]),
            activities_per_deal=s["activities_per_deal"],
            keep=keep and f"{keep}/scale",
            transform=not args.no_transform,
        )
    if "transform" in which:
        s = sizes(args, transform_bench)
        transform_bench.run(
            deals=int(s["deals"]),
            activities_per_deal=s["activities_per_deal"],
            keep=keep and f"{keep}/transform",
            warehouses=tuple(args.warehouse or transform_bench.WAREHOUSES),
            changed_share=args.changed_share,
            reuse_warehouse=args.reuse_warehouse,
        )
    if "score" in which:
        score_bench.run(deals=int(sizes(args, score_bench)["deals"]))

    if "peers" in which:
        s = sizes(args, peers)
        peers.run(
            deals=int(s["deals"]),
            activities_per_deal=s["activities_per_deal"],
            kinds=kinds,
            keep=keep and f"{keep}/peers",
        )


if __name__ == "__main__":
    main()
