"""PostgreSQL: what the open deals are compared with, from a base kept per training key.

Scoring the open deals compares each with the deals closed by ``as_of``: the stage norms,
the rep's and the pipeline's median amounts, the rep's last-365-days record and the
account's record (hub/score/features.py). In the one-instant query those aggregates join
and sort every closed deal and spell on every run, about half the query's server time,
though nearly all of those deals closed before the training cut (the UTC day start of
``as_of``) and are exactly what the training key hashes (hub/score/prekey.py).

So the first run of a key reads them once, beside the fit (the *base*: the deals closed by
the cut and their spells counted in a norm by then, the columns
:func:`hub.score.history.comparison_lines` reads), and keeps them in
``hub_meta.hub_score_bases`` under that key, as Arrow IPC compressed with zstd. A later run
of the same cut reads the base while the key is computed beside it, adds the *delta* (the
deals closed after the cut up to ``as_of``, and the spells that came to count in a norm in
that span: those of today's closes and those a deal closed before the cut left after it)
and computes the comparisons at ``as_of`` in numpy, as the multi-instant training query
does; they reach the query in temp tables. Base and delta are every row the comparisons at
``as_of`` read, and ``comparison_lines`` leaves out rows past the instant, so the rows are
the query's own: the rep's window drops deals closed a year before ``as_of`` from the base
as it does from the whole. The base is used only when the key computed beside it is the key
it was kept under: the key moves with any edit of a deal closed before the cut, its spells,
a remap, the dimensions or the feature version, and then the run reads the comparisons the
plain way and keeps a new base. The delta scans the deals and the spells (no index) but
joins and sorts only today's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hub.score.columns import fetch_arrow
from hub.score.features import DEALS, REP_WINDOW_DAYS, SPELLS, naive_utc
from hub.score.history import (
    CLOSED_COLUMNS,
    SPELL_COLUMNS,
    closed_spells_sql,
    closed_sql,
    comparison_lines,
    comparison_tables,
)
from hub.score.prekey import key_prefix
from hub.warehouse import HUB_SCHEMA

BASE_FORMAT = "1"  # bump when the kept columns or their meaning change: old bases are unused

metadata = sa.MetaData(schema=HUB_SCHEMA)
hub_score_bases = sa.Table(
    "hub_score_bases",
    metadata,
    sa.Column("input_key", sa.String, primary_key=True),
    sa.Column("format", sa.String, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed", sa.LargeBinary, nullable=False),
    sa.Column("spells", sa.LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class Base:
    """Closed deals (:data:`CLOSED_COLUMNS`) and their spells (:data:`SPELL_COLUMNS`)."""

    closed: pa.Table
    spells: pa.Table

    def __add__(self, other: Base) -> Base:
        return Base(
            pa.concat_tables([self.closed, other.closed]),
            pa.concat_tables([self.spells, other.spells]),
        )


def supported(conn: sa.Connection) -> bool:
    """PostgreSQL through psycopg2 (COPY both ways); elsewhere the query computes them."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2"


def _stamp(t: datetime) -> str:
    return f"cast('{naive_utc(t):%Y-%m-%d %H:%M:%S}' as timestamp)"


def read_base(conn: sa.Connection, cut: datetime) -> Base:
    """The deals closed by ``cut`` (the training key's) and their spells counted by then."""
    c = _stamp(cut)
    return Base(
        fetch_arrow(conn, closed_sql(DEALS, f"d.closed_at <= {c}"), CLOSED_COLUMNS),
        fetch_arrow(
            conn,
            closed_spells_sql(DEALS, SPELLS, f"d.closed_at <= {c} and sp.exited_at <= {c}"),
            SPELL_COLUMNS,
        ),
    )


