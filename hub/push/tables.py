"""The push journal and the push log, in schema ``hub_meta`` next to the run log.

Both are append-only. ``hub_push_journal`` holds intents: a row per deal and field goes in
*before* the CRM call. ``hub_push_log`` holds outcomes: a row per row per run goes in
*after* it (written, conflict, failed, retryable, interrupted). An intent without an
outcome is the trace of a run that died mid-call; the next run reads the CRM to learn
whether that write landed and logs the outcome under the dead run's id (``written`` if it
landed, ``interrupted`` if it did not and was sent again), so every intent ends with
exactly one outcome.

``row_id`` names one plan row: the change (deal, field, value) as planned from one state
of the journal (:func:`hub.push.journal.row_id`). It is unique in both tables, so two runs
that planned the same change cannot both claim it (the journal insert of the second does
nothing) nor both log its outcome. Rows written before the column existed have none.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.warehouse import HUB_SCHEMA
from hub.warehouse.meta import column_names

metadata = sa.MetaData(schema=HUB_SCHEMA)

_KEY = ("run_id", "source_name", "crm", "deal_key", "deal_id", "field")


def _key_columns() -> list[sa.Column[str]]:
    return [sa.Column(name, sa.String, nullable=False) for name in _KEY]


hub_push_journal = sa.Table(
    "hub_push_journal",
    metadata,
    *_key_columns(),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_id", sa.String),
)

hub_push_log = sa.Table(
    "hub_push_log",
    metadata,
    *_key_columns(),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("model", sa.String),
    sa.Column("modified_at", sa.DateTime(timezone=True)),  # the CRM's time after our write
    sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_id", sa.String),
)


def ensure_tables(conn: sa.Connection) -> None:
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {HUB_SCHEMA}"))
    metadata.create_all(conn)
    for table in (hub_push_journal, hub_push_log):
        _ensure_row_id(conn, table)


def _ensure_row_id(conn: sa.Connection, table: sa.Table) -> None:
    """Add ``row_id`` and its unique index to a table made before they existed (NULLs,
    the older rows' value, do not collide)."""
    have = set(column_names(conn, HUB_SCHEMA, table.name))
    if "row_id" not in have:
        conn.execute(sa.text(f"ALTER TABLE {HUB_SCHEMA}.{table.name} ADD COLUMN row_id VARCHAR"))
    conn.execute(
        sa.text(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table.name}_row_id "
            f"ON {HUB_SCHEMA}.{table.name} (row_id)"
        )
    )
