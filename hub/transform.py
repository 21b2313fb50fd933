"""Transform: write hub.yml's stage map and rates into the warehouse, then run dbt.

dbt runs in-process (``dbtRunner``) against the hub's dbt project (``hub.dbt_project``),
its ``profiles.yml`` pointed at the configured warehouse through environment variables;
dbt's target/ and logs/ go to ``.hub/dbt/`` beside hub.yml, never into the package or the
working directory. Every mart is computed at ``as_of`` (hub.yml, else the run's start),
passed as a var, so rebuilding on the same data gives the same numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub import dbt_failing_rows, dbt_import, dbt_shared_parse, dbt_skip
from hub.dbt_parse import SAVED_PARSE, parse_key, reuse_args, split_vars
from hub.dbt_project import project_dir
from hub.incremental import BuildPlan, SnapshotAlongside, plan_build, record_complete
from hub.locks import describe_holder, hold
from hub.resolve import reuse, write_resolution
from hub.score.store import write_scores
from hub.warehouse import HUB_SCHEMA, Warehouse, stage_map_rows
from hub.warehouse.builds import finish_build, last_build, last_complete_bytes, start_build
from hub.warehouse.config_tables import write_config_tables, write_quotas
from hub.warehouse.damaged import damage_in_text, damaged_error, warehouse_file
from hub.warehouse.disk import (
    DiskFull,
    FullDisk,
    disk_full_error,
    disk_full_in_text,
    find_disk_full,
    mb,
)
from models.config import HubConfig
from models.errors import HubError


class TransformError(HubError):
    exit_code = 1


DBT_SCHEMAS = ("hub_staging", "analytics", "outbound")  # dbt_project.yml's +schema values
TRANSFORM_LOG_BYTES = (
    12_000_000  # dbt's log and artifacts in .hub/dbt (measured 7.8 MB at 52 models)
)


@dataclass
class TransformResult:
    models: int = 0
    tests: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    compiled: dict[str, str] = field(default_factory=dict)  # model name -> SQL (compile only)
    duration_s: float = 0.0  # dbt's own wall time
    scores_s: float = 0.0  # fitting (or reusing) the deal score and scoring open deals
    after_dbt_s: float = 0.0  # the build record and what the next transform builds on
    as_of: str = ""
    out_of_memory: bool = False  # DuckDB hit its memory limit in at least one node
    models_not_built: int = 0  # models that failed or were skipped: the marts are mixed
    disk_full: FullDisk | None = None  # a node failed for want of disk space
    plan: BuildPlan | None = None  # full or incremental, and why (hub.incremental)
    # (unique_id, execution_time, status) of every node dbt ran, in dbt's order (the
    # profile's per-node lines; dbt writes no run_results.json, see run_dbt)
    nodes: list[tuple[str, float, str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # models not run, with their tests (dbt_skip)


def dbt_vars(
    config: HubConfig, as_of: datetime, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "as_of": as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "sources": [s.name for s in config.sources if s.enabled],
        "base_currency": config.base_currency,
        "response_sla_hours": config.response_sla_hours,
        "hub_schema": HUB_SCHEMA,
        "dimensions": list(config.dimensions),
        **(extra or {}),
    }


@contextmanager
def temporary_environ(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in the environment for the block, then restore what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_quotas(config: HubConfig) -> list[dict[str, Any]]:
    """Optional quotas CSV: owner_email, period_start, period_type, quota (base currency)."""
    if not config.quotas_path:
        return []
    import csv
    from datetime import date

    path = config.resolve_path(config.quotas_path)
    if not path.exists():
        raise HubError(f"{path}: quotas file not found (quotas_path in hub.yml)")
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                rows.append(
                    {
                        "owner_email": (row.get("owner_email") or "").strip().lower() or None,
                        "period_start": date.fromisoformat(row["period_start"].strip()),
                        "period_type": (row.get("period_type") or "month").strip(),
                        "quota_base": float(row["quota"]),
                    }
                )
            except (KeyError, ValueError, AttributeError) as exc:
                raise HubError(
                    f"{path}:{line}: bad quota row ({exc}); columns are owner_email, "
                    "period_start (YYYY-MM-DD), period_type (month/quarter), quota"
                ) from None
    return rows


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open for the life of the process; close it so the
    hub's own connections (other settings, same file) can open it again."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - another adapter
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            try:
                env.close()
            finally:
                DuckDBConnectionManager._ENV = None


def prepare_warehouse(config: HubConfig) -> list[str]:
    """Write hub.yml's tables and the cross-CRM resolution dbt reads; returns warnings."""
    warehouse = Warehouse(config)
    with hold(warehouse.run_lock(), "transform"), warehouse.connect() as conn:
        write_config_tables(conn, config, stage_map_rows(config))
        write_quotas(conn, load_quotas(config))
        digest = reuse.inputs_digest(conn, config)
        kept = reuse.kept_warnings(conn, digest)
        if kept is not None:
            return kept
        warnings = write_resolution(conn, config)
        reuse.keep(conn, digest, warnings)
        return warnings


