"""Pull: one dlt pipeline per source into ``src_<source_name>``, then the connector's post-load
steps and the hub's observations.

A source that fails does not stop the others; each gets a row in ``hub_runs`` with rows per
table, requests per endpoint, 429s, retries, quarantined records and its duration. A
source that ran out of API budget is ``stopped``, not ``failed``: its dlt state is saved
and the next run continues where it left off.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed

from connectors.base import SourceContext
from connectors.http import RequestStats
from connectors.registry import get_connector
from hub import packages
from hub.locks import hold, pipeline_lock
from hub.profile import dlt_step_seconds, timed
from hub.warehouse import Warehouse, dataset_name, hub_runs
from hub.warehouse.damaged import damaged_error, find_damage, warehouse_file
from hub.warehouse.disk import DiskFull, FullDisk, dir_bytes, disk_full_error, find_disk_full, mb
from hub.warehouse.meta import ensure_hub_tables
from hub.warehouse.observations import record_observations
from hub.warehouse.quarantine import drop_reloaded, drop_requarantined
from models.config import HubConfig, SourceConfig, check_datasets_with_dlt
from models.errors import ConfigError, HubError, QuotaExhausted, SourceError

log = logging.getLogger(__name__)

RunStatus = str  # "ok" | "stopped" | "failed"


@dataclass
class SourceRun:
    source_name: str
    crm: str
    status: RunStatus = "ok"
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    observations: int = 0
    stats: RequestStats = field(default_factory=RequestStats)
    duration_s: float = 0.0
    error: str | None = None
    recovered_packages: int = 0  # load packages an interrupted run left, finished first
    notes: list[str] = field(default_factory=list)  # the connector's ctx.notes
    traceback: str | None = None  # of a failure, tokens scrubbed; shown by 'hub --debug'
    set_aside_packages: int = 0  # broken load packages moved out; the source was re-read
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step (hub.profile)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def pipeline_for(config: HubConfig, warehouse: Warehouse, source_name: str) -> dlt.Pipeline:
    pipelines_dir = config.hub_dir / "pipelines"
    packages.discard_torn_files(pipelines_dir / f"hub_{source_name}")
    return dlt.pipeline(
        pipeline_name=f"hub_{source_name}",
        destination=warehouse.dlt_destination(),
        dataset_name=dataset_name(source_name),
        pipelines_dir=str(pipelines_dir),
    )


def _unwrap(exc: BaseException) -> BaseException:
    """dlt wraps what a resource raised; the hub's own errors carry the real message. For
    anything else the innermost cause says what went wrong (dlt's wrapper's first line is
    only "Pipeline execution failed at step=extract ... with exception:"). The chain is
    followed by cause, and by context only out of dlt's own exceptions: the context of the
    error a resource raised is whatever it interrupted (dlt's extract loop raises it while
    handling a generator's StopIteration), not what went wrong."""
    seen: BaseException | None = exc
    innermost = exc
    while seen is not None:
        if isinstance(seen, HubError):
            return seen
        innermost = seen
        if seen.__cause__ is not None:
            seen = seen.__cause__
        elif type(seen).__module__.split(".")[0] == "dlt":
            seen = seen.__context__
        else:
            break
    return innermost


def pull_source(
    config: HubConfig,
    source: SourceConfig,
    *,
    warehouse: Warehouse,
    run_id: str,
    full_refresh: bool = False,
) -> SourceRun:
    """Pull one source, holding its pipeline's lock (``hub.locks``)."""
    with hold(pipeline_lock(config, source.name), "pull"):
        return _pull_source(
            config, source, warehouse=warehouse, run_id=run_id, full_refresh=full_refresh
        )


def _pull_source(
    config: HubConfig,
    source: SourceConfig,
    *,
    warehouse: Warehouse,
    run_id: str,
    full_refresh: bool,
) -> SourceRun:
    started = datetime.now(UTC)
    clock_start = time.perf_counter()
    run = SourceRun(source.name, source.kind)
    ctx: SourceContext | None = None
    try:
        connector = get_connector(source.kind)
        pipeline = pipeline_for(config, warehouse, source.name)
        with timed(run.steps, "pending packages"), warehouse.loading():
            recovery = packages.prepare(
                pipeline, config.hub_dir / "set-aside" / source.name, full_refresh=full_refresh
            )
        run.recovered_packages = recovery.finished
        run.set_aside_packages = len(recovery.set_aside)
        ctx = connector.context(
            config, source, run_started_at=started, full_refresh=full_refresh or recovery.refresh
        )
        run.stats = ctx.stats
        run.notes = ctx.notes
        ctx.warehouse_connect = warehouse.connect
        if recovery.set_aside:
            ctx.stats.warnings.append(
                f"set aside {len(recovery.set_aside)} broken load package(s) "
                f"({'; '.join(recovery.set_aside)}) in {recovery.folder}: a run killed or "
                "run at the same time left them; the source was re-read in full"
            )
        # DuckDB loads parquet files several times faster, and in a fraction of the memory,
        # than the SQL insert statements dlt writes by default. PostgreSQL's destination
        # chooses its own (COPY of CSV files, hub.warehouse.pg_copy), table by table.
        file_format: Any = "parquet" if warehouse.kind == "duckdb" else None
        with warehouse.loading():
            pipeline.run(connector.build_source(ctx), loader_file_format=file_format)
        packages.prune_loaded(Path(pipeline.working_dir))
        trace = pipeline.last_trace
        run.steps.update(dlt_step_seconds(trace))
        normalize_info = trace.last_normalize_info if trace else None
        counts = dict(normalize_info.row_counts) if normalize_info else {}
        run.rows = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
        for table, n in ctx.rows_written.items():  # written by the connector itself
            run.rows[table] = run.rows.get(table, 0) + n
        run.quarantined = run.rows.pop("quarantine", 0)
        with timed(run.steps, "after load"), warehouse.connect() as conn:
            # Steps the connector asked for (ctx.after_load) see the loaded tables first, so
            # the observations skip what they changed (e.g. deals they marked deleted).
            for step in ctx.post_load:
                step(conn, dataset_name(source.name))
            dropped = drop_reloaded(conn, source.name) + drop_requarantined(conn, source.name)
            run.quarantined = max(0, run.quarantined - dropped)
            run.observations = record_observations(conn, source.name, started)
        if ctx.stop_reason:
            run.status = "stopped"
            run.error = ctx.stop_reason
    except ConfigError:
        raise
    except Exception as exc:
        full = find_disk_full(exc)
        if full is not None:
            run.status, run.error = "failed", f"{source.name}: disk full"
            raise _pull_disk_full(config, warehouse, source.name, full) from None
        damage = find_damage(exc)
        if damage is not None:  # every later source would meet it too: stop here
            run.status, run.error = "failed", f"{source.name}: warehouse damaged"
            raise damaged_error(warehouse_file(config), damage) from None
        if isinstance(exc, PipelineStepFailed):
            _fail(run, _unwrap(exc), ctx)
        elif isinstance(exc, HubError):
            _fail(run, exc, ctx)
        else:
            raise
    run.duration_s = time.perf_counter() - clock_start
    _log_run(warehouse, run_id, "pull", run, started)
    return run


# A load writes a package's rows several times, uncompressed where the package's parquet
# is compressed: into dlt's staging dataset, merged into the tables, each through DuckDB's
# write-ahead log, then the checkpoint. Measured on a 5,000-deal CSV pull: 19.7 MB at the
# peak for a 1.1 MB package (tests/reliability/test_disk_full.py checks the estimate).
LOAD_SPACE_FACTOR = 20


def _pull_disk_full(
    config: HubConfig, warehouse: Warehouse, source_name: str, full: FullDisk
) -> DiskFull:
    pipeline_dir = config.hub_dir / "pipelines" / f"hub_{source_name}"
    waiting = packages.pending_packages(pipeline_dir)
    package_bytes = dir_bytes(p.path for p in waiting)
    return disk_full_error(
        full,
        fallback=pipeline_dir,
        step=f"the pull of {source_name}",
        needed_bytes=package_bytes * LOAD_SPACE_FACTOR,
        need_note=f"{LOAD_SPACE_FACTOR} x its {mb(package_bytes)} of load packages",
        kept=(
            "nothing is lost: the marts are as they were, and the next pull finishes loading "
            "what this one pulled"
        ),
    )


def _fail(run: SourceRun, exc: BaseException, ctx: SourceContext | None) -> None:
    if isinstance(exc, ConfigError):
        raise exc
    run.status = "stopped" if isinstance(exc, QuotaExhausted) else "failed"
    message = str(exc) if isinstance(exc, HubError) else f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(exc))
    if ctx is not None:
        for secret in ctx.secrets.revealed:
            message = message.replace(secret, "***")
            trace = trace.replace(secret, "***")
    run.traceback = trace
    if not isinstance(exc, HubError):
        message = f"{run.source_name}: unexpected {message.splitlines()[0][:300]}"
        if "Out of Memory Error" in message:  # DuckDB's; dlt's load and the CSV merges
            now = f" (now {ctx.config.warehouse.memory_limit})" if ctx is not None else ""
            message += (
                f"; DuckDB ran out of memory: raise warehouse.memory_limit in hub.yml{now} "
                "and pull again (nothing is lost)"
            )
    run.error = message


