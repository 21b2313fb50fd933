"""Where a run's time went: seconds per step of ``hub pull``, ``hub transform`` and ``hub sync``.

Steps, in the order they ran, sum to the command's wall time: per source dlt's own
``extract``, ``normalize`` and ``load`` (from the pipeline's trace), the hub's work around
them (pending load packages before, post-load steps, quarantine and observations after);
the transform's preparation (hub.yml tables, account and duplicate resolution, the changed
deals, the build record), dbt itself, the deal scores and the work after dbt; ``other`` is what
no step covers. When the command is its own process (``hub ...``, not a test's in-process
call), the first step is its start-up: from the process's start (its start time in ``/proc``,
against the same boot clock) to the moment hub.yml was loaded, which covers the interpreter,
the imports and reading hub.yml; the total then is the process's wall time up to the end. Under
``dbt``, each model and test with dbt's own ``execution_time`` (from dbt's results); dbt runs
two nodes at a time, so they add up to more than dbt's wall time.

Every pull, transform and sync records its profile in ``hub_meta.hub_profile`` (the last
``KEEP_RUNS`` runs), so an hour that went somewhere can be looked up afterwards
(``hub status --profile``); ``--profile`` prints it when the command ends.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub.warehouse import HUB_SCHEMA, Warehouse
from hub.warehouse.meta import ensure_hub_tables, has_table
from models.config import HubConfig

KEEP_RUNS = 100  # profiles kept in hub_profile; older runs are deleted on insert
DBT_PARENT = "transform: dbt"
# The build recorded complete, and what the next transform compares with: after a full build
# the snapshot of every deal's inputs (hub.warehouse.changes), taken once dbt built staging.
AFTER_DBT = "transform: after dbt (build record, input snapshot for the next run)"
START_UP = "start-up (imports, hub.yml)"
STAGE_WARNINGS = "sync: unmapped-stage warnings (native stages read back)"

profile_metadata = sa.MetaData(schema=HUB_SCHEMA)
hub_profile = sa.Table(
    "hub_profile",
    profile_metadata,
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("command", sa.String, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("step", sa.String, nullable=False),
    sa.Column("parent", sa.String),  # None: a top-level step (they sum to the total)
    sa.Column("seconds", sa.Double, nullable=False),
    sa.Column("detail", sa.String),
)


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    parent: str | None = None
    detail: str = ""


@contextmanager
def timed(steps: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall time to ``steps[name]`` (even when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - started


def dlt_step_seconds(trace: Any) -> dict[str, float]:
    """Seconds per step (extract, normalize, load) of a dlt pipeline's last trace."""
    out: dict[str, float] = {}
    for step in getattr(trace, "steps", None) or []:
        if step.step in ("extract", "normalize", "load") and step.finished_at:
            seconds = (step.finished_at - step.started_at).total_seconds()
            out[step.step] = out.get(step.step, 0.0) + seconds
    return out


def process_age_s() -> float | None:
    """Seconds since this process started, or None where that cannot be read.

    Linux gives a process's start in clock ticks since boot (``/proc/self/stat``, field 22,
    taken at its fork), on the clock ``CLOCK_BOOTTIME`` reads, so the difference is the
    process's wall time so far, to a tick (10 ms). Elsewhere there is no such record without
    psutil; CPU time (``time.process_time``) would understate a start that waits on disk."""
    try:
        fields = Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # fields[0] is field 3
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@dataclass
class Profile:
    """One command's steps; ``finish`` closes it with ``other`` and ``total``. ``startup_s``:
    the process's time before this profile was made (start-up), when it is known."""

    command: str
    run_id: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    )
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    steps: list[Step] = field(default_factory=list)
    startup_s: float | None = None
    _clock: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.startup_s is not None:  # the run started when the process did
            self.started_at -= timedelta(seconds=self.startup_s)
            self.add(START_UP, self.startup_s)

    def add(self, name: str, seconds: float, parent: str | None = None, detail: str = "") -> None:
        self.steps.append(Step(name, max(0.0, seconds), parent, detail))

    def add_pull(self, runs: list[Any]) -> None:
        """Each source's steps (``SourceRun.steps``) and the rest of its run."""
        for run in runs:
            named = dict(run.steps)
            for name, seconds in named.items():
                self.add(f"pull {run.source_name}: {name}", seconds, detail=run.status)
            rest = run.duration_s - sum(named.values())
            self.add(f"pull {run.source_name}: other", rest, detail="connector setup, run log")

    def add_transform(
        self,
        wall_s: float,
        dbt_s: float,
        scores_s: float,
        nodes: list[tuple[str, float, str]],
        after_dbt_s: float = 0.0,
    ) -> None:
        """The transform's work before dbt, dbt's wall time and, under it, each node's time
        (``(unique_id, execution_time, status)``, ``TransformResult.nodes``), then the deal
        scores and the hub's work after dbt."""
        self.add(
            "transform: hub.yml tables, resolution, changed deals, build record",
            wall_s - dbt_s - scores_s - after_dbt_s,
        )
        self.add(DBT_PARENT, dbt_s)
        for node_id, seconds, status in nodes:
            self.add(node_label(node_id), seconds, parent=DBT_PARENT, detail=status)
        self.add("transform: deal scores (fit or reuse the model, score open deals)", scores_s)
        self.add(AFTER_DBT, after_dbt_s)

    def top_level(self) -> list[Step]:
        return [s for s in self.steps if s.parent is None and s.name != "total"]

    def finish(self) -> Profile:
        total = time.perf_counter() - self._clock + (self.startup_s or 0.0)
        self.add("other", total - sum(s.seconds for s in self.top_level()))
        self.add("total", total)
        return self


