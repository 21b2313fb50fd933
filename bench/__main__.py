"""Run the benchmarks and print one JSON line per measurement.

    python -m bench                    # CSV pull + transform at the issue's scale
    python -m bench --deals 100000     # smaller, for a quick look

Each measurement runs in a child process so its peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

PRESETS = {"csv": {"deals": 1_000_000, "activities_per_deal": 3.0}}


def _child(step: str, folder: str) -> None:
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    from hub.pull import run_pull
    from hub.transform import run_transform
    from models.config import load_config

    config = load_config(Path(folder) / "hub.yml")
    started = time.perf_counter()
    rows = 0
    if step == "pull":
        (run,) = run_pull(config)
        if run.status != "ok":
            raise SystemExit(run.error)
        rows = sum(run.rows.values())
    else:
        run_transform(config)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step": step, "seconds": round(elapsed, 1), "rows": rows,
                      "rows_per_s": round(rows / elapsed) if rows else None,
                      "peak_rss_mb": round(peak_mb)}))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--deals", type=int, default=PRESETS["csv"]["deals"])
    parser.add_argument("--activities-per-deal", type=float, default=PRESETS["csv"]["activities_per_deal"])
    parser.add_argument("--keep", help="folder to keep the data in")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    from hub.generate import generate

    folder = Path(args.keep or tempfile.mkdtemp(prefix="hub-bench-"))
    print(json.dumps({"machine": f"{platform.node()} {os.cpu_count()} cores {platform.machine()}",
                      "python": platform.python_version(), "date": datetime.now(UTC).date().isoformat()}))
    started = time.perf_counter()
    generated = generate(folder, seed=1, deals=args.deals, activities_per_deal=args.activities_per_deal)
    print(json.dumps({"step": "generate", "seconds": round(time.perf_counter() - started, 1),
                      "rows": generated.export.row_counts}))
    for step in ("pull", "transform"):
        subprocess.run([sys.executable, "-m", "bench", "--child", step, str(folder)], check=True)


if __name__ == "__main__":
    main()
