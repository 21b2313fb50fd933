"""``hub status``: the last runs per source, from ``hub_runs`` and the quarantine tables, and
what the hub did with deals whose CRM gave no creation date (from the deals mart), and
whether the marts are one complete build (``hub_transforms``)."""

from __future__ import annotations

import json
import re
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


MARTS = "analytics"  # the schema dbt builds the marts in (dbt_project.yml)

# Where the deals mart says a creation instant came from, when the CRM gave none
# (int_deal_created; docs/metrics.md "Creation"), in the order the message names them.
INFERRED_FROM = {
    "first_stage_event": "their first stage event",
    "first_activity": "their first activity",
    "closed_at": "their close date",
}


@dataclass(frozen=True)
class UndatedDeals:
    """Deals (not deleted) whose CRM gave no creation date, by what the hub did instead."""

    inferred: dict[str, int]  # created_at_source (INFERRED_FROM) -> deals
    first_seen: int  # no dated fact: counted in the current pipeline from when first seen
    unplaced: int  # nothing dates them, never observed nor loaded with a time: left out

    @property
    def total(self) -> int:
        return sum(self.inferred.values()) + self.first_seen + self.unplaced

    def describe(self) -> str | None:
        """One line for `hub sync` and `hub status`; None when every deal had a date."""
        if not self.total:
            return None
        parts = [
            f"{n:,} dated from {INFERRED_FROM[source]}" for source, n in self.inferred.items() if n
        ]
        if self.first_seen:
            parts.append(
                f"{self.first_seen:,} with no dated fact count in the current pipeline (board, "
                "forecast, coverage, stalled) from when the hub first saw them and are left "
                "out of cohort and period metrics"
            )
        if self.unplaced:
            parts.append(f"{self.unplaced:,} with nothing to date them are left out")
        return (
            f"{self.total:,} deal(s) had no creation date: {'; '.join(parts)} "
            "(analytics.deals.created_at_source)"
        )


def undated_deals(config: HubConfig) -> UndatedDeals | None:
    """From the deals mart; None before the first transform built it."""
    warehouse = Warehouse(config)
    if not warehouse.exists():
        return None
    with warehouse.connect() as conn:
        built = conn.execute(
            sa.text(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = :schema "
                "AND table_name = 'deals' AND column_name = 'created_at_source'"
            ),
            {"schema": MARTS},
        ).scalar()
        if not built:
            return None
        rows = conn.execute(
            sa.text(
                "SELECT coalesce(created_at_source, 'none') AS source, count(*) AS n "
                f"FROM {MARTS}.deals WHERE NOT is_deleted "
                "AND coalesce(created_at_source, 'none') <> 'crm' GROUP BY 1"
            )
        ).all()
    counts: dict[str, int] = {str(source): int(n) for source, n in rows}  # type: ignore[call-overload]
    return UndatedDeals(
        inferred={source: counts.get(source, 0) for source in INFERRED_FROM},
        first_seen=counts.get("first_seen", 0),
        unplaced=counts.get("none", 0),
    )


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
