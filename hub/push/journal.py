"""What the hub has written before (last written values, unresolved intents), and the
idempotent writes to the journal and the log.

Every plan row has a ``row_id``: the change it makes (source, deal, field, value) and the
state of the journal it was planned from (how many intents and outcomes that deal field
had). Two runs that planned from the same state give a change the same id, so only one
of them can claim it in the journal and its outcome is logged once; any later run plans
from a newer state (the first run's intent or outcome is in it) and gets a new id.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from connectors.values import as_utc
from hub.push.tables import ensure_tables, hub_push_journal, hub_push_log
from hub.warehouse import Warehouse
from models.errors import WarehouseError

Key = tuple[str, str, str]  # source_name, deal_key, field
T = TypeVar("T")

# A DuckDB transaction inserting a row_id that a concurrent transaction inserted too fails
# (at the insert or at commit); tried again, it sees that row and skips it. PostgreSQL
# waits for the other transaction instead.
_INSERT_ATTEMPTS = 5
# Rows per INSERT statement: a journal row has about ten columns, so a statement stays far
# below PostgreSQL's 65,535 bind parameters.
_ROWS_PER_INSERT = 500


@dataclass(frozen=True)
class Written:
    value: str | None
    modified_at: datetime | None
    logged_at: datetime


@dataclass(frozen=True)
class Intent:
    run_id: str
    old_value: str | None
    new_value: str | None
    row_id: str | None = None


@dataclass
class JournalState:
    written: dict[Key, Written] = field(default_factory=dict)
    pending: dict[Key, list[Intent]] = field(default_factory=lambda: defaultdict(list))
    versions: dict[Key, tuple[int, int]] = field(default_factory=dict)  # intents, outcomes

    def row_id(self, key: Key, new_value: str | None) -> str:
        """The id of the change ``key := new_value`` planned from this state."""
        intents, outcomes = self.versions.get(key, (0, 0))
        text = "\x1f".join((*key, new_value or "", str(intents), str(outcomes)))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def read_state(conn: sa.Connection, sources: list[str]) -> JournalState:
    ensure_tables(conn)
    state = JournalState()
    if not sources:
        return state
    log = hub_push_log
    written = sa.select(
        log.c.source_name,
        log.c.deal_key,
        log.c.field,
        log.c.new_value,
        log.c.modified_at,
        log.c.logged_at,
    ).where(log.c.status == "written", log.c.source_name.in_(sources))
    for r in conn.execute(written):
        key = (r.source_name, r.deal_key, r.field)
        logged = as_utc(r.logged_at)
        assert logged is not None
        seen = state.written.get(key)
        if seen is None or logged >= seen.logged_at:
            state.written[key] = Written(r.new_value, as_utc(r.modified_at), logged)
    j = hub_push_journal
    outcome = sa.select(log.c.run_id).where(
        log.c.run_id == j.c.run_id,
        log.c.source_name == j.c.source_name,
        log.c.deal_key == j.c.deal_key,
        log.c.field == j.c.field,
    )
    pending = sa.select(
        j.c.run_id,
        j.c.source_name,
        j.c.deal_key,
        j.c.field,
        j.c.old_value,
        j.c.new_value,
        j.c.row_id,
    ).where(j.c.source_name.in_(sources), ~outcome.exists())
    for r in conn.execute(pending):
        state.pending[(r.source_name, r.deal_key, r.field)].append(
            Intent(r.run_id, r.old_value, r.new_value, r.row_id)
        )
    counts: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for slot, table in enumerate((hub_push_journal, hub_push_log)):
        per_key = (
            sa.select(table.c.source_name, table.c.deal_key, table.c.field, sa.func.count())
            .where(table.c.source_name.in_(sources))
            .group_by(table.c.source_name, table.c.deal_key, table.c.field)
        )
        for row in conn.execute(per_key):
            source_name, deal_key, fld, n = row.tuple()
            counts[(str(source_name), str(deal_key), str(fld))][slot] = int(n)
    state.versions = {key: (n[0], n[1]) for key, n in counts.items()}
    return state


def _retry_commit(warehouse: Warehouse, work: Callable[[sa.Connection], T]) -> T:
    for attempt in range(1, _INSERT_ATTEMPTS + 1):
        try:
            with warehouse.connect() as conn:
                return work(conn)
        except (WarehouseError, sa.exc.IntegrityError) as exc:
            text = str(exc).lower()
            if attempt == _INSERT_ATTEMPTS or not ("conflict" in text or "constraint" in text):
                raise
    raise AssertionError("unreachable")


def record(warehouse: Warehouse, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Append rows; a row whose ``row_id`` is already there (another run logged that plan
    row's outcome, or claimed it) is left out, and so is a repeat of a row_id in ``rows``.

    The rows go in as multi-row INSERTs: DuckDB runs a parameter list (executemany) as one
    statement per row, ten times slower at a push's few thousand rows."""
    first_of_each: dict[str, dict[str, Any]] = {}
    for row in rows:
        first_of_each.setdefault(row["row_id"], row)
    unique = list(first_of_each.values())

    def insert(conn: sa.Connection) -> None:
        for start in range(0, len(unique), _ROWS_PER_INSERT):
            chunk = unique[start : start + _ROWS_PER_INSERT]
            conn.execute(pg_insert(table).values(chunk).on_conflict_do_nothing())

    if unique:
        _retry_commit(warehouse, insert)


def claim(warehouse: Warehouse, run_id: str, intents: list[dict[str, Any]]) -> set[str]:
    """Journal these intents; return the row_ids this run holds. A row_id another run
    journalled first is that run's to write and log: the caller leaves it alone."""
    if not intents:
        return set()
    record(warehouse, hub_push_journal, intents)
    ids = [i["row_id"] for i in intents]
    j = hub_push_journal
    with warehouse.connect() as conn:
        held = conn.execute(sa.select(j.c.row_id).where(j.c.run_id == run_id, j.c.row_id.in_(ids)))
        return {r[0] for r in held}
