"""The score's PostgreSQL transfers by COPY (hub/score/columns.py) carry every value the
cursor carried: NULL apart from the empty string, quotes, commas and newlines in text,
float8 to the bit, microseconds, zoned timestamps. The oracle is psycopg2's own cursor
(rows as Python objects), on a real server whose session was set to round floats
(``extra_float_digits = 0``) and to a non-ISO ``DateStyle``, which the COPY must undo.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from hub.score.columns import copy_rows, fetch_arrow
from tests.pg import pg_engine

FLOATS = [0.1 + 0.2, 1 / 3, 2.0**-1000, 123456789.12345679, -0.0, 1e300, math.pi / 1e9]
TEXTS = ["plain", "", None, 'say "hi", then', "two\nlines", "comma,semicolon;", "ünï"]
STAMPS = [
    datetime(2026, 6, 30, 12, 0, 0, 123456),
    datetime(1999, 12, 31, 23, 59, 59),
    None,
    datetime(2026, 1, 1),
    datetime(2026, 2, 28, 0, 0, 0, 1),
    datetime(2030, 7, 4, 8, 9, 10, 999999),
    datetime(2026, 3, 29, 1, 30),
]
SCHEMA = {"t": pa.string(), "x": pa.float64(), "n": pa.int64(), "at": pa.timestamp("us")}


def _bits(value: float | None) -> int | None:
    return None if value is None else struct.unpack("<q", struct.pack("<d", value))[0]


def _values_sql() -> str:
    def text(v: str | None) -> str:
        return "null" if v is None else "'" + v.replace("'", "''") + "'"

    def stamp(v: datetime | None) -> str:
        return "null" if v is None else f"timestamp '{v.isoformat(sep=' ')}'"

    rows = [
        f"({k}, {text(t)}, cast('{x!r}' as double precision), {k * 10**12 - 3}, {stamp(at)})"
        for k, (t, x, at) in enumerate(zip(TEXTS, FLOATS, STAMPS, strict=True))
    ]
    return f"select t, x, n, at from (values {', '.join(rows)}) as v(k, t, x, n, at) order by k"


@pytest.mark.postgres
def test_copy_reads_what_the_cursor_reads(pg_database: dict[str, Any]) -> None:
    engine = pg_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("set extra_float_digits = 0"))  # rounds floats to 15 digits
            conn.execute(sa.text("set datestyle = 'SQL, DMY'"))
            table = fetch_arrow(conn, _values_sql(), SCHEMA)
            conn.execute(sa.text("set extra_float_digits = 1; set datestyle = 'ISO, MDY'"))
            expected = conn.execute(sa.text(_values_sql())).all()
    finally:
        engine.dispose()
    assert table.schema == pa.schema(list(SCHEMA.items()))
    got = table.to_pylist()
    assert [row["t"] for row in got] == [row[0] for row in expected] == TEXTS
    assert [_bits(row["x"]) for row in got] == [_bits(row[1]) for row in expected]
    assert [_bits(row["x"]) for row in got] == [_bits(x) for x in FLOATS]
    assert [row["n"] for row in got] == [row[2] for row in expected]
    assert [row["at"] for row in got] == [row[3] for row in expected] == STAMPS


@pytest.mark.postgres
def test_copy_writes_what_an_insert_writes(pg_database: dict[str, Any]) -> None:
    as_of = datetime(2026, 6, 30, 12, 0, 0, 5, tzinfo=UTC)
    rows = pa.table(
        {
            "t": pa.array(TEXTS, pa.string()),
            "x": pa.array(FLOATS, pa.float64()),
            "at": pa.array([as_of] * len(TEXTS), pa.timestamp("us", tz="UTC")),
        }
    )
    engine = pg_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table copied (t varchar, x float8, at timestamptz)"))
            conn.execute(sa.text("set timezone = 'America/New_York'"))
            copy_rows(conn, "copied", rows)
            conn.execute(sa.text("set extra_float_digits = 1"))
            stored = conn.execute(sa.text("select t, x, at from copied")).all()
    finally:
        engine.dispose()
    assert sorted(stored, key=repr) == sorted(
        ((r["t"], r["x"], r["at"]) for r in rows.to_pylist()), key=repr
    )
    assert sorted(_bits(x) for _, x, _ in stored) == sorted(_bits(x) for x in FLOATS)
    assert {at for *_, at in stored} == {as_of}
