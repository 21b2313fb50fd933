"""The quarantine rule after a load: one row per refused value, however often it is read.

Connectors append a ``quarantine`` row each time they refuse a value, and they read the
same records again by design (the lookback window, a full refresh, HubSpot's association
sweep, a CSV file re-read): without this step an unchanged re-pull would grow the table
and ``hub status`` would count one bad value once per pull. A row is the same refusal
as an earlier one when entity, record id, field, value and reason match (the location
too for a record without an id). The location of a record with an id is left out: an
API page number moves as records change. The earliest row stays, so ``quarantined_at``
says when the value was first refused; a new bad value, or the same one in another
record or field, is a new row. Rows of one load are all kept (two rows of one CSV file
may name the same id).
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.warehouse.meta import dataset_name, has_table


def _same(column: str) -> str:
    # coalesce, not IS NOT DISTINCT FROM: an equality PostgreSQL can hash-join on
    return f"coalesce(o.{column}, '') = coalesce(q.{column}, '')"


def drop_requarantined(conn: sa.Connection, source_name: str) -> int:
    """Delete quarantine rows that repeat an earlier refusal; returns how many."""
    schema = dataset_name(source_name)
    if not has_table(conn, schema, "quarantine"):
        return 0
    result = conn.execute(
        sa.text(f"""
        DELETE FROM {schema}.quarantine AS q
        WHERE EXISTS (
            SELECT 1 FROM {schema}.quarantine AS o
            WHERE o.quarantined_at < q.quarantined_at
              AND o.entity = q.entity
              AND coalesce(o.record_id, 'at ' || o.location)
                  = coalesce(q.record_id, 'at ' || q.location)
              AND {_same("column_name")} AND {_same("value")} AND {_same("reason")}
        )
        """)
    )
    return int(result.rowcount or 0)