def run_dbt(
    config: HubConfig,
    args: list[str],
    *,
    as_of: datetime,
    extra_vars: dict[str, Any] | None = None,
    on_node: Callable[[str, str], None] | None = None,
    want_compiled: bool = False,
) -> TransformResult:
    """Run one dbt command (``build``, ``run``, ``compile``...) and summarise its results."""
    dbt_import.finish()
    from dbt.cli.main import dbtRunner

    warehouse = Warehouse(config)
    target_dir = config.hub_dir / "dbt"
    project = project_dir()
    result = TransformResult(as_of=as_of.isoformat())

    def callback(event: Any) -> None:
        if on_node is None:
            return
        if event.info.name == "NodeFinished":
            node = event.data.node_info
            on_node(node.unique_id, node.node_status)

    profiles_dir = warehouse.dbt_profiles_dir or project
    static_vars, run_env = split_vars(dbt_vars(config, as_of, extra_vars))
    dbt_env = warehouse.dbt_env()
    # A profile of the user's own may read settings the hub cannot see: parse every time.
    key = (
        None
        if warehouse.dbt_profiles_dir
        else parse_key(project, profiles_dir, dbt_env, static_vars)
    )
    parse_args = ["--no-partial-parse"] if key is None else reuse_args(target_dir / "target", key)
    shared = (
        None
        if key is None
        else dbt_shared_parse.shared_key(project, profiles_dir, dbt_env, static_vars)
    )
    full_args = [
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(profiles_dir),
        "--target-path",
        str(target_dir / "target"),
        "--log-path",
        str(target_dir / "logs"),
        "--vars",
        json.dumps(static_vars),
        *parse_args,
        # No console logger: the hub prints its own output and discards dbt's stdout, and
        # dbt would still format every event (a line per SQL statement) for it. The file
        # log (.hub/dbt/logs/dbt.log) stays at debug, named: dbt would otherwise follow
        # --log-level there too.
        "--log-level",
        "none",
        "--log-level-file",
        "debug",
        "--quiet",
        # No manifest.json, run_results.json nor graph.gpickle: nothing reads them (the hub
        # takes each node's result from dbtRunner's return value), and dbt serialised its
        # whole manifest (1.8 MB, ~250 nodes and dbt's own macros) twice per run for them,
        # once after loading the saved parse and once at the end. The saved parse
        # (partial_parse.msgpack) is written either way.
        "--no-write-json",
    ]
    started = time.perf_counter()
    # `dbt compile` prints the compiled SQL even with --quiet; the hub prints its own output.
    with (
        temporary_environ({**dbt_env, **run_env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        manifest = None  # another hub folder's parse, when this one has none saved
        if shared is not None and not (target_dir / "target" / SAVED_PARSE).is_file():
            common_args = full_args[len(args) :]
            manifest = dbt_shared_parse.manifest_for(shared, target_dir / "target", common_args)
            _release_duckdb()  # nothing of the other folder's connection may stay open
        outcome = dbtRunner(manifest=manifest, callbacks=[callback]).invoke(full_args)
    result.duration_s = time.perf_counter() - started
    _release_duckdb()
    if outcome.exception is not None:
        raise TransformError(f"dbt could not run: {outcome.exception}")
    if key is not None and shared is not None and manifest is None:
        dbt_shared_parse.offer(shared, target_dir / "target", key, dbt_env)
    combined_failed: list[tuple[int, str]] = []  # (failure index, compiled SQL)
    for node_result in getattr(outcome.result, "results", None) or []:
        node = node_result.node
        status = str(node_result.status)
        result.nodes.append((node.unique_id, float(node_result.execution_time or 0.0), status))
        builds = node.resource_type in ("model", "snapshot", "seed")
        if builds:
            result.models += 1
            result.models_not_built += status in ("error", "skipped")
        elif node.resource_type in ("test", "unit_test"):
            result.tests += 1
        if want_compiled and getattr(node, "compiled_code", None):
            result.compiled[node.name] = node.compiled_code
        if status in ("error", "fail"):
            message = (node_result.message or "").strip().splitlines()
            if status == "fail" and dbt_failing_rows.is_combined_test(node) and node.compiled_code:
                combined_failed.append((len(result.failures), node.compiled_code))
            result.failures.append(f"{node.name}: {_headline(message) or status}")
            result.out_of_memory |= any("Out of Memory Error" in line for line in message)
            result.disk_full = result.disk_full or disk_full_in_text("\n".join(message))
        elif status == "warn":
            result.warnings.append(f"{node.name}: {node_result.message}")
    for index, sql in combined_failed:  # which columns broke the rule
        detail = dbt_failing_rows.describe(warehouse, sql)
        if detail:
            result.failures[index] += f" ({detail})"
    return result


def _headline(lines: list[str]) -> str:
    """What a person needs from dbt's message: its first line, and when that is only dbt's
    generic "Compilation Error in model x" header, the lines that say what is wrong."""
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        return ""
    if " Error in " in lines[0] and len(lines) > 1:
        return " ".join(lines[1:4])
    return lines[0]


def run_transform(
    config: HubConfig,
    *,
    as_of: datetime | None = None,
    select: str | None = None,
    on_node: Callable[[str, str], None] | None = None,
    full_refresh: bool = False,
) -> TransformResult:
    """Rebuild the marts, holding the warehouse's lock, recorded in ``hub_transforms`` from
    start to finish so readers can tell a half-built set (``hub.warehouse.builds``). The
    per-deal models are rebuilt only for the deals that changed unless ``full_refresh``
    (or ``hub.incremental`` finds a reason to rebuild everything)."""
    as_of = as_of or config.effective_as_of(datetime.now(UTC))
    warehouse = Warehouse(config)
    with hold(warehouse.run_lock(), "transform"):
        try:
            return _run_transform(
                config,
                warehouse,
                as_of=as_of,
                select=select,
                on_node=on_node,
                full_refresh=full_refresh,
            )
        except Exception as exc:
            dbt_import.finish()  # a failed plan leaves no import running beside the caller's
            full = find_disk_full(exc)
            if full is None:
                raise
            raise transform_disk_full(config, warehouse, full) from None


def _run_transform(
    config: HubConfig,
    warehouse: Warehouse,
    *,
    as_of: datetime,
    select: str | None,
    on_node: Callable[[str, str], None] | None,
    full_refresh: bool,
) -> TransformResult:
    from hub.push import dbt_vars as push_vars

    warnings = prepare_warehouse(config)
    run_id = "transform-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    forced = "--full-refresh" if full_refresh else ("--select" if select else None)
    with warehouse.connect() as conn:
        plan = plan_build(
            conn,
            project_dir(),
            dbt_vars(config, as_of, push_vars(config)),
            as_of,
            force_full=forced,
            on_build=dbt_import.begin,
        )
        # Incremental after a passing build: staging models over tables unchanged since then.
        skipped = (
            dbt_skip.left_out(conn, project_dir(), plan.unchanged_tables, DBT_SCHEMAS)
            if plan.test_changed_only and not plan.full and not plan.skip and not select
            else []
        )
        start_build(
            conn,
            run_id=run_id,
            as_of=as_of.isoformat(),
            selection=select,
            holder=describe_holder("transform"),
        )
    if plan.skip:
        _finish(warehouse, run_id, "unchanged", 0, 0, None)
        return TransformResult(as_of=as_of.isoformat(), warnings=warnings, plan=plan)
    # Unit tests check the SQL, not the data: the test suite runs them, every sync need not.
    args = ["build", "--exclude", "test_type:unit", *skipped]
    args += ["--select", select] if select else []
    args += ["--full-refresh"] if plan.full else []
    built = 0

    def count(node_id: str, status: str) -> None:
        nonlocal built
        built += status == "success" and node_id.startswith(("model.", "seed.", "snapshot."))
        if on_node is not None:
            on_node(node_id, status)

    extra_vars = {
        **push_vars(config),
        "hub_changed_deals": not plan.full,
        "hub_test_changed_deals": plan.test_changed_only,
        "hub_test_unchanged_tables": list(plan.unchanged_tables),
    }
    try:
        result = run_dbt(config, args, as_of=as_of, extra_vars=extra_vars, on_node=count)
    except BaseException as exc:
        _finish(warehouse, run_id, "failed" if built else "unchanged", built, 0, str(exc))
        raise
    result.warnings[:0] = warnings
    result.plan = plan
    result.left_out = skipped
    if result.failures:
        status = "failed" if result.models_not_built else "tests_failed"
        _finish(
            warehouse, run_id, status, built, result.models_not_built, "; ".join(result.failures)
        )
        if status == "tests_failed" and not select:
            _record_complete(warehouse, plan, as_of)
        if result.disk_full is not None:
            raise transform_disk_full(config, warehouse, result.disk_full)
        damage = next(filter(None, map(damage_in_text, result.failures)), None)
        if damage is not None:
            raise damaged_error(warehouse_file(config), damage)
        shown = "; ".join(result.failures[:5])
        more = f" (+{len(result.failures) - 5} more)" if len(result.failures) > 5 else ""
        raise TransformError(
            f"dbt build: {len(result.failures)} model(s) or test(s) failed: {shown}{more}; "
            + (
                "DuckDB ran out of memory: raise warehouse.transform_memory_limit in hub.yml "
                f"(now {config.warehouse.transform_memory_limit}); "
                if result.out_of_memory
                else ""
            )
            + f"details in {config.hub_dir / 'dbt' / 'logs' / 'dbt.log'}"
        )
    snapshot = SnapshotAlongside(warehouse, plan) if not select else None
    try:
        scoring_started = time.perf_counter()
        result.warnings += write_scores(config, warehouse, as_of).warnings
        result.scores_s = time.perf_counter() - scoring_started
    except BaseException as exc:  # the scores tables may be half-written: not a complete set
        if snapshot is not None:
            snapshot.taken()  # no query of this run outlives it
        _finish(warehouse, run_id, "failed", built, 0, f"deal scores: {exc}")
        raise
    finishing = time.perf_counter()
    _finish(warehouse, run_id, "ok", built, 0, None)
    if snapshot is not None:
        _record_complete(warehouse, plan, as_of, snapshot_taken=snapshot.taken())
    result.after_dbt_s = time.perf_counter() - finishing
    return result


def _record_complete(
    warehouse: Warehouse, plan: BuildPlan, as_of: datetime, *, snapshot_taken: bool = False
) -> None:
    """Keep what the next transform builds on; without it (a full disk) the next is full."""
    try:
        with warehouse.connect() as conn:
            record_complete(conn, plan, as_of, snapshot_taken=snapshot_taken)
    except Exception as exc:
        if find_disk_full(exc) is None:
            raise


def _finish(
    warehouse: Warehouse,
    run_id: str,
    status: str,
    built: int,
    not_built: int,
    error: str | None,
) -> None:
    """Record how the transform ended; a full disk may refuse even that, and then the row
    stays 'running', which readers also take for a half-built set."""
    size = warehouse.relations_bytes(DBT_SCHEMAS) if status in ("ok", "tests_failed") else None
    try:
        with warehouse.connect() as conn:
            finish_build(
                conn,
                run_id,
                status=status,
                models_built=built,
                models_not_built=not_built,
                built_bytes=size,
                error=error,
            )
    except Exception as exc:
        if find_disk_full(exc) is None:
            raise


def transform_disk_full(config: HubConfig, warehouse: Warehouse, full: FullDisk) -> DiskFull:
    """Each model is written whole before the old one is dropped, through the warehouse's
    write-ahead log: measured, a transform needs up to about twice what the models take
    (as recorded after the last complete transform, or as they are now)."""
    dbt_dir = config.hub_dir / "dbt"
    try:
        with warehouse.connect() as conn:
            build, recorded = last_build(conn), last_complete_bytes(conn)
    except Exception:  # noqa: BLE001 - only the estimate and a nuance depend on it
        build, recorded = None, None
    models = max(recorded or 0, warehouse.relations_bytes(DBT_SCHEMAS) or 0)
    mixed = build is not None and not build.complete
    return disk_full_error(
        full,
        fallback=dbt_dir,
        step="the transform",
        needed_bytes=2 * models + TRANSFORM_LOG_BYTES if models else None,
        need_note=f"2 x the {mb(models)} the models take, plus dbt's log",
        kept=(
            "the pulled data is unchanged; the marts are half-built, and 'hub report' refuses "
            "them until a transform completes"
            if mixed
            else "the pulled data and the marts are unchanged"
        ),
    )
