"""Column helpers for the score: a query's result as one Arrow table, and Python's float
maths applied to whole columns.

DuckDB hands its result over as Arrow in one call; PostgreSQL (through psycopg2) streams it
with ``COPY ... TO STDOUT`` as CSV into Arrow's parser; other warehouses return rows,
transposed here into typed columns once. Everything after reads columns only.

numpy's vectorised ``log``/``log1p`` may differ from Python's ``math`` in the last bit on some
CPUs (its AVX-512 kernels). The fitted model, the fingerprint and the scores have always been
computed with ``math``, so :func:`exact` maps ``math`` over a column's values: still no
Python objects per row beyond one float, and the same bits as before.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa


def fetch_arrow(conn: sa.Connection, sql: str, schema: Mapping[str, pa.DataType]) -> pa.Table:
    """The result of ``sql`` with the columns (and types) of ``schema``."""
    if conn.dialect.name == "duckdb":
        raw = conn.connection.driver_connection  # the DuckDB connection, in this transaction
        assert raw is not None
        # execute, not sql(): the connection may hold a result SQLAlchemy read only part of
        # (.first()), which sql() refuses; execute() replaces it. Its warning is about one
        # extra copy of the result, a small cost beside building it.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
            table = raw.execute(sql).to_arrow_table()
        return pa.table({name: table.column(name).cast(kind) for name, kind in schema.items()})
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2":
        return _copy_csv(conn, sql, schema)
    result = conn.execute(sa.text(sql))
    names = list(result.keys())
    rows = result.tuples().all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    by_name = dict(zip(names, columns, strict=True))
    return pa.table(
        {name: pa.array(list(by_name[name]), type=kind) for name, kind in schema.items()}
    )


def _cursor(conn: sa.Connection) -> Any:
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw.cursor()


def _copy_csv(conn: sa.Connection, sql: str, schema: Mapping[str, pa.DataType]) -> pa.Table:
    """PostgreSQL: ``COPY (sql) TO STDOUT`` as CSV, parsed by Arrow's CSV reader.

    Fetching the rows as Python tuples through a cursor (a tuple, and an object per value,
    for every row) took 2-4x as long at 393k rows; COPY streams the text and Arrow parses it
    in C++. The values are those the cursor gave: float8 is written shortest-exact
    (``extra_float_digits`` > 0, set for this transaction in case the server lowered it), so
    it parses back to the same bits; timestamps in ISO (``DateStyle``, set likewise); NULL is
    the unquoted empty field, an empty string is quoted (``""``)."""
    buffer = io.BytesIO()
    with _cursor(conn) as cursor:
        cursor.execute("set local extra_float_digits = 3; set local datestyle = 'ISO, MDY'")
        cursor.copy_expert(f"copy ({sql}) to stdout with (format csv, header true)", buffer)
    view = buffer.getbuffer()
    if not len(view):
        return pa.table({name: pa.array([], type=kind) for name, kind in schema.items()})
    table = pa_csv.read_csv(
        pa.BufferReader(view),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict(schema),
            include_columns=list(schema),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    return pa.table({name: table.column(name).cast(kind) for name, kind in schema.items()})


def copy_rows(conn: sa.Connection, relation: str, rows: pa.Table) -> None:
    """PostgreSQL (psycopg2): ``rows`` into ``relation`` by ``COPY ... FROM STDIN``, written
    as CSV by Arrow: strings always quoted (so "" stays an empty string and the unquoted
    empty field is NULL), floats shortest-exact, timestamps ISO with ``Z`` when zoned."""
    buffer = io.BytesIO()
    pa_csv.write_csv(rows, buffer)
    buffer.seek(0)
    columns = ", ".join(rows.column_names)
    with _cursor(conn) as cursor:
        cursor.copy_expert(
            f"copy {relation} ({columns}) from stdin with (format csv, header true)", buffer
        )


def floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A column as float64, nulls as NaN."""
    return column.cast(pa.float64()).fill_null(float("nan")).to_numpy()


def micros(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp column as int64 microseconds (0 where null) and its null mask."""
    as_us = column.cast(pa.timestamp("us")).cast(pa.int64())
    return as_us.fill_null(0).to_numpy(), as_us.is_null().to_numpy(zero_copy_only=False)


def days_between(later: np.ndarray, earlier: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Whole days (fractional) from ``earlier`` to ``later`` (microseconds), at least 0,
    NaN where ``missing``: as ``timedelta.total_seconds() / 86400`` gives them."""
    seconds = (later - earlier).astype(np.float64) / 1e6
    days = np.maximum(seconds / 86400.0, 0.0)
    days[missing] = np.nan
    return days


def exact(function: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    """``function`` (a ``math`` function) on every value; NaN stays NaN."""
    return np.fromiter(map(function, values.tolist()), np.float64, len(values))


def exact_where(
    function: Callable[[float], float], values: np.ndarray, valid: np.ndarray
) -> np.ndarray:
    """``function`` where ``valid``, NaN elsewhere (so invalid inputs are never passed)."""
    out = np.full(len(values), np.nan)
    out[valid] = exact(function, values[valid])
    return out


def texts(column: pa.ChunkedArray | pa.Array) -> list[str]:
    """A text column as Python strings, null as "", one shared object per distinct value."""
    encoded = pa.chunked_array([column]) if isinstance(column, pa.Array) else column
    encoded = encoded.combine_chunks().dictionary_encode()
    levels = [v or "" for v in encoded.dictionary.to_pylist()]
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    shared = np.array([*levels, ""], dtype=object)  # code -1 (null) -> ""
    return shared[codes].tolist()


__all__ = [
    "copy_rows",
    "days_between",
    "exact",
    "exact_where",
    "fetch_arrow",
    "floats",
    "micros",
    "texts",
]
