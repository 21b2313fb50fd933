"""Which of a source's tables hold no row yet, so a load into them may skip the merge.

A canonical table is merged on its key: dlt copies the load into a staging table, deletes
the rows whose key it holds from the table, then copies it in again. Into a table without
rows, with keys that are unique in the load (the driver checks every id, and every
stage event's key, for repeats), that is the same as appending the rows, at half the writes: the first import of an
export, or any import into a new warehouse, is appended. Every later load is merged as
before, because the table then holds rows a key may replace.

The question is put to the warehouse itself (one ``SELECT 1 ... LIMIT 1`` per table,
through the run's dlt pipeline) when the file's reading starts, after any pending package
of an earlier run was loaded; nothing else writes the source's dataset during a pull
(``hub.locks``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

log = logging.getLogger(__name__)


def empty_tables(tables: Iterable[str]) -> frozenset[str]:
    """Those of ``tables`` that the current pipeline's dataset lacks or holds no row of.
    Whatever cannot be asked (no pipeline, a destination without SQL, a failing query)
    counts as holding rows: merging is always right, appending only into an empty table."""
    tables = list(tables)
    try:
        pipeline = dlt.current.pipeline()
        client = pipeline.sql_client()
    except Exception as exc:  # no active pipeline, or a destination dlt has no SQL for
        log.debug("not asking the warehouse which tables are empty: %s", exc)
        return frozenset()
    empty = set()
    try:
        with client:
            for table in tables:
                name = client.make_qualified_table_name(table)
                try:
                    rows = client.execute_sql(f"SELECT 1 FROM {name} LIMIT 1")
                except DatabaseUndefinedRelation:
                    rows = None
                if not rows:
                    empty.add(table)
    except Exception as exc:  # the load will say what is wrong with the warehouse
        log.debug("could not tell which tables are empty, merging into all: %s", exc)
        return frozenset()
    return frozenset(empty)
