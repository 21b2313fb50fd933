"""CSV: generate a synthetic export, then time ``hub pull`` and ``hub transform`` of it.

Each step runs in its own child process so its peak RSS (ru_maxrss) is its own.
``--vs-duckdb`` (issue #19, item 3) times, in the same run and on the same files, DuckDB's
own ``read_csv`` of each file into a table of a fresh database against ``hub pull`` into a
fresh warehouse, alternating the two ``ROUNDS`` times, and prints the rows/s of both and
their ratio. Both sides count the same rows, the files' data rows (what DuckDB's tables
hold); the hub also derives tables from them (deal_accounts, stages), counted apart.
``--resync`` times the pulls of an hourly sync: unchanged, then 1 % of deals changed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit

FULL = {"deals": 1_000_000, "activities_per_deal": 3.0}
QUICK = {"deals": 2_000, "activities_per_deal": 3.0}
ROUNDS = 3  # --vs-duckdb: each side this many times, alternating; the best of each compared


def child(step: str, folder: str) -> None:
    """``python -m bench csv --child STEP FOLDER``: one measured step."""
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    from hub.pull import run_pull
    from hub.transform import run_transform
    from models.config import load_config

    if step == "duckdb":
        print(json.dumps(duckdb_read_csv(Path(folder))), flush=True)
        return
    config = load_config(Path(folder) / "hub.yml")
    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    rows = 0
    steps: dict[str, float] = {}
    if step == "pull":
        (run,) = run_pull(config)
        if run.status != "ok":
            raise SystemExit(run.error)
        rows = sum(run.rows.values())
        steps = {name: round(seconds, 2) for name, seconds in run.steps.items()}
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
                "cpu_seconds": round(_cpu_seconds() - cpu_started, 1),
                "peak_rss_mb": round(peak_mb),
                "steps": steps,
                "load_avg": _load(),
            }
        ),
        flush=True,
    )


def duckdb_read_csv(folder: Path) -> dict[str, Any]:
    """DuckDB's own ``read_csv`` (sniffed types, defaults) of each CSV file of the export
    into a table of a new database file: the yardstick of issue #19, item 3."""
    import duckdb

    files = sorted(_export_files(folder))
    database = folder / "duckdb-read-csv.duckdb"
    for stale in folder.glob("duckdb-read-csv.duckdb*"):
        stale.unlink()
    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    rows = 0
    with duckdb.connect(str(database)) as con:
        for n, path in enumerate(files):
            con.execute(f"CREATE TABLE t{n} AS SELECT * FROM read_csv(?)", [str(path)])
            rows += con.execute(f"SELECT count(*) FROM t{n}").fetchone()[0]  # type: ignore[index]
    elapsed = time.perf_counter() - started
    return {
        "bench": "csv",
        "step": "duckdb_read_csv",
        "seconds": round(elapsed, 2),
        "rows": rows,
        "rows_per_s": round(rows / elapsed),
        "cpu_seconds": round(_cpu_seconds() - cpu_started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_avg": _load(),
    }


def _export_files(folder: Path) -> list[Path]:
    """The CSV files the export's hub.yml reads (paths relative to it)."""
    import yaml

    (source,) = yaml.safe_load((folder / "hub.yml").read_text(encoding="utf-8"))["sources"]
    return [folder / file["path"] for file in source["options"].values() if isinstance(file, dict)]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> list[float]:
    return [round(x, 1) for x in os.getloadavg()]


def _child(step: str, folder: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "csv", "--child", step, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    line = result.stdout.strip().splitlines()[-1]
    print(line, flush=True)
    return json.loads(line)


def vs_duckdb(folder: Path, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """``hub pull`` against DuckDB's ``read_csv`` of the same files, ``rounds`` times each,
    alternating, each pull into a fresh warehouse; the best of each side is compared (a
    shared machine only ever slows a run down, and adds CPU seconds too). The wall-clock
    ratio takes each side's fastest run, the CPU ratio each side's fewest CPU seconds: a
    loaded machine's fastest run is not its cheapest (one run at load 18 took DuckDB 5.1
    CPU-s in its fastest round, 3.9 in the others, which read as a 0.49 CPU ratio for 0.38)."""
    duck: list[dict[str, Any]] = []
    hub: list[dict[str, Any]] = []
    for _ in range(rounds):
        duck.append(_child("duckdb", folder))
        shutil.rmtree(folder / ".hub", ignore_errors=True)
        hub.append(_child("pull", folder))
    best_duck = min(duck, key=lambda r: r["seconds"])
    best_hub = min(hub, key=lambda r: r["seconds"])
    file_rows = best_duck["rows"]
    hub_rows_per_s = round(file_rows / best_hub["seconds"])
    record = emit(
        {
            "bench": "csv",
            "step": "vs_duckdb",
            "file_rows": file_rows,
            "hub_rows_loaded": best_hub["rows"],  # with the tables derived from the files
            "duckdb_seconds": best_duck["seconds"],
            "hub_pull_seconds": best_hub["seconds"],
            "duckdb_rows_per_s": best_duck["rows_per_s"],
            "hub_rows_per_s": hub_rows_per_s,
            "ratio": round(hub_rows_per_s / best_duck["rows_per_s"], 2),
            "duckdb_cpu_seconds": min(r["cpu_seconds"] for r in duck),
            "hub_cpu_seconds": min(r["cpu_seconds"] for r in hub),
            "cpu_ratio": round(
                min(r["cpu_seconds"] for r in duck) / min(r["cpu_seconds"] for r in hub), 2
            ),
            "rounds": rounds,
            "load_avg": _load(),
        }
    )
    return [*duck, *hub, record]


CHANGED_SHARE = 0.01  # --resync: share of deals changed before the last pull


def resyncs(folder: Path) -> list[dict[str, Any]]:
    """The hourly sync's pulls (issue #19): the deals file declared a full snapshot, a first
    pull, a pull of the unchanged export (each file costs its sha256), then one after
    ``CHANGED_SHARE`` of the deals moved from Qualified to Meeting Booked in the file."""
    import yaml

    path = folder / "hub.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["sources"][0]["options"]["deals"]["full_snapshot"] = True
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    shutil.rmtree(folder / ".hub", ignore_errors=True)
    out = [{**_child("pull", folder), "sync": "first"}]
    out.append({**_child("pull", folder), "sync": "unchanged"})
    deals = folder / raw["sources"][0]["options"]["deals"]["path"]
    lines = deals.read_text(encoding="utf-8").splitlines(keepends=True)
    wanted, changed = int((len(lines) - 1) * CHANGED_SHARE), 0
    for n, line in enumerate(lines):
        if changed < wanted and ",Qualified,open," in line:
            lines[n] = line.replace(",Qualified,open,", ",Meeting Booked,open,", 1)
            changed += 1
    deals.write_text("".join(lines), encoding="utf-8")
    out.append({**_child("pull", folder), "sync": f"{changed} deals changed"})
    summary = {
        r["sync"]: {"seconds": r["seconds"], "cpu_seconds": r["cpu_seconds"], "steps": r["steps"]}
        for r in out
    }
    return [*out, emit({"bench": "csv", "step": "resync", **summary, "load_avg": _load()})]


def run(
    *,
    deals: int,
    activities_per_deal: float,
    keep: str | None = None,
    transform: bool = True,
    vs_duck: bool = False,
    resync: bool = False,
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
    if vs_duck:
        return out + vs_duckdb(folder)
    if resync:
        return out + resyncs(folder)
    for step in ("pull", "transform") if transform else ("pull",):
        out.append(_child(step, folder))
    return out
