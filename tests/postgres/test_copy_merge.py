"""The hub's PostgreSQL merge (``hub.warehouse.pg_merge``) rewrites only the rows whose staged
copy differs, and leaves every table as dlt's own delete-insert merge leaves it.

The same two loads go into two fresh databases: by the hub's destination (COPY, its merge)
and by dlt's INSERT destination (dlt's merge, the oracle). Which rows were rewritten is read
from PostgreSQL itself: a row's ``xmin`` (the transaction that wrote it) changes only when
the row is deleted and inserted again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest
import sqlalchemy as sa

from hub.warehouse.pg_copy import copy_writers, postgres_copy, postgres_insert
from tests.pg import fresh_database, pg_engine
from tests.postgres.copy_compare import HOSTILE, assert_same_tables, dlt_credentials, schema_tables

pytestmark = pytest.mark.postgres

AT = datetime(2026, 6, 30, 10, 0, tzinfo=UTC)
V1: dict[int, tuple[Any, ...]] = {  # id: name, amount, score, doc (JSON text), at
    0: ("same", Decimal("1.50"), 0.5, '{"n": 1}', AT),
    1: ("", Decimal("2.00"), 1.0, None, AT),
    2: (None, Decimal("3.00"), 1.0, None, AT),
    3: ("zero", Decimal("4.00"), 0.0, None, AT),
    4: ("json scale", None, None, '{"n": 1.0, "b": [1, "x"]}', AT),
    5: ("later", None, None, None, AT),
    6: (None, None, None, None, None),
    8: ("gone from the file", Decimal("8.00"), 8.0, '{"k": "v"}', AT),
    9: (HOSTILE[6], Decimal("9.99"), 9.5, '{"t": "a\\nb"}', AT),
    10: (HOSTILE[-1], Decimal("0.01"), -1.25, None, AT),
}
# What the second export holds: equal rows, rows that differ only where a careless
# comparison sees no difference, a new row; id 8 is not staged at all.
V2 = (
    {k: v for k, v in V1.items() if k != 8}
    | {
        1: (None, *V1[1][1:]),  # '' -> NULL
        2: ("", *V1[2][1:]),  # NULL -> ''
        3: ("zero", Decimal("4.00"), -0.0, None, AT),  # 0 = -0 as numbers
        4: ("json scale", None, None, '{"n": 1.00, "b": [1, "x"]}', AT),  # 1.0 = 1.00 in jsonb
        5: ("later", None, None, None, AT + timedelta(microseconds=1)),
        7: ("new", Decimal("7.00"), 7.0, '{"new": true}', AT),
    }
)
REWRITTEN = {1, 2, 3, 4, 5, 7}  # ids whose row the second load must (re)write


def _table(rows: dict[int, tuple[Any, ...]], repeat: tuple[int, ...] = ()) -> pa.Table:
    ids = [*rows, *repeat]  # a repeated id is staged twice, identically
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([rows[i][0] for i in ids], pa.string()),
            "amount": pa.array([rows[i][1] for i in ids], pa.decimal128(12, 2)),
            "score": pa.array([rows[i][2] for i in ids], pa.float64()),
            "doc": pa.array([rows[i][3] for i in ids], pa.string()),
            "at": pa.array([rows[i][4] for i in ids], pa.timestamp("us", "UTC")),
        }
    )


def _source(version: int) -> list[Any]:
    rows = dlt.resource(
        _table(V1) if version == 1 else _table(V2, repeat=(0,)),
        name="rows",
        write_disposition="merge",
        primary_key="id",
        columns={"doc": {"data_type": "json"}},
    )
    # dlt's merge stays where the rule cannot judge: a merge key, per-load row columns
    by_merge_key = dlt.resource(
        _table(V1 if version == 1 else V2),
        name="by_merge_key",
        write_disposition="merge",
        merge_key="id",
    )
    objects = dlt.resource(
        [{"id": i, "name": v[0]} for i, v in (V1 if version == 1 else V2).items()],
        name="objects",
        write_disposition="merge",
        primary_key="id",
    )
    return [rows, by_merge_key, objects]


def _pipeline(db: dict[str, Any], folder: Path, *, copy: bool) -> dlt.Pipeline:
    credentials = dlt_credentials(db)
    return dlt.pipeline(
        pipeline_name="merge_check",
        destination=(postgres_copy if copy else postgres_insert)(credentials=credentials),
        dataset_name="src",
        pipelines_dir=str(folder),
    )


def _exact(db: dict[str, Any], table: str) -> dict[int, tuple[Any, ...]]:
    """id -> (xmin, each value as PostgreSQL prints it): -0 and 1.00 as stored."""
    engine = pg_engine(db)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                sa.text(
                    "SELECT id, xmin::text, name, amount::text, encode(float8send(score), 'hex'), doc::text,"
                    f" at FROM src.{table}"
                )
            )
            return {row[0]: tuple(row[1:]) for row in result}
    finally:
        engine.dispose()


def _merge_sql(folder: Path, table: str) -> list[str]:
    """The merge statements dlt ran for ``table`` in the last load."""
    loads = sorted((folder / "merge_check" / "load" / "loaded").iterdir())
    return [p.read_text() for p in (loads[-1] / "completed_jobs").glob(f"{table}.*.sql")]


def test_a_merge_rewrites_only_changed_rows_and_ends_as_dlts(
    tmp_path: Path, pg_server: dict[str, Any]
) -> None:
    with fresh_database(pg_server) as by_copy, fresh_database(pg_server) as by_insert:
        ours = _pipeline(by_copy, tmp_path / "copy", copy=True)
        oracle = _pipeline(by_insert, tmp_path / "insert", copy=False)
        with copy_writers():
            ours.run(_source(1))
        oracle.run(_source(1))
        before = _exact(by_copy, "rows")
        with copy_writers():
            ours.run(_source(2))
        oracle.run(_source(2))
        after, expected = _exact(by_copy, "rows"), _exact(by_insert, "rows")
        assert_same_tables(schema_tables(by_copy, "src"), schema_tables(by_insert, "src"))

    # every value as stored equals dlt's merge (xmin aside), JSON scale included; -0 is
    # kept by COPY as staged (dlt's INSERT statements write it as 0), so it is checked apart
    assert after[3][3] == "8000000000000000" != before[3][3]  # the bits of -0.0
    assert {i: v[1:] for i, v in after.items() if i != 3} == {
        i: v[1:] for i, v in expected.items() if i != 3
    }
    assert after[3][1:3] + after[3][4:] == expected[3][1:3] + expected[3][4:]
    assert after[4][4] == expected[4][4] == '{"b": [1, "x"], "n": 1.00}'
    assert sorted(after) == sorted(set(V1) | set(V2))
    rewritten = {i for i in after if before.get(i, (None,))[0] != after[i][0]}
    assert rewritten == REWRITTEN, "only the changed and new rows are written again"

    [ours_sql] = _merge_sql(tmp_path / "copy", "rows")
    assert "_changed_" in ours_sql, "the hub's merge ran"
    for table in ("by_merge_key", "objects"):
        [sql] = _merge_sql(tmp_path / "copy", table)
        assert "_changed_" not in sql, f"{table}: dlt's own merge"
