"""Resolution at scale: a bench to run by hand, not a timed test.

    PYTHONPATH=. python -m tests.resolve.bench --deals 100000 --sources 3 [--keep DIR]

Generates a world of ``deals x sources`` deals (10 % migrated copies), loads it with dlt
into a DuckDB warehouse as ``hub pull`` would, then runs resolution (read, resolve, write
both tables) in a child process, whose own peak RSS is measured: once with the legacy-id
rule, once with the names-and-dates rule alone. Prints one JSON line per step, with
precision and recall against the generator's truth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path
from typing import Any

from connectors.synthetic import WorldSpec

_CHILD = "--measure"


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def measure(config_path: str) -> dict[str, Any]:
    """In the child: time each step of resolution on the configured warehouse."""
    from hub.resolve import source_rank
    from hub.resolve.accounts import company_words, resolve_accounts
    from hub.resolve.duplicates import find_duplicates
    from hub.resolve.records import read_accounts, read_deals
    from hub.resolve.tables import write_tables
    from hub.warehouse import Warehouse
    from models.config import load_config

    config = load_config(config_path)
    sources = [s.name for s in config.sources]
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with Warehouse(config).connect() as conn:
        mark = time.perf_counter()
        records = read_accounts(conn, sources)
        deals = read_deals(conn, sources, config.duplicates.legacy_id_field)
        seconds["read"] = time.perf_counter() - mark
        mark = time.perf_counter()
        resolved = resolve_accounts(records, config.accounts, source_rank(config))
        seconds["accounts"] = time.perf_counter() - mark
        mark = time.perf_counter()
        company_of = resolved.company_of()
        duplicates = find_duplicates(
            deals, company_of, company_words(records, company_of), config.duplicates, sources
        )
        seconds["duplicates"] = time.perf_counter() - mark
        mark = time.perf_counter()
        write_tables(conn, resolved.rows, duplicates)
        seconds["write"] = time.perf_counter() - mark
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "accounts": len(records),
        "deals": len(deals),
        "duplicates": len(duplicates),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "total_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # the machine may be shared
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }


def bench(deals_per_source: int, n_sources: int, folder: Path) -> None:
    from tests.resolve.world import SOURCES, hub_config, load, seed

    names = list(SOURCES)[:n_sources] + [f"crm_{k}" for k in range(len(SOURCES), n_sources)]
    spec = WorldSpec(
        seed=3, n_deals=deals_per_source * n_sources, duplicate_share=0.1, activities_per_deal=0
    )
    started = time.perf_counter()
    seeded = seed(spec, names, stream=True)
    load(hub_config(folder, names), seeded.rows, folder / ".hub" / "pipelines")
    elapsed = round(time.perf_counter() - started, 1)
    _emit({"step": "generate+load", "deals": spec.n_deals, "s": elapsed})
    for legacy in (True, False):
        duplicates = {"legacy_id_field": "legacy_id"} if legacy else {}
        config = hub_config(folder, names, duplicates=duplicates)
        child = subprocess.run(
            [sys.executable, "-m", "tests.resolve.bench", _CHILD, str(config.config_path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "RUNTIME__LOG_LEVEL": "ERROR"},
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        figures.update(_scores(config, seeded))
        _emit({"step": "resolve", "legacy_id_rule": legacy, **figures})


def _scores(config: Any, seeded: Any) -> dict[str, Any]:
    """Precision and recall of what the child wrote, against the generator's truth."""
    import sqlalchemy as sa

    from hub.warehouse import Warehouse

    with Warehouse(config).connect() as conn:
        accounts = conn.execute(
            sa.text("SELECT account_key, company_key FROM hub_meta.hub_account_resolution")
        ).all()
        found = {
            frozenset(r)
            for r in conn.execute(
                sa.text("SELECT deal_key, duplicate_of FROM hub_meta.hub_deal_duplicates")
            )
        }
    predicted: dict[str, list[str]] = {}
    for key, company in accounts:
        predicted.setdefault(company, []).append(key)
    truth: dict[int, list[str]] = {}
    for key, company in seeded.company_of.items():
        truth.setdefault(company, []).append(key)
    return {
        "companies": _score(_pairs(predicted.values()), _pairs(truth.values())),
        "deal_duplicates": _score(found, seeded.duplicate_pairs),
    }


def _pairs(groups: Any) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in combinations(sorted(g), 2)}


def _score(got: set[frozenset[str]], want: set[frozenset[str]]) -> dict[str, float]:
    hits = len(got & want)
    return {
        "precision": round(hits / len(got), 4) if got else 1.0,
        "recall": round(hits / len(want), 4) if want else 1.0,
    }


def main(argv: list[str]) -> None:
    if argv[:1] == [_CHILD]:
        _emit(measure(argv[1]))
        return
    parser = argparse.ArgumentParser(prog="python -m tests.resolve.bench")
    parser.add_argument("--deals", type=int, default=100_000, help="deals per source")
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--keep", help="folder to keep the warehouse in")
    args = parser.parse_args(argv)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="resolve-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        bench(args.deals, args.sources, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
