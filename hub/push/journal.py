"""What the hub has written before: last written values and unresolved intents."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.values import as_utc
from hub.push.tables import ensure_tables, hub_push_journal, hub_push_log

Key = tuple[str, str, str]  # source_name, deal_key, field


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


@dataclass
class JournalState:
    written: dict[Key, Written] = field(default_factory=dict)
    pending: dict[Key, list[Intent]] = field(default_factory=lambda: defaultdict(list))


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
        j.c.run_id, j.c.source_name, j.c.deal_key, j.c.field, j.c.old_value, j.c.new_value
    ).where(j.c.source_name.in_(sources), ~outcome.exists())
    for r in conn.execute(pending):
        state.pending[(r.source_name, r.deal_key, r.field)].append(
            Intent(r.run_id, r.old_value, r.new_value)
        )
    return state


def record(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), rows)
