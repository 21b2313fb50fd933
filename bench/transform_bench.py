"""Transform at scale (issue #19): a full transform, a no-change sync and a sync after 1 % of
deals changed, of one CSV export, on DuckDB and on PostgreSQL.

    python -m bench transform                      # 1M deals / 5M activities, both warehouses
    python -m bench transform --warehouse duckdb   # one warehouse (repeatable)
    python -m bench transform --keep DIR           # the export in DIR/export is made once, reused
    python -m bench transform --keep DIR --reuse-warehouse
                                                   # no build: the kept warehouse again

Per warehouse, each step is the real command line in its own process (wall time, peak RSS),
run with ``--profile``; its profile is read back from ``hub_meta.hub_profile``:

1. ``build``: ``hub pull`` of the export into a fresh warehouse (not a figure of the issue);
   with ``--reuse-warehouse`` a warehouse kept by an earlier run is used as it is (a 1M-deal
   PostgreSQL pull takes many minutes; SQL changes are timed on the same database);
2. ``full_transform``: ``hub transform`` (``--full-refresh`` on a reused warehouse), the
   yardstick of the ratios;
3. ``no_change_sync``: ``hub sync`` with nothing changed (target: at most 10 % of 2);
4. ``changed_sync``: ``hub sync`` after ``--changed-share`` of the deals changed in the CSV
   files the way an hourly sync sees them (``bench.changes``: open deals moved on or won, new
   deals, open deals gone from the full-snapshot deals file, all stamped that morning), with
   ``as_of`` pinned at noon of the export's last day (target: at most 25 % of 2).

The yardstick is a first transform: on a reused warehouse the deal score's cached models are
emptied before step 2, so it fits as a fresh warehouse would.

The export is never edited: each warehouse reads hard links of its files, and an edited file
replaces its link. PostgreSQL comes from ``HUB_BENCH_PG_HOST``, ``_PORT``, ``_USER``,
``_PASSWORD`` (else the test server's ``HUB_TEST_PG_*``); the bench drops and creates the
database ``hub_bench`` there. Without a server the PostgreSQL half is skipped, and says so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.changes import AS_OF, change_open_deals
from bench.common import emit, hub_executable, run_measured

FULL = {"deals": 1_000_000, "activities_per_deal": 5.0}
QUICK = {"deals": 300, "activities_per_deal": 2.0}
WAREHOUSES = ("duckdb", "postgres")
TARGETS = {"no_change_sync": 0.10, "changed_sync": 0.25}  # issue #19: share of a full transform
PG_DATABASE = "hub_bench"
SHOWN_MODELS = 8  # slowest models per step in the output


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str


def pg_server() -> PgServer | None:
    for prefix in ("HUB_BENCH_PG_", "HUB_TEST_PG_"):
        values = {k: os.environ.get(prefix + k) for k in ("HOST", "PORT", "USER", "PASSWORD")}
        if all(values.values()):
            return PgServer(
                str(values["HOST"]),
                int(str(values["PORT"])),
                str(values["USER"]),
                str(values["PASSWORD"]),
            )
    return None


def run(
    *,
    deals: int,
    activities_per_deal: float,
    keep: str | None = None,
    warehouses: tuple[str, ...] = WAREHOUSES,
    changed_share: float = 0.01,
    reuse_warehouse: bool = False,
) -> list[dict[str, Any]]:
    folder = Path(keep or tempfile.mkdtemp(prefix="hub-bench-transform-"))
    export, generated = ensure_export(folder / "export", deals, activities_per_deal)
    out = [emit({"bench": "transform", "step": "export", **generated})]
    server = pg_server()
    for kind in warehouses:
        if kind == "postgres" and server is None:
            out.append(
                emit(
                    {
                        "bench": "transform",
                        "warehouse": kind,
                        "skipped": "no PostgreSQL server: set HUB_BENCH_PG_HOST, _PORT, _USER, "
                        "_PASSWORD",
                    }
                )
            )
            continue
        out += run_warehouse(kind, folder / kind, export, server, changed_share, reuse_warehouse)
    return out


def ensure_export(
    export: Path, deals: int, activities_per_deal: float
) -> tuple[Path, dict[str, Any]]:
    """Generate the CSV export once per size; a kept folder with the same size is reused."""
    from hub.generate import generate

    marker = export / ".bench-size"
    wanted = f"{deals} {activities_per_deal} seed=1"
    if marker.exists() and marker.read_text() == wanted:
        return export, {"reused": str(export), "deals": deals}
    shutil.rmtree(export, ignore_errors=True)
    started = time.perf_counter()
    generated = generate(export, seed=1, deals=deals, activities_per_deal=activities_per_deal)
    marker.write_text(wanted)
    return export, {
        "seconds": round(time.perf_counter() - started, 1),
        "rows": generated.export.row_counts,
    }


def run_warehouse(
    kind: str,
    folder: Path,
    export: Path,
    server: PgServer | None,
    changed_share: float,
    reuse_warehouse: bool = False,
) -> list[dict[str, Any]]:
    reuse = reuse_warehouse and (folder / "hub.yml").exists()
    config = folder / "hub.yml" if reuse else prepare_folder(kind, folder, export, server)
    pin_as_of(config)
    env = {"HUB_BENCH_PG_PASSWORD": server.password} if server else {}
    os.environ.update(env)  # the profile is read back from here too
    out: list[dict[str, Any]] = []
    full_s: float | None = None
    steps: list[tuple[str, list[str]]] = [
        ("build", ["pull"]),
        ("full_transform", ["transform", "--full-refresh"] if reuse else ["transform"]),
        ("no_change_sync", ["sync"]),
        ("changed_sync", ["sync"]),
    ]
    for step, command in steps[1:] if reuse else steps:
        extra: dict[str, Any] = {"reused_warehouse": True} if reuse else {}
        if step == "changed_sync":
            extra["changed"] = change_open_deals(
                folder / "data", changed_share, seed=_change_seed(folder)
            )
        if step == "full_transform" and reuse:
            empty_score_caches(config)
        load_before = _load()
        measured = run_measured(
            [*hub_executable(), *command, "--profile", "--config", str(config)],
            cwd=folder,
            env=env,
        )
        record: dict[str, Any] = {
            "bench": "transform",
            "warehouse": kind,
            "step": step,
            "command": "hub " + " ".join(command),
            "seconds": measured.seconds,
            "hub_cpu_s": measured.cpu_s,  # the hub process only: PostgreSQL works in its own
            "peak_rss_mb": measured.peak_rss_mb,
            "exit": measured.returncode,
            "load_avg_before": load_before,
            "load_avg_after": _load(),
            **extra,
        }
        if step == "full_transform":
            full_s = measured.seconds
        if step in TARGETS and full_s:
            record["ratio_to_full"] = round(measured.seconds / full_s, 3)
            record["target"] = TARGETS[step]
        if measured.returncode != 0:
            record["output_tail"] = measured.stdout[-2000:]
            out.append(emit(record))
            break
        record.update(profile_summary(config))
        out.append(emit(record))
    return out


def _change_seed(folder: Path) -> int:
    """7 for a fresh warehouse, one more for each change an earlier run made to the kept
    data (so a reused warehouse changes other deals and gives new deals new ids)."""
    rounds = folder / ".bench-changes"
    done = int(rounds.read_text()) if rounds.exists() else 0
    rounds.write_text(str(done + 1))
    return 7 + done


def pin_as_of(config: Path) -> None:
    """as_of at noon of the export's last day, after the morning's changes (bench.changes)."""
    hub_yml = yaml.safe_load(config.read_text(encoding="utf-8"))
    hub_yml["as_of"] = AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
    config.write_text(yaml.safe_dump(hub_yml, sort_keys=False), encoding="utf-8")


def empty_score_caches(config: Path) -> None:
    """Forget fitted score models, so a reused warehouse's full transform fits like a first."""
    import sqlalchemy as sa

    from hub.score.tables import hub_score_input_keys, hub_score_models
    from hub.warehouse import Warehouse
    from models.config import load_config

    warehouse = Warehouse(load_config(config))
    with warehouse.connect() as conn:
        for table in (hub_score_input_keys, hub_score_models):
            if sa.inspect(conn).has_table(table.name, schema=table.schema):
                conn.execute(table.delete())


