"""Which deals an incremental transform rebuilds: a per-deal snapshot of the inputs of the
per-deal dbt models, compared with the one taken at the last complete transform.

The per-deal models (``int_deal_created``, ``int_stage_events_unioned``, ``int_deal_spells``,
``int_deal_activity_stats``; macro ``hub_incremental``) read, per deal, its ``deals`` row,
its ``stage_changes``, ``stage_observations``, activities and load instants. For every deal
this module keeps how many such rows there are and the sum of a hash of each (the columns
those models read), in ``hub_meta.hub_deal_inputs``. A deal is rebuilt when its snapshot
differs (a new, edited or re-dated row, a removed row, a deal gone), whatever wrote the
change: dlt's merge, a connector's after-load SQL, a CSV full-snapshot mark, the hub's
observations. Comparing content rather than dlt load ids also covers the CSV connector, whose
Arrow loads carry no ``_dlt_load_id``, and the rows those steps update or delete in place.

The per-deal models compare a deal's own instants with ``as_of`` (an event counts once it is
at or before ``as_of``) and nothing else there depends on it, so a deal's rows can change
between two builds only when ``as_of`` crosses one of its instants: a deal with an instant
between the last build's ``as_of`` and this one (plus a second: ``first_seen`` is truncated
to the second) is rebuilt too. What moves continuously with ``as_of`` (days in a stage) is
computed on every run outside these models.

DuckDB and PostgreSQL only; other warehouses always rebuild in full.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import column_types, row_hash

STAGING = "hub_staging"  # dbt_project.yml's +schema of staging
INPUTS = f"{HUB_SCHEMA}.hub_deal_inputs"
NEXT_INPUTS = f"{HUB_SCHEMA}.hub_deal_inputs_next"
CHANGED = f"{HUB_SCHEMA}.hub_changed_deals"
SUPPORTED_DIALECTS = ("duckdb", "postgresql")
# PostgreSQL's memory for grouping the snapshot by deal (its default, 4 MB, spilled the groups
# of 300,000 deals to disk: 2.15 -> 1.65 server CPU-s with this).
SNAPSHOT_WORK_MEM = "256MB"

# (staging view, hashed columns, instants compared with as_of, extra filter). The columns are
# those the per-deal models read: a column they start to read must be added here.
_INPUTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        "stg_deals",
        ("source_name", "pipeline_id", "stage_id", "status", "created_at", "closed_at",
         "updated_at", "stage_changed_at"),
        ("created_at", "closed_at", "updated_at", "stage_changed_at"),
        "",
    ),
    (
        "stg_stage_changes",
        ("changed_at", "stage_id", "from_stage_id", "pipeline_id", "origin"),
        ("changed_at",),
        "",
    ),
    ("stg_stage_observations", ("observed_at", "pipeline_id", "stage_id"), ("observed_at",), ""),
    (
        "stg_activities",
        ("occurred_at", "is_deleted", "owner_id"),
        ("occurred_at",),
        "deal_key IS NOT NULL",
    ),
    ("stg_deal_loads", ("loaded_at",), ("loaded_at",), ""),
)  # fmt: skip


def inputs_ready(conn: sa.Connection) -> bool:
    """The staging views the snapshot reads exist (a transform built them before)."""
    return all(has_table(conn, STAGING, view) for view, *_ in _INPUTS) or all(
        view in sa.inspect(conn).get_view_names(schema=STAGING) for view, *_ in _INPUTS
    )


def snapshot_inputs(
    conn: sa.Connection, dialect: str, window: tuple[datetime, datetime] | None
) -> None:
    """Write ``hub_deal_inputs_next``: per deal, n_rows, sum_hash and in_window (an instant
    in ``window``, open at both ends)."""
    types = column_types(conn, [(STAGING, view) for view, *_ in _INPUTS])
    parts = []
    for view, columns, instants, where in _INPUTS:
        flag = "0"
        if window is not None:
            hits = " OR ".join(f"({c} > :lo AND {c} < :hi)" for c in instants)
            flag = f"CASE WHEN {hits} THEN 1 ELSE 0 END"
        typed = dict(types[(STAGING, view)])
        hashed = row_hash(dialect, view, [(c, typed.get(c, "")) for c in columns])
        parts.append(
            f"SELECT deal_key, {hashed} AS h, {flag} AS w "
            f"FROM {STAGING}.{view}" + (f" WHERE {where}" if where else "")
        )
    params = {"lo": window[0], "hi": window[1]} if window else {}
    if dialect == "postgresql":  # for this transaction only
        conn.execute(sa.text(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'"))
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {NEXT_INPUTS}"))
    conn.execute(
        sa.text(
            f"CREATE TABLE {NEXT_INPUTS} AS SELECT deal_key, count(*) AS n_rows, "
            "sum(h) AS sum_hash, max(w) AS in_window FROM ("
            + " UNION ALL ".join(parts)
            + ") AS rows_ GROUP BY deal_key"
        ),
        params,
    )


def as_of_window(previous: datetime, current: datetime) -> tuple[datetime, datetime] | None:
    """Instants t for which ``t <= as_of`` differs between the two builds (naive UTC), widened
    by a second for the instants the models truncate to the second; None when equal."""
    if previous == current:
        return None
    low, high = sorted((_naive_utc(previous), _naive_utc(current)))
    return low, high + timedelta(seconds=1)


def _naive_utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def write_changed(conn: sa.Connection) -> int:
    """``hub_changed_deals`` = deals whose snapshot differs from the last build's, deals gone
    since, and deals with an instant in the as_of window; returns how many."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {CHANGED}"))
    conn.execute(
        sa.text(
            f"CREATE TABLE {CHANGED} AS SELECT coalesce(n.deal_key, o.deal_key) AS deal_key "
            f"FROM {NEXT_INPUTS} AS n FULL OUTER JOIN {INPUTS} AS o ON o.deal_key = n.deal_key "
            "WHERE n.deal_key IS NULL OR o.deal_key IS NULL OR n.n_rows <> o.n_rows "
            "OR n.sum_hash <> o.sum_hash OR n.in_window = 1"
        )
    )
    return int(conn.execute(sa.text(f"SELECT count(*) FROM {CHANGED}")).scalar() or 0)


def has_snapshot(conn: sa.Connection) -> bool:
    return has_table(conn, HUB_SCHEMA, "hub_deal_inputs")


def keep_snapshot(conn: sa.Connection) -> None:
    """The build succeeded: this run's snapshot is the one the next run compares with."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {INPUTS}"))
    conn.execute(sa.text(f"ALTER TABLE {NEXT_INPUTS} RENAME TO hub_deal_inputs"))
