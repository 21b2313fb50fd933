"""``hub.warehouse.row_hash``: rows hash equal exactly when their values are equal, on DuckDB
and PostgreSQL, for every column type the hub's tables hold.

The oracle is Python: each row's values as Python compares them (numbers with a scale by
their text, as the marts show them; instants as UTC instants). Rows that differ in any one
column, or only in where a NULL is, must hash apart; copies and the same instant written
with another offset or read in another session time zone must hash alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.warehouse.row_hash import column_types, row_hash
from tests.pg import pg_engine

PG_COLUMNS = {
    "t_text": "text",
    "t_varchar": "varchar",
    "t_char": "char(3)",
    "t_tstz": "timestamptz",
    "t_ts": "timestamp",
    "t_date": "date",
    "t_bool": "boolean",
    "t_small": "smallint",
    "t_int": "integer",
    "t_big": "bigint",
    "t_num": "numeric",
    "t_float": "double precision",
    "t_jsonb": "jsonb",
    "t_json": "json",
    "t_uuid": "uuid",
    "t_bytes": "bytea",
}
DUCK_COLUMNS = {
    **PG_COLUMNS,
    "t_num": "decimal(18, 4)",
    "t_jsonb": "json",
    "t_bytes": "blob",
    "t_char": "varchar",
    "t_uuid": "uuid",
}

BASE: dict[str, Any] = {
    "t_text": "a",
    "t_varchar": "b",
    "t_char": "ccc",
    "t_tstz": "2026-06-30 12:00:00+00",
    "t_ts": "2026-06-30 12:00:00",
    "t_date": "2026-06-30",
    "t_bool": True,
    "t_small": 1,
    "t_int": 2,
    "t_big": 3,
    "t_num": "1.5",
    "t_float": 0.25,
    "t_jsonb": '{"a": 1}',
    "t_json": '{"b": 2}',
    "t_uuid": "00000000-0000-0000-0000-000000000001",
    "t_bytes": "x",
}
# One column changed each: none of these equals BASE or another.
CHANGED: list[dict[str, Any]] = [
    {"t_text": "A"},
    {"t_varchar": "B"},
    {"t_char": "ccd"},
    {"t_tstz": "2026-06-30 12:00:01+00"},
    {"t_ts": "2026-06-30 12:00:00.000001"},
    {"t_date": "2026-07-01"},
    {"t_bool": False},
    {"t_small": 2},
    {"t_int": 3},
    {"t_big": 4},
    {"t_num": "1.6"},
    {"t_float": 0.5},
    {"t_jsonb": '{"a": 2}'},
    {"t_json": '{"b": 3}'},
    {"t_uuid": "00000000-0000-0000-0000-000000000002"},
    {"t_bytes": "y"},
    {"t_text": None},  # a NULL differs from any value
    {"t_text": None, "t_varchar": "a"},  # ... and where it sits matters
    {"t_text": "b", "t_varchar": None},
    {"t_text": "b", "t_varchar": "a"},  # two columns' values swapped
]
SAME: list[dict[str, Any]] = [
    {},  # a copy
    {"t_tstz": "2026-06-30 14:00:00+02"},  # the same instant, another offset
]


def _rows() -> list[tuple[str, dict[str, Any]]]:
    rows = [("base", dict(BASE))]
    rows += [(f"same{i}", {**BASE, **edit}) for i, edit in enumerate(SAME)]
    rows += [(f"changed{i}", {**BASE, **edit}) for i, edit in enumerate(CHANGED)]
    return rows


def _create(conn: sa.Connection, columns: dict[str, str], *, duck: bool) -> None:
    conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS s"))
    body = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    conn.execute(sa.text(f"CREATE TABLE s.t (row_id varchar, {body})"))
    casts = ", ".join(_value_sql(name, kind, duck=duck) for name, kind in columns.items())
    for row_id, values in _rows():
        conn.execute(
            sa.text(f"INSERT INTO s.t VALUES (:row_id, {casts})"), {"row_id": row_id, **values}
        )


def _value_sql(name: str, kind: str, *, duck: bool) -> str:
    if name == "t_bytes":
        return f"CAST(:{name} AS blob)" if duck else f"convert_to(CAST(:{name} AS text), 'UTF8')"
    return f"CAST(:{name} AS {kind})"


def _hashes(conn: sa.Connection, dialect: str) -> dict[str, int]:
    types = column_types(conn, [("s", "t")])[("s", "t")]
    hashed = [c for c in types if c[0] != "row_id"]
    assert len(hashed) == len(PG_COLUMNS)
    expression = row_hash(dialect, "t", hashed, "x")
    rows = conn.execute(sa.text(f"SELECT row_id, {expression} FROM s.t AS x")).all()
    return {row_id: int(h) for row_id, h in rows}


def _check(hashes: dict[str, int]) -> None:
    """Hash classes are the oracle's classes: the SAME rows with base, every other apart."""
    same = {"base", *(f"same{i}" for i in range(len(SAME)))}
    assert len({hashes[r] for r in same}) == 1, hashes
    others = [hashes[r] for r in hashes if r not in same]
    assert len(set(others)) == len(CHANGED), hashes
    assert hashes["base"] not in others


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[sa.Connection]:
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}", poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        yield conn
    engine.dispose()


def test_duckdb_rows_hash_equal_exactly_when_equal(duck: sa.Connection) -> None:
    _create(duck, DUCK_COLUMNS, duck=True)
    _check(_hashes(duck, "duckdb"))


@pytest.mark.postgres
def test_postgres_rows_hash_equal_exactly_when_equal(pg_database: dict[str, Any]) -> None:
    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        _create(conn, PG_COLUMNS, duck=False)
        first = _hashes(conn, "postgresql")
        _check(first)
        # The session's time zone changes how a timestamptz prints, never its hash.
        conn.execute(sa.text("SET LOCAL TimeZone = 'Asia/Kolkata'"))
        assert _hashes(conn, "postgresql") == first
    engine.dispose()


@pytest.mark.postgres
def test_postgres_numbers_hash_by_what_the_marts_show(pg_database: dict[str, Any]) -> None:
    """1.0 and 1.00 are equal numbers but print differently in a mart: they hash apart, as
    0 and -0 do; a number written twice the same way hashes alike."""
    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA s"))
        conn.execute(sa.text("CREATE TABLE s.n (row_id text, amount numeric, share float8)"))
        conn.execute(
            sa.text(
                "INSERT INTO s.n VALUES ('a', 1.0, 0.0), ('b', 1.00, 0.0), ('c', 1.0, '-0'), "
                "('d', 1.0, 0.0)"
            )
        )
        columns = column_types(conn, [("s", "n")])[("s", "n")][1:]
        rows = conn.execute(
            sa.text(f"SELECT row_id, {row_hash('postgresql', 'n', columns)} FROM s.n")
        ).all()
    engine.dispose()
    got = dict(rows)
    assert got["a"] == got["d"]
    assert len({got["a"], got["b"], got["c"]}) == 3
