"""A 64-bit hash of some columns of a row, computed by the warehouse itself.

The incremental transform sums such hashes over every row it compares (the content digest of
the tables dbt reads, the per-deal snapshot of ``hub.warehouse.changes``). DuckDB hashes any
list of values natively (``hash(a, b, ...)``). PostgreSQL has no such function: hashing
``row(...)::text`` formatted every timestamp and number as text, which was most of the
snapshot's time (a million deals, several million rows, every run). Here each column is
hashed by its type's own hash function (``hashtextextended``, ``timestamp_hash_extended``...,
the functions of the types' hash operator classes), seeded by its position so equal values in
two columns differ, and the columns are combined with XOR. A NULL hashes to a constant of its
own position, so ``(NULL, 'a')`` and ``('a', NULL)`` differ.

Equal values hash equally; different values give different hashes except by chance, as any
64-bit hash may collide (and the sums over many rows built from it likewise). What counts as
equal is the stored value: timestamps, dates, booleans and integers are hashed from it, and
numbers with a scale or a sign of zero (numeric, float) as their text, so ``1.0`` and
``1.00`` hash differently, as they differ in the marts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

# PostgreSQL's information_schema data_type -> the typed hash of a column ({c}) with seed {s}.
_PG_HASHES: dict[str, str] = {
    "text": "hashtextextended({c}, {s})",
    "character varying": "hashtextextended({c}, {s})",
    "character": "hashbpcharextended({c}, {s})",
    "name": "hashnameextended({c}, {s})",
    "timestamp without time zone": "timestamp_hash_extended({c}, {s})",
    # the instant itself, whatever the session's time zone
    "timestamp with time zone": "timestamp_hash_extended({c} AT TIME ZONE 'UTC', {s})",
    "date": "hashint4extended({c} - DATE '2000-01-01', {s})",
    "boolean": "hashint4extended({c}::int4, {s})",
    "smallint": "hashint4extended({c}::int4, {s})",
    "integer": "hashint4extended({c}, {s})",
    "bigint": "hashint8extended({c}, {s})",
    "jsonb": "jsonb_hash_extended({c}, {s})",
    "uuid": "uuid_hash_extended({c}, {s})",
}
_PG_FALLBACK = "hashtextextended({c}::text, {s})"  # numeric, float, json, anything else


def quoted(name: str) -> str:
    """A column name as an SQL identifier (a CSV header may hold any character)."""
    return '"' + name.replace('"', '""') + '"'


def row_hash(dialect: str, tag: str, columns: Sequence[tuple[str, str]], alias: str = "") -> str:
    """SQL for one BIGINT hash of ``columns`` ((name, data_type) pairs, in order) of a row,
    different per ``tag`` (the same values in two tables of one sum hash differently)."""
    prefix = f"{alias}." if alias else ""
    refs = [(prefix + quoted(name), data_type) for name, data_type in columns]
    literal = "'" + tag.replace("'", "''") + "'"
    if dialect == "duckdb":
        return f"hash({', '.join([literal, *(ref for ref, _ in refs)])})"
    parts = [f"hashtextextended({literal}, 0)"]
    for position, (ref, data_type) in enumerate(refs, start=1):
        typed = _PG_HASHES.get(data_type, _PG_FALLBACK).format(c=ref, s=position)
        parts.append(f"coalesce({typed}, {-position})")
    return "(" + " # ".join(parts) + ")"


def column_types(
    conn: sa.Connection, relations: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, table or view) -> its (column, data_type) pairs in order, in one query."""
    wanted = sorted(set(relations))
    if not wanted:
        return {}
    schemas = sorted({schema for schema, _ in wanted})
    rows = conn.execute(
        sa.text(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns WHERE table_schema IN :schemas "
            "ORDER BY table_schema, table_name, ordinal_position"
        ).bindparams(sa.bindparam("schemas", expanding=True)),
        {"schemas": schemas},
    ).all()
    out: dict[tuple[str, str], list[tuple[str, str]]] = {key: [] for key in wanted}
    for schema, table, column, data_type in rows:
        key = (str(schema), str(table))
        if key in out:
            out[key].append((str(column), str(data_type).lower()))
    return out
