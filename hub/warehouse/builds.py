"""Whether the marts are one complete build: the transform record every reader checks.

dbt replaces one model at a time, so a transform killed (or failed) half-way leaves some
marts new and the rest from the build before, and nothing in the marts says so. Building
into a staging schema and swapping it in would hide that, but DuckDB cannot rename a schema
("Altering schemas is not yet supported"), and moving ~50 tables one by one is no more
atomic than dbt. So ``hub.transform`` records each run in ``hub_meta.hub_transforms``:
``running`` before dbt starts, then ``ok`` (or ``tests_failed``: every model built, a data
test failed), ``failed`` (some model not built) or ``unchanged`` (dbt stopped before
building anything, or was not run because nothing it reads changed: ``hub.incremental``).
A row left ``running`` is a transform that was killed, or one running now. Readers of the marts (``hub report``, ``hub push --apply``) call
:func:`require_complete_build` and refuse a half-built set; ``hub status`` shows it.
The same on DuckDB and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hub.warehouse.meta import ensure_hub_tables, has_table, hub_transforms
from models.errors import WarehouseError

if TYPE_CHECKING:
    from hub.warehouse.backends import Warehouse

COMPLETE = ("ok", "tests_failed")


class IncompleteBuild(WarehouseError):
    """The marts mix two transforms; rebuild them before reading."""


@dataclass(frozen=True)
class Build:
    run_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    as_of: str | None
    selection: str | None
    models_built: int | None
    models_not_built: int | None
    built_bytes: int | None
    holder: str | None
    error: str | None

    @property
    def complete(self) -> bool:
        return self.status in COMPLETE


def start_build(
    conn: sa.Connection, *, run_id: str, as_of: str, selection: str | None, holder: str
) -> None:
    ensure_hub_tables(conn)
    conn.execute(
        hub_transforms.insert(),
        {
            "run_id": run_id,
            "started_at": datetime.now(UTC),
            "status": "running",
            "as_of": as_of,
            "selection": selection,
            "holder": holder,
        },
    )


def finish_build(
    conn: sa.Connection,
    run_id: str,
    *,
    status: str,
    models_built: int,
    models_not_built: int,
    built_bytes: int | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        hub_transforms.update()
        .where(hub_transforms.c.run_id == run_id)
        .values(
            finished_at=datetime.now(UTC),
            status=status,
            models_built=models_built,
            models_not_built=models_not_built,
            built_bytes=built_bytes,
            error=(error or "")[:2000] or None,
        )
    )


def last_build(conn: sa.Connection) -> Build | None:
    """The latest transform that touched the marts (``unchanged`` runs did not)."""
    if not has_table(conn, hub_transforms.schema or "", hub_transforms.name):
        return None
    row = (
        conn.execute(
            sa.select(hub_transforms)
            .where(hub_transforms.c.status != "unchanged")
            .order_by(hub_transforms.c.started_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return Build(**dict(row)) if row else None


def last_complete_bytes(conn: sa.Connection) -> int | None:
    """What the models took on disk after the last complete transform."""
    if not has_table(conn, hub_transforms.schema or "", hub_transforms.name):
        return None
    return conn.execute(
        sa.select(hub_transforms.c.built_bytes)
        .where(hub_transforms.c.status.in_(COMPLETE), hub_transforms.c.built_bytes.is_not(None))
        .order_by(hub_transforms.c.started_at.desc())
        .limit(1)
    ).scalar()


def build_problem(build: Build | None, *, running_now: bool = False) -> str | None:
    """None when the marts are one complete build (or predate the record); else why not."""
    if build is None or build.complete:
        return None
    started = f"started {build.started_at:%Y-%m-%d %H:%M:%S} UTC"
    by = f", {build.holder}" if build.holder else ""
    if build.status == "running" and running_now:
        return (
            f"the marts are being rebuilt right now (transform {started}{by}); "
            "rerun when it has finished"
        )
    if build.status == "running":
        what = "stopped before it finished (killed or crashed)"
    else:
        missing = f"{build.models_not_built} model(s) not built" if build.models_not_built else ""
        cause = (build.error or "").splitlines()[0][:300] if build.error else ""
        what = "failed" + (f" with {missing}" if missing else "") + (f": {cause}" if cause else "")
    return (
        f"the last transform ({started}{by}) {what}; the marts mix that build with the one "
        "before. Run 'hub transform' to rebuild them"
    )


def require_complete_build(conn: sa.Connection, warehouse: Warehouse | Any = None) -> None:
    """Raise :class:`IncompleteBuild` when the marts are not one complete build."""
    build = last_build(conn)
    if build is None or build.complete:
        return
    running_now = False
    if warehouse is not None and build.status == "running":
        from hub.locks import in_use_elsewhere

        running_now = in_use_elsewhere(warehouse.run_lock())
    problem = build_problem(build, running_now=running_now)
    if problem:
        raise IncompleteBuild(problem)
