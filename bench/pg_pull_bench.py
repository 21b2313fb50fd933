"""A CSV export pulled into PostgreSQL by COPY and by INSERT statements
(``warehouse.load_format``): wall and CPU seconds of ``hub pull``, its steps, and the ratio.

    eval "$(HUB_TEST_PG_PORT=55444 bash .ci/postgres.sh start)"
    python -m bench.pg_pull_bench --deals 100000 [--export DIR] [--rounds 2]

Each pull runs in its own process (``hub pull --profile``) into a fresh database on the
server the ``HUB_TEST_PG_*`` variables name; rounds alternate the formats, so a change of
machine load falls on both. CPU seconds are the pull process's own (the server's work is
in the wall time only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from bench.common import emit, hub_executable, machine, run_measured

FORMATS = ("copy", "insert")


def _server() -> dict[str, Any]:
    names = ("HOST", "PORT", "USER", "PASSWORD", "DATABASE")
    missing = [f"HUB_TEST_PG_{n}" for n in names if not os.environ.get(f"HUB_TEST_PG_{n}")]
    if missing:
        raise SystemExit(f"set {', '.join(missing)} (.ci/postgres.sh start prints them)")
    return {n.lower(): os.environ[f"HUB_TEST_PG_{n}"] for n in names}


def _admin(server: dict[str, Any]) -> sa.Engine:
    url = sa.URL.create(
        "postgresql+psycopg2",
        username=server["user"],
        password=server["password"],
        host=server["host"],
        port=int(server["port"]),
        database=server["database"],
    )
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def pull_once(export: Path, folder: Path, server: dict[str, Any], load_format: str) -> dict:
    """One ``hub pull`` of ``export`` into a new database, dropped afterwards."""
    from hub.profile import latest
    from models.config import load_config

    database = f"hub_bench_{uuid.uuid4().hex[:8]}"
    admin = _admin(server)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    try:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(export, folder, copy_function=os.link)
        raw = yaml.safe_load((folder / "hub.yml").read_text())
        raw["warehouse"] = {
            "kind": "postgres",
            "host": server["host"],
            "port": int(server["port"]),
            "user": server["user"],
            "database": database,
            "password": "env:HUB_TEST_PG_PASSWORD",
            "load_format": load_format,
        }
        (folder / "hub.yml").write_text(yaml.safe_dump(raw))
        load_before = round(os.getloadavg()[0], 1)
        cmd = [*hub_executable(), "pull", "--profile", "--config", str(folder / "hub.yml")]
        measured = run_measured(cmd, cwd=folder)
        if measured.returncode != 0:
            raise SystemExit(f"hub pull failed ({load_format}):\n{measured.stdout[-3000:]}")
        profile = latest(load_config(folder / "hub.yml"))
        steps = {s.name: round(s.seconds, 1) for s in profile.top_level()} if profile else {}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    return {
        "format": load_format,
        "wall_s": measured.seconds,
        "cpu_s": measured.cpu_s,
        "peak_rss_mb": measured.peak_rss_mb,
        "load_avg": [load_before, round(os.getloadavg()[0], 1)],
        "steps": steps,
    }


def run(export: Path, work: Path, rounds: int) -> list[dict[str, Any]]:
    server = _server()
    records: dict[str, list[dict[str, Any]]] = {f: [] for f in FORMATS}
    for i in range(rounds):
        for load_format in FORMATS if i % 2 == 0 else reversed(FORMATS):
            record = pull_once(export, work / load_format, server, load_format)
            records[load_format].append(emit({"bench": "pg_pull", "round": i, **record}))
    medians = {
        f: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s")}
        for f, rs in records.items()
    }
    return [
        emit(
            {
                "bench": "pg_pull",
                **machine(),
                "export": str(export),
                "rounds": rounds,
                "median": medians,
                "copy_over_insert_wall": round(
                    medians["copy"]["wall_s"] / medians["insert"]["wall_s"], 2
                ),
                "copy_over_insert_cpu": round(
                    medians["copy"]["cpu_s"] / medians["insert"]["cpu_s"], 2
                ),
            }
        )
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_pull_bench", description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000, help="deals of a generated export")
    parser.add_argument("--export", type=Path, help="an existing export (hub.yml + CSVs)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hub-pg-pull-bench"))
    args = parser.parse_args(argv)
    export = args.export
    if export is None:
        from hub.generate import generate

        export = args.work / f"export-{args.deals}"
        if not (export / "hub.yml").exists():
            generate(export, seed=7, deals=args.deals)
    run(export, args.work, args.rounds)


if __name__ == "__main__":
    main()
