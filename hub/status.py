"""``hub status``: the last runs per source, from ``hub_runs`` and the quarantine tables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from hub.warehouse import Warehouse, dataset_name, hub_runs
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


def natural_key(text: str | None) -> tuple[tuple[int, int | str], ...]:
    """Sort key that reads numbers as numbers: ``deals.csv:9`` before ``deals.csv:10``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in re.split(r"(\d+)", text or "")
        if part
    )


@dataclass(frozen=True)
class QuarantineGroup:
    """Quarantined records sharing one reason, in line order."""

    reason: str
    rows: list[dict[str, Any]]


def quarantine_groups(
    config: HubConfig, source_name: str, limit: int
) -> tuple[list[QuarantineGroup], int]:
    """The first ``limit`` quarantined records of a source in the natural order of their
    location (file and line), grouped by identical reason (groups in order of their first
    record), and how many records the source holds in all."""
    warehouse = Warehouse(config)
    schema = dataset_name(source_name)
    if not warehouse.exists():
        return [], 0
    with warehouse.connect() as conn:
        if not has_table(conn, schema, "quarantine"):
            return [], 0
        result = conn.execute(
            sa.text(f"SELECT entity, location, column_name, value, reason FROM {schema}.quarantine")
        )
        rows = [dict(r) for r in result.mappings()]
    rows.sort(key=lambda r: (natural_key(r["location"]), r["column_name"] or ""))
    groups: dict[str, QuarantineGroup] = {}
    for row in rows[: max(0, limit)]:
        reason = row["reason"] or ""
        groups.setdefault(reason, QuarantineGroup(reason, [])).rows.append(row)
    return list(groups.values()), len(rows)
