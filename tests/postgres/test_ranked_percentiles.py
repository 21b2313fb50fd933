"""Macro hub_ranked_percentiles (PostgreSQL) against the aggregates it replaces.

The macro finds each percentile's two ranks by counting rows per whole-number bucket and
sorts only the buckets holding them; here it runs on hand-made rows where that can go
wrong (values on and just below a bucket edge, an even count whose median interpolates
across two buckets, ties, negative values, NULL values and NULL or empty group values, a
group of one row, a group of NULL values only) and again after rows move across a bucket
edge and a group's only row is deleted. Each time every row must equal what
percentile_cont, count and avg over the same grouping sets give: percentiles and counts
exactly, means up to the order of a float sum.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import jinja2
import pytest
import sqlalchemy as sa

from tests.pg import pg_engine
from tests.postgres.percentile_checks import assert_same_percentiles

MACROS = Path(__file__).parents[2] / "transforms" / "macros" / "hub_ranked_percentiles.sql"
PERCENTILES = [("median_v", 0.5), ("p75_v", 0.75), ("p90_v", 0.9)]
SETS = [("a", "b"), ("a",), ("b",), ()]


def _ranked_sql() -> str:
    """The macro rendered as dbt renders it (Jinja with the `do` extension)."""
    source = MACROS.read_text() + (
        "\n{{ hub_ranked_percentiles('vals', ['stage'], ['a', 'b'], 'value', 'key', "
        "'bucket', percentiles) }}"
    )
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    return env.from_string(source).render(percentiles=PERCENTILES)


def _oracle_sql() -> str:
    sets = ", ".join("(" + ", ".join(("stage", *s)) + ")" for s in SETS)
    pcts = ", ".join(
        f"percentile_cont({p}) within group (order by key) as {name}" for name, p in PERCENTILES
    )
    return (
        "select grouping(a, b) as grouping_id, stage, a, b, count(*) as n, "
        f"avg(value) as mean_value, {pcts} from vals group by grouping sets ({sets})"
    )


def _rows(conn: sa.Connection, sql: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {tuple(r[:4]): tuple(r[4:]) for r in conn.execute(sa.text(sql)).all()}


def _insert(
    conn: sa.Connection, rows: list[tuple[str, str | None, str | None, float | None]]
) -> None:
    conn.execute(
        sa.text(
            "insert into vals (stage, a, b, value, key, bucket) values "
            "(:stage, :a, :b, :v, :v, floor(:v))"
        ),
        [{"stage": s, "a": a, "b": b, "v": v} for s, a, b, v in rows],
    )


def _assert_same(conn: sa.Connection) -> int:
    return assert_same_percentiles(_rows(conn, _ranked_sql()), _rows(conn, _oracle_sql()))


def test_ranked_percentiles_equal_percentile_cont(pg_database: dict[str, Any]) -> None:
    pytest.importorskip("psycopg2")
    rng = random.Random(19)
    edge = math.nextafter(1.0, 0.0)  # just below the edge of buckets 0 and 1
    rows: list[tuple[str, str | None, str | None, float | None]] = [
        # even count, the median's two ranks in buckets 0 and 1
        ("edges", "x", "p", 0.5),
        ("edges", "x", "p", 1.5),
        # on and just below an edge, ties across it
        ("edges", "x", "q", edge),
        ("edges", "x", "q", 1.0),
        ("edges", "x", "q", 1.0),
        ("edges", "x", "q", 2.0),
        ("edges", "y", "q", -0.25),
        ("edges", "y", "q", -1.0),
        # NULL values: counted, neither ranked nor averaged
        ("edges", "y", "p", None),
        ("edges", "y", "p", 3.0),
        ("nulls", "z", "p", None),  # a group of NULL values only
        ("single", "z", "p", 7.25),  # a group of one row
        # NULL and '' group values are different groups
        ("edges", None, "p", 4.25),
        ("edges", "", "p", 4.5),  # the same bucket
        ("edges", "x", None, 6.0),
    ]
    for _ in range(3000):  # ties, most buckets shared by several groups
        stage = rng.choice(["bulk1", "bulk2"])
        rows.append(
            (stage, rng.choice(["x", "y", "w"]), rng.choice(["p", "q"]), rng.randint(0, 40 * 8) / 8)
        )
    engine = pg_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "create table vals (stage text, a text, b text, value double precision, "
                    "key double precision, bucket integer)"
                )
            )
            _insert(conn, rows)
            conn.execute(sa.text("set local enable_nestloop = off"))
            assert _assert_same(conn) > 40
            # a value moves across a bucket edge, a group's only row is deleted
            conn.execute(
                sa.text("update vals set value = 2.75, key = 2.75, bucket = 2 where value = 0.5")
            )
            conn.execute(sa.text("delete from vals where stage = 'single'"))
            _insert(conn, [("edges", "x", "p", 1.0)])  # an odd count now: one rank per percentile
            assert _assert_same(conn) > 40
    finally:
        engine.dispose()
