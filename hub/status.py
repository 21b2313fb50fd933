"""``hub status``: the last runs per source, from ``hub_runs`` and the quarantine tables, and
whether the marts are one complete build (``hub_transforms``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from hub.locks import in_use_elsewhere
from hub.warehouse import Warehouse, dataset_name, hub_runs
from hub.warehouse.builds import build_problem, last_build
from hub.warehouse.meta import has_table
from models.config import HubConfig


@dataclass(frozen=True)
class RunRow:
    """A row of ``hub_runs``, its rows_json read; every other field is the column's."""

    run_id: str
    command: str
    source_name: str | None
    status: str
    started_at: Any
    duration_s: float | None
    rows: dict[str, int]
    requests_total: int | None
    throttled: int | None
    retries: int | None
    quarantined: int | None
    warnings: str | None
    error: str | None


def recent_runs(config: HubConfig, limit: int = 20) -> list[RunRow]:
    warehouse = Warehouse(config)
    if not warehouse.exists():
        return []
    with warehouse.connect() as conn:
        if not has_table(conn, hub_runs.schema or "", hub_runs.name):
            return []
        rows = conn.execute(
            sa.select(hub_runs).order_by(hub_runs.c.started_at.desc()).limit(limit)
        ).mappings()
        columns = [f.name for f in fields(RunRow) if f.name != "rows"]
        return [
            RunRow(rows=json.loads(r["rows_json"] or "{}"), **{c: r[c] for c in columns})
            for r in rows
        ]


def quarantine_counts(config: HubConfig) -> dict[str, int]:
    """Quarantined records per source, all runs."""
    warehouse = Warehouse(config)
    out: dict[str, int] = {}
    if not warehouse.exists():
        return out
    with warehouse.connect() as conn:
        for source in config.sources:
            schema = dataset_name(source.name)
            if has_table(conn, schema, "quarantine"):
                out[source.name] = int(
                    conn.execute(sa.text(f"SELECT count(*) FROM {schema}.quarantine")).scalar() or 0
                )
    return out


def quarantine_sample(config: HubConfig, source_name: str, limit: int = 20) -> list[dict[str, Any]]:
    warehouse = Warehouse(config)
    schema = dataset_name(source_name)
    with warehouse.connect() as conn:
        if not has_table(conn, schema, "quarantine"):
            return []
        result = conn.execute(
            sa.text(
                f"SELECT entity, location, column_name, value, reason FROM {schema}.quarantine "
                f"ORDER BY quarantined_at DESC, location LIMIT {int(limit)}"
            )
        )
        return [dict(r) for r in result.mappings()]


@dataclass(frozen=True)
class MartsState:
    """The last transform that touched the marts, and what is wrong with them (None: fine)."""

    built_at: Any
    as_of: str | None
    problem: str | None


def marts_state(config: HubConfig) -> MartsState | None:
    """None before the first recorded transform."""
    warehouse = Warehouse(config)
    if not warehouse.exists():
        return None
    with warehouse.connect() as conn:
        build = last_build(conn)
    if build is None:
        return None
    running_now = build.status == "running" and in_use_elsewhere(warehouse.run_lock())
    return MartsState(
        build.finished_at or build.started_at,
        build.as_of,
        build_problem(build, running_now=running_now),
    )
