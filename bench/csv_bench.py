"""CSV: generate a synthetic export, then time ``hub pull`` and ``hub transform`` of it.

Each step runs in its own child process so its peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit

FULL = {"deals": 1_000_000, "activities_per_deal": 3.0}
QUICK = {"deals": 2_000, "activities_per_deal": 3.0}


def child(step: str, folder: str) -> None:
    """``python -m bench csv --child STEP FOLDER``: one measured step."""
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
    print(
        json.dumps(
            {
                "bench": "csv",
                "step": step,
                "seconds": round(elapsed, 1),
                "rows": rows,
                "rows_per_s": round(rows / elapsed) if rows else None,
                "peak_rss_mb": round(peak_mb),
            }
        ),
        flush=True,
    )


def run(
    *, deals: int, activities_per_deal: float, keep: str | None = None, transform: bool = True
) -> list[dict[str, Any]]:
    from hub.generate import generate

    folder = Path(keep or tempfile.mkdtemp(prefix="hub-bench-csv-"))
    started = time.perf_counter()
    generated = generate(folder, seed=1, deals=deals, activities_per_deal=activities_per_deal)
    out = [
        emit(
            {
                "bench": "csv",
                "step": "generate",
                "seconds": round(time.perf_counter() - started, 1),
                "rows": generated.export.row_counts,
            }
        )
    ]
    for step in ("pull", "transform") if transform else ("pull",):
        result = subprocess.run(
            [sys.executable, "-m", "bench", "csv", "--child", step, str(folder)],
            check=True,
            capture_output=True,
            text=True,
        )
        line = result.stdout.strip().splitlines()[-1]
        print(line, flush=True)
        out.append(json.loads(line))
    return out