def node_label(unique_id: str) -> str:
    """``model.hub.deals`` -> ``model deals``; a test keeps its name without the hash."""
    kind, _package, *rest = unique_id.split(".")
    name = rest[0] if rest else unique_id
    return f"{kind} {name}"


# ----- the run log ------------------------------------------------------------------------


def record(config: HubConfig, profile: Profile) -> None:
    """Append the profile to ``hub_meta.hub_profile``; keep the last ``KEEP_RUNS`` runs."""
    warehouse = Warehouse(config)
    rows = [
        {
            "run_id": profile.run_id,
            "command": profile.command,
            "started_at": profile.started_at,
            "position": i,
            "step": s.name,
            "parent": s.parent,
            "seconds": round(s.seconds, 3),
            "detail": s.detail or None,
        }
        for i, s in enumerate(profile.steps)
    ]
    with warehouse.connect() as conn:
        ensure_hub_tables(conn)
        profile_metadata.create_all(conn)
        conn.execute(hub_profile.insert(), rows)
        kept = (
            sa.select(hub_profile.c.run_id)
            .group_by(hub_profile.c.run_id)
            .order_by(sa.func.max(hub_profile.c.started_at).desc())
            .limit(KEEP_RUNS)
        )
        conn.execute(hub_profile.delete().where(hub_profile.c.run_id.not_in(kept)))


def latest(config: HubConfig) -> Profile | None:
    """The newest recorded profile, or None when there is none."""
    warehouse = Warehouse(config)
    if not warehouse.exists():
        return None
    with warehouse.connect() as conn:
        if not has_table(conn, HUB_SCHEMA, hub_profile.name):
            return None
        newest = conn.execute(
            sa.select(hub_profile.c.run_id).order_by(hub_profile.c.started_at.desc()).limit(1)
        ).scalar()
        if newest is None:
            return None
        rows = (
            conn.execute(
                sa.select(hub_profile)
                .where(hub_profile.c.run_id == newest)
                .order_by(hub_profile.c.position)
            )
            .mappings()
            .all()
        )
    profile = Profile(rows[0]["command"], rows[0]["run_id"], rows[0]["started_at"])
    profile.steps = [Step(r["step"], r["seconds"], r["parent"], r["detail"] or "") for r in rows]
    return profile


# ----- what --profile prints --------------------------------------------------------------

SHOWN_TESTS = 5  # the slowest dbt tests shown one by one; the rest as one line


def render(profile: Profile) -> Any:
    """A rich table: top-level steps with their share of the total, then every dbt model
    (slowest first) and the slowest tests."""
    from rich.table import Table
    from rich.text import Text

    total = next((s.seconds for s in profile.steps if s.name == "total"), 0.0) or 1e-9
    table = Table("step", "seconds", "share", title=Text(f"profile: hub {profile.command}"))
    for step in profile.top_level():
        table.add_row(Text(step.name), f"{step.seconds:.2f}", f"{step.seconds / total:.0%}")
        if step.name == DBT_PARENT:
            _add_nodes(table, [s for s in profile.steps if s.parent == DBT_PARENT])
    table.add_row(Text("total", style="bold"), f"{total:.2f}", "100%")
    return table


def _add_nodes(table: Any, nodes: list[Step]) -> None:
    from rich.text import Text

    by_time = sorted(nodes, key=lambda s: -s.seconds)
    models = [s for s in by_time if not s.name.startswith("test ")]
    tests = [s for s in by_time if s.name.startswith("test ")]
    for step in models + tests[:SHOWN_TESTS]:
        note = f" ({step.detail})" if step.detail and step.detail not in ("success", "pass") else ""
        table.add_row(Text(f"  {step.name}{note}"), f"{step.seconds:.2f}", "")
    rest = tests[SHOWN_TESTS:]
    if rest:
        seconds = sum(s.seconds for s in rest)
        table.add_row(Text(f"  {len(rest)} more tests"), f"{seconds:.2f}", "")
