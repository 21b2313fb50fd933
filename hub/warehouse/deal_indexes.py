"""PostgreSQL: an index on ``deal_key`` of the source tables the per-deal snapshot reads, so a
part read for a few deals (:mod:`hub.warehouse.deal_versions`) fetches their rows alone.

dlt creates no index on PostgreSQL, so reading a changed part for its candidate deals was a
scan of every row of its tables, hashed join against the candidates: at 100,000 deals, three
quarters of the snapshot statement's time went to scanning ``deals``, ``stage_changes`` and
``stage_observations`` for the 1 % of deals an hourly sync touches. With an index per table
the candidates' rows are fetched by key (:func:`hub.warehouse.changes.candidate_filter`).

The index is made once per table, after the load that created the table (by the
observation step that ends each load, whose own lookups of the deals written since use it
too, :mod:`hub.warehouse.observed_deals`) and, for a warehouse pulled before, when the
snapshot first needs it; a table dlt drops and creates again (a replace) gets it again the
same way. Writes keep it up to date themselves: an hourly load adds 1 % of the rows'
entries. Any index would serve; only its name (``<table>_hub_deal_key``) tells the hub's own
from another one.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

# the source tables whose rows the per-deal snapshot reads by deal_key (changes.VERSIONED)
INDEXED = ("deals", "stage_changes", "stage_observations", "activities")


def index_name(table: str) -> str:
    return f"{table}_hub_deal_key"


def missing(conn: sa.Connection, schemas: Iterable[str]) -> list[tuple[str, str]]:
    """(schema, table) of the INDEXED tables with a ``deal_key`` column but no index of the
    hub's on it, in these schemas (one catalog query)."""
    wanted = sorted(set(schemas))
    if conn.dialect.name != "postgresql" or not wanted:
        return []
    rows = conn.execute(
        sa.text(
            "SELECT c.table_schema, c.table_name FROM information_schema.columns AS c "
            "WHERE c.table_schema IN :schemas AND c.table_name IN :tables "
            "AND c.column_name = 'deal_key' AND NOT EXISTS (SELECT 1 FROM pg_indexes AS i "
            "WHERE i.schemaname = c.table_schema AND i.tablename = c.table_name "
            "AND i.indexname = c.table_name || '_hub_deal_key')"
        ).bindparams(
            sa.bindparam("schemas", expanding=True), sa.bindparam("tables", expanding=True)
        ),
        {"schemas": wanted, "tables": list(INDEXED)},
    ).tuples()
    return sorted((str(schema), str(table)) for schema, table in rows)


def ensure(conn: sa.Connection, schemas: Iterable[str]) -> list[tuple[str, str]]:
    """Index ``deal_key`` of the INDEXED tables of these schemas that lack the hub's index;
    returns those indexed now. Nothing on other warehouses."""
    made = missing(conn, schemas)
    for schema, table in made:
        conn.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS {index_name(table)} ON {schema}.{table} (deal_key)"
            )
        )
    return made
