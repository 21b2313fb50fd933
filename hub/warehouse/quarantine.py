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

from hub.warehouse.meta import column_names, dataset_name, has_table


def _same(column: str) -> str:
    # coalesce, not IS NOT DISTINCT FROM: an equality PostgreSQL can hash-join on
    return f"coalesce(o.{column}, '') = coalesce(q.{column}, '')"


def drop_reloaded(conn: sa.Connection, source_name: str) -> int:
    """Keep one of each set of quarantine rows equal in every column; returns how many went.

    The table is appended to, and dlt's loader runs again a job that a killed run had
    committed but not yet recorded as done (at-least-once): the same file's rows are then
    appended twice. Two real refusals always differ somewhere (location, field, value or
    the moment), so rows equal in every column, dlt's own ones included, are one row loaded
    twice. Runs before :func:`drop_requarantined`, which keeps every row of one load."""
    schema = dataset_name(source_name)
    if not has_table(conn, schema, "quarantine"):
        return 0
    table = f"{schema}.quarantine"
    columns = column_names(conn, schema, "quarantine")
    listed = ", ".join(f'"{c}"' for c in columns)
    twice = "hub_quarantine_loaded_twice"
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {twice}"))
    conn.execute(
        sa.text(f"""
        CREATE TEMPORARY TABLE {twice} AS
        SELECT {listed}, count(*) AS copies FROM {table} GROUP BY {listed} HAVING count(*) > 1
        """)
    )
    extra = conn.execute(sa.text(f"SELECT coalesce(sum(copies - 1), 0) FROM {twice}")).scalar()
    if extra:
        same = " AND ".join(f'q."{c}" IS NOT DISTINCT FROM t."{c}"' for c in columns)
        conn.execute(
            sa.text(
                f"DELETE FROM {table} AS q WHERE EXISTS (SELECT 1 FROM {twice} AS t WHERE {same})"
            )
        )
        conn.execute(sa.text(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {twice}"))
    conn.execute(sa.text(f"DROP TABLE {twice}"))
    return int(extra or 0)


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