def _log_run(
    warehouse: Warehouse, run_id: str, command: str, run: SourceRun, started: datetime
) -> None:
    try:
        _insert_run(warehouse, run_id, command, run, started)
    except Exception as exc:
        full = find_disk_full(exc)
        if full is None:
            raise
        raise _pull_disk_full(warehouse.config, warehouse, run.source_name, full) from None


def _insert_run(
    warehouse: Warehouse, run_id: str, command: str, run: SourceRun, started: datetime
) -> None:
    with warehouse.connect() as conn:
        ensure_hub_tables(conn)
        conn.execute(
            hub_runs.insert(),
            {
                "run_id": run_id,
                "command": command,
                "source_name": run.source_name,
                "crm": run.crm,
                "started_at": started,
                "finished_at": datetime.now(UTC),
                "status": run.status,
                "rows_json": json.dumps(run.rows, sort_keys=True),
                "requests_json": json.dumps(run.stats.by_endpoint(), sort_keys=True),
                "requests_total": run.stats.total,
                "retries": run.stats.retries,
                "throttled": run.stats.throttled,
                "quarantined": run.quarantined,
                "duration_s": round(run.duration_s, 3),
                "warnings": "\n".join(run.stats.warnings) or None,
                "error": run.error,
            },
        )


def run_pull(
    config: HubConfig,
    *,
    only: list[str] | None = None,
    full_refresh: bool = False,
    run_id: str | None = None,
    on_source_done: Callable[[SourceRun], None] | None = None,
    on_source_start: Callable[[SourceConfig], None] | None = None,
) -> list[SourceRun]:
    """Pull every enabled source (or those named in ``only``)."""
    warehouse = Warehouse(config)
    run_id = run_id or new_run_id()
    selected = [s for s in config.sources if s.enabled and (not only or s.name in only)]
    if only:
        unknown = sorted(set(only) - {s.name for s in config.sources})
        if unknown:
            raise ConfigError(
                f"no source named {', '.join(unknown)}; configured: "
                f"{', '.join(s.name for s in config.sources) or '(none)'}"
            )
    if not selected:
        raise ConfigError("no enabled sources to pull; add one under 'sources:' in hub.yml")
    check_datasets_with_dlt(config)  # loading config checked plain names without dlt
    with hold(warehouse.run_lock(), "pull"):
        _check_warehouse(config, warehouse)
        results = []
        for source in selected:
            if on_source_start:
                on_source_start(source)
            result = pull_source(
                config, source, warehouse=warehouse, run_id=run_id, full_refresh=full_refresh
            )
            results.append(result)
            if on_source_done:
                on_source_done(result)
    return results


def _check_warehouse(config: HubConfig, warehouse: Warehouse) -> None:
    try:
        warehouse.check()
    except Exception as exc:
        full = find_disk_full(exc)
        if full is None:
            raise
        raise disk_full_error(
            full,
            fallback=config.hub_dir,
            step="the pull",
            needed_bytes=None,
            need_note="",
            kept="nothing is lost: the warehouse is as it was",
        ) from None


def overall_exit_code(results: list[SourceRun]) -> int:
    if all(r.status == "ok" for r in results):
        return 0
    if any(r.status == "ok" for r in results):
        return SourceError.exit_code
    return 1
