"""Deal scores on an hourly sync (issue #19): ``write_scores`` seconds per case, per version.

    python bench/score_sync_bench.py --folder /tmp/score-sync --deals 100000 \
        --code after=. --code before=/tmp/score-before

One generated CSV export (``hub generate``, seed 1, 5 activities a deal, as_of pinned at
noon of its last day) is synced twice through the hub CLI: as generated (warehouse A), then
after a 1 % change of open deals stamped that morning (warehouse B, ``bench.changes``: 60 %
move one stage on, those in Negotiation to Closed Won, 20 % are new, 20 % of open deals
disappear from the full snapshot). Then, for each version of the code (``--code LABEL=DIR``, a checkout whose
``hub`` package is imported), one child process on copies of the two warehouses with the
score caches emptied:

* ``first_of_day``: A, ``write_scores`` at as_of (empty cache: build the training table, fit);
* ``no_change``: A again, as_of + 1 h;
* ``open_deals_changed``: B with A's score caches, as_of + 2 h (the 1 % change);
* ``day_moved``: B, as_of + 1 day (a new training cut: deals closed that day are learned).

Each case prints one JSON line: seconds, whether the training table was built (its rows) and
whether the model was refitted, open deals scored, and the load average. The script is run
by path, not as ``bench.*``, so the child imports only the ``hub`` of the version measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SHARE = 0.01
CACHES = ("hub_score_models", "hub_score_input_keys")


# ----- the child: one version of the code --------------------------------------------------


def cases() -> list[tuple[str, str, str]]:
    """(case, warehouse, as_of) of the module docstring; the parent hands them to the child,
    which imports nothing from ``bench`` (the measured checkout may predate it)."""
    from bench.changes import AS_OF

    return [
        (case, warehouse, (AS_OF + later).isoformat())
        for case, warehouse, later in (
            ("first_of_day", "A", timedelta()),
            ("no_change", "A", timedelta(hours=1)),
            ("open_deals_changed", "B", timedelta(hours=2)),
            ("day_moved", "B", timedelta(days=1)),
        )
    ]


def child(folder: Path, planned: list[list[str]]) -> None:
    import duckdb
    import sqlalchemy as sa

    from hub.score.store import write_scores
    from hub.warehouse import Warehouse
    from models.config import load_config

    def empty_caches(path: Path) -> None:
        with duckdb.connect(str(path)) as db:
            for table in CACHES:
                db.execute(f"delete from hub_meta.{table}")

    for name in "AB":
        shutil.copyfile(folder / f"{name}.duckdb", folder / name / ".hub" / "hub.duckdb")
        empty_caches(folder / name / ".hub" / "hub.duckdb")
    for case, warehouse, when in planned:
        as_of = datetime.fromisoformat(when)
        config = load_config(folder / warehouse / "hub.yml")
        if case == "open_deals_changed":  # B starts with the caches A's syncs left
            with duckdb.connect(str(folder / "B" / ".hub" / "hub.duckdb")) as db:
                db.execute(f"attach '{folder / 'A' / '.hub' / 'hub.duckdb'}' as a (read_only)")
                for table in CACHES:
                    db.execute(f"insert into hub_meta.{table} select * from a.hub_meta.{table}")
        load = [round(x, 1) for x in os.getloadavg()]
        started = time.perf_counter()
        run = write_scores(config, Warehouse(config), as_of)
        seconds = time.perf_counter() - started
        with Warehouse(config).connect() as conn:
            fitted = conn.execute(
                sa.text("select count(*) from hub_meta.hub_score_models")
            ).scalar()
        print(
            json.dumps(
                {
                    "case": case,
                    "as_of": as_of.isoformat(),
                    "seconds": round(seconds, 2),
                    "scored": run.scored,
                    "training_rows": run.training_rows,
                    "refitted": run.refitted,
                    "models_cached": fitted,
                    "fingerprint": run.fingerprint,
                    "load_avg_before": load,
                }
            ),
            flush=True,
        )


# ----- the parent: build the two warehouses, run each version --------------------------------


def _sync(config: Path) -> float:
    from bench.common import hub_executable

    started = time.perf_counter()
    subprocess.run([*hub_executable(), "sync", "--config", str(config)], check=True)
    return time.perf_counter() - started


def _hub_folder(folder: Path, export: Path) -> Path:
    """A hub folder reading its own copy of the export's files, as_of pinned at AS_OF."""
    import yaml

    from bench.changes import AS_OF

    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    (folder / ".hub").mkdir()
    hub_yml = yaml.safe_load((export / "hub.yml").read_text(encoding="utf-8"))
    for path in export.glob("*.csv"):
        shutil.copyfile(path, folder / "data" / path.name)
    for source in hub_yml["sources"]:
        for table, options in source["options"].items():
            options["path"] = str(folder / "data" / Path(options["path"]).name)
            if table == "deals":
                options["full_snapshot"] = True
    hub_yml["as_of"] = AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(hub_yml, sort_keys=False), encoding="utf-8")
    return path


def build(folder: Path, deals: int) -> dict[str, Any]:
    """Warehouses A and B (module docstring) as ``A.duckdb`` and ``B.duckdb``; reused when
    built before at the same size."""
    marker = folder / ".built"
    if marker.exists() and marker.read_text() == str(deals):
        return {"reused": str(folder)}
    from bench.changes import change_open_deals
    from bench.transform_bench import ensure_export

    export, _ = ensure_export(folder / "export", deals, 5.0)
    hub = _hub_folder(folder / "sync", export)
    first = _sync(hub)
    shutil.copyfile(folder / "sync" / ".hub" / "hub.duckdb", folder / "A.duckdb")
    changed = change_open_deals(folder / "sync" / "data", SHARE)
    second = _sync(hub)
    shutil.copyfile(folder / "sync" / ".hub" / "hub.duckdb", folder / "B.duckdb")
    for name in "AB":  # each case's hub.yml reads the sync folder's data, its own warehouse
        (folder / name / ".hub").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hub, folder / name / "hub.yml")
    marker.write_text(str(deals))
    return {"first_sync_s": round(first, 1), "changed_sync_s": round(second, 1), **changed}


def main(argv: list[str]) -> None:
    if argv[:1] == ["child"]:
        child(Path(argv[1]), json.loads(argv[2]))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.*, this checkout's
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--code", action="append", default=[], help="LABEL=DIR (repeatable)")
    args = parser.parse_args(argv)
    from bench.common import emit, machine

    emit({"bench": "score_sync", **machine(), **build(args.folder, args.deals)})
    for item in args.code or [f"this={Path(__file__).resolve().parents[1]}"]:
        label, code = item.split("=", 1)
        env = {**os.environ, "PYTHONPATH": str(Path(code).resolve())}
        result = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "child",
                str(args.folder),
                json.dumps(cases()),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"{label}: {result.stderr[-3000:]}")
        for line in result.stdout.splitlines():
            if line.startswith("{"):
                emit(
                    {"bench": "score_sync", "code": label, "deals": args.deals, **json.loads(line)}
                )


if __name__ == "__main__":
    main(sys.argv[1:])