def read_delta(conn: sa.Connection, cut: datetime, as_of: datetime) -> Base:
    """What came to count after ``cut`` up to ``as_of``: the deals closed in between, and
    the spells of closed deals counted in between (those of today's closes left by
    ``as_of``, and those deals closed by ``cut`` left in between). One statement: one
    pass over the deals (the closed ones by ``as_of`` kept for the spells' join) and one
    over the spells, filtered before the join (the spells of today's closes by a hashed
    semi-join: joined with every closed deal first, every spell was hashed, in batches
    on disk at 100k deals); the rows told apart by which columns are null."""
    c, a = _stamp(cut), _stamp(as_of)
    deals = ", ".join(CLOSED_COLUMNS)
    rows = fetch_arrow(
        conn,
        f"""
with closed as materialized (
    select deal_key, {deals} from ({DEALS}) d
    where status in ('won', 'lost') and closed_at is not null and closed_at <= {a}
)
select {deals}, cast(null as varchar) as canonical_stage, cast(null as double precision) as days,
    cast(null as timestamp) as known_at
from closed where closed_at > {c}
union all
select {", ".join(f"null as {name}" for name in CLOSED_COLUMNS)}, sp.canonical_stage, sp.days,
    greatest(d.closed_at, sp.exited_at) as known_at
from closed d inner join ({SPELLS}) sp on sp.deal_key = d.deal_key
where sp.is_open_stage and sp.exited_at is not null and sp.exited_at <= {a}
    and (sp.exited_at > {c} or sp.deal_key in (select deal_key from closed where closed_at > {c}))
""",
        {**CLOSED_COLUMNS, **SPELL_COLUMNS},
    )
    spell = rows.column("known_at").is_valid()
    return Base(
        rows.filter(pc.invert(spell)).select(list(CLOSED_COLUMNS)),
        rows.filter(spell).select(list(SPELL_COLUMNS)),
    )


def comparisons_at(conn: sa.Connection, base: Base, cut: datetime, as_of: datetime) -> Any:
    """:func:`hub.score.history.comparison_tables` holding the comparisons at ``as_of``,
    from ``base`` (read at ``cut``) and the delta since."""
    whole = base + read_delta(conn, cut, as_of)
    lines = comparison_lines(whole.closed, whole.spells, [naive_utc(as_of)], REP_WINDOW_DAYS)
    return comparison_tables(conn, lines)


def _encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _decode(data: Any) -> pa.Table:
    """A kept table (psycopg2 hands bytea over as a memoryview)."""
    return pa.ipc.open_stream(pa.py_buffer(bytes(data))).read_all()


def kept_key(conn: sa.Connection, cut: datetime) -> str | None:
    """The key of the base kept last for the training cut ``cut``, if any (the caller
    checks it against the run's key before using the base)."""
    metadata.create_all(conn)
    found = conn.execute(
        sa.select(hub_score_bases.c.input_key)
        .where(hub_score_bases.c.input_key.startswith(key_prefix(cut), autoescape=True))
        .where(hub_score_bases.c.format == BASE_FORMAT)
        .order_by(hub_score_bases.c.recorded_at.desc())
        .limit(1)
    ).scalar()
    return None if found is None else str(found)


def load(conn: sa.Connection, key: str) -> Base:
    """The base kept under ``key``."""
    closed, spells = conn.execute(
        sa.select(hub_score_bases.c.closed, hub_score_bases.c.spells).where(
            hub_score_bases.c.input_key == key
        )
    ).one()
    return Base(_decode(closed), _decode(spells))


def keep(conn: sa.Connection, key: str, base: Base) -> None:
    """``base`` under ``key``, in place of every base kept before (one is read per run)."""
    metadata.create_all(conn)
    conn.execute(hub_score_bases.delete())
    conn.execute(
        hub_score_bases.insert().values(
            input_key=key,
            format=BASE_FORMAT,
            recorded_at=datetime.now(UTC),
            closed=_encode(base.closed),
            spells=_encode(base.spells),
        )
    )


__all__ = [
    "Base",
    "comparisons_at",
    "hub_score_bases",
    "keep",
    "kept_key",
    "load",
    "read_base",
    "read_delta",
    "supported",
]