def _load() -> list[float]:
    return [round(x, 1) for x in os.getloadavg()]


def prepare_folder(kind: str, folder: Path, export: Path, server: PgServer | None) -> Path:
    """A fresh hub folder: hard links of the export's files, hub.yml with the deals file
    declared a full snapshot, a new warehouse (DuckDB file or PostgreSQL database)."""
    shutil.rmtree(folder, ignore_errors=True)
    data = folder / "data"
    data.mkdir(parents=True)
    for path in export.iterdir():
        if path.suffix == ".csv":
            _link_or_copy(path, data / path.name)
    hub_yml = yaml.safe_load((export / "hub.yml").read_text(encoding="utf-8"))
    for source in hub_yml["sources"]:
        for table, options in source["options"].items():
            options["path"] = str(data / Path(options["path"]).name)
            if table == "deals":
                options["full_snapshot"] = True
    if kind == "postgres":
        assert server is not None
        fresh_pg_database(server)
        hub_yml["warehouse"] = {
            "kind": "postgres",
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "database": PG_DATABASE,
            "password": "env:HUB_BENCH_PG_PASSWORD",
        }
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(hub_yml, sort_keys=False), encoding="utf-8")
    return path


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def fresh_pg_database(server: PgServer) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(
        sa.URL.create(
            "postgresql+psycopg2",
            username=server.user,
            password=server.password,
            host=server.host,
            port=server.port,
            database="postgres",
        ),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {PG_DATABASE}"))
    engine.dispose()


def profile_summary(config: Path) -> dict[str, Any]:
    """The step's profile as recorded by the hub: top-level steps, slowest models, tests."""
    from hub.profile import DBT_PARENT, latest
    from models.config import load_config

    profile = latest(load_config(config))
    if profile is None:
        return {}
    nodes = [s for s in profile.steps if s.parent == DBT_PARENT]
    models = sorted((s for s in nodes if s.name.startswith("model ")), key=lambda s: -s.seconds)
    tests = [s for s in nodes if s.name.startswith("test ")]
    return {
        "profile": {s.name: round(s.seconds, 1) for s in profile.steps if s.parent is None},
        "models": len(models),
        "models_seconds": round(sum(s.seconds for s in models), 1),
        "tests": len(tests),
        "tests_seconds": round(sum(s.seconds for s in tests), 1),
        "slowest_models": {s.name[6:]: round(s.seconds, 1) for s in models[:SHOWN_MODELS]},
    }
