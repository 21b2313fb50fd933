"""Macro hub_cycle_percentiles (int_sales_cycle_periods on PostgreSQL) against the aggregates
it replaces.

The macro reads the cycles counted per period, group and whole day (the rows of
hub_cycle_day_rows summed, as int_sales_cycle_day_counts keeps them) and reads again only the
cycles of the days holding a wanted rank. Here it runs on hand-made facts where that can go
wrong (cycles on and just below a day's edge, an even count whose median interpolates across
two days, ties, negative cycles, NULL and '' reps, a group of one deal, creation rows and rows
without a cycle, the all-time period's NULL start) and again after the counts take deltas:
a deal's cycle crosses a day's edge, one moves into another month, a group's only deal is
deleted. Each time every row must equal what count, avg and percentile_cont over the old
grouping sets give: counts and percentiles exactly, means up to the order of a float sum.
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

MACROS = Path(__file__).parents[2] / "transforms" / "macros" / "hub_cycle_percentiles.sql"
RANKS = MACROS.with_name("hub_ranked_percentiles.sql")  # hub_percentile_rank_rows
# the macros it calls from other files, reduced to what a build without the hub's var renders
STUBS = (
    "{% macro hub_only_touched_groups(columns) %}{% endmacro %}"
    "{% macro hub_planned_alone() %} materialized{% endmacro %}"
)
COLUMNS = "deal_key, period_type, period_start, is_creation, source_name, rep_key, is_won, has_cycle, cycle_days"
GROUPS = "period_type, period_start, rolled, rep_key, outcome, source_name, cycle_day"
Fact = tuple[str, str, str | None, str | None, str | None, bool, float | None]


def _render(call: str) -> str:
    """A macro call rendered as dbt renders it (Jinja with the `do` extension)."""
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    dbt = {"type_bigint": lambda: "bigint"}
    return env.from_string(MACROS.read_text() + RANKS.read_text() + STUBS + "\n" + call).render(
        dbt=dbt
    )


def _oracle_sql() -> str:
    return (
        "select period_type, period_start, "
        "case when grouping(rep_key) = 1 then '*' else rep_key end as rep_key, outcome, "
        "case when grouping(source_name) = 1 then '*' else source_name end as source_name, "
        "count(*), avg(cycle_days), "
        "percentile_cont(0.5) within group (order by cycle_days), "
        "percentile_cont(0.9) within group (order by cycle_days) "
        "from (select *, case when is_won then 'won' else 'lost' end as outcome from facts "
        "where not is_creation and has_cycle) as closed group by grouping sets ("
        "(period_type, period_start, rep_key, outcome, source_name), "
        "(period_type, period_start, rep_key, outcome), "
        "(period_type, period_start, outcome, source_name), (period_type, period_start, outcome))"
    )


def _rows(conn: sa.Connection, sql: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {tuple(r[:5]): tuple(r[5:]) for r in conn.execute(sa.text(sql)).all()}


def _insert(conn: sa.Connection, table: str, facts: list[Fact]) -> None:
    """Each fact (deal, month start, rep, source, outcome won, cycle) in its month, its
    quarter and all time, with a creation row (no cycle) in its month."""
    rows = []
    for deal, month, rep, source, won, cycle in facts:
        quarter = month[:5] + f"{(int(month[5:7]) - 1) // 3 * 3 + 1:02d}-01"
        for period_type, start in (("month", month), ("quarter", quarter), ("all", None)):
            rows.append((deal, period_type, start, False, source, rep, won, True, cycle))
        rows.append((deal, "month", month, True, None, rep, False, False, None))
    names = [c.strip() for c in COLUMNS.split(",")]
    values = ", ".join(
        "cast(:period_start as date)" if n == "period_start" else f":{n}" for n in names
    )
    conn.execute(
        sa.text(f"insert into {table} ({COLUMNS}) values ({values})"),
        [dict(zip(names, row, strict=True)) for row in rows],
    )


def _count_all(conn: sa.Connection) -> None:
    """int_sales_cycle_day_counts built whole."""
    built = _render("{{ hub_cycle_day_counts('facts') }}")
    conn.execute(sa.text("drop table if exists counts"))
    conn.execute(sa.text(f"create table counts as {built}"))


def _apply_deltas(conn: sa.Connection, changed: list[Fact], deleted: list[str]) -> None:
    """What int_sales_cycle_day_counts does on a changed run: the listed deals' old rows
    (stashed) subtracted, their new rows added, per group; a group left without rows goes."""
    listed = [f[0] for f in changed] + deleted
    conn.execute(
        sa.text("create table before as select * from facts where deal_key = any(:k)"),
        {"k": listed},
    )
    conn.execute(sa.text("delete from facts where deal_key = any(:k)"), {"k": listed})
    _insert(conn, "facts", changed)
    now = _render(
        "{{ hub_cycle_day_rows('facts', 1, 'deal_key in (select deal_key from before)') }}"
    )
    old = _render("{{ hub_cycle_day_rows('before', -1, 'true') }}")
    conn.execute(
        sa.text(
            f"create table kept as select {GROUPS}, sum(n) as n, sum(cycle_seconds) as cycle_seconds "
            f"from (select {GROUPS}, n, cycle_seconds from counts union all {now} union all {old}) "
            f"as summed group by {GROUPS} having sum(n) > 0"
        )
    )
    conn.execute(sa.text("drop table counts"))
    conn.execute(sa.text("alter table kept rename to counts"))
    conn.execute(sa.text("drop table before"))


def _assert_same(conn: sa.Connection) -> int:
    conn.execute(sa.text("set local enable_nestloop = off"))
    got = _rows(conn, _render("{{ hub_cycle_percentiles('counts', 'facts') }}"))
    return assert_same_percentiles(got, _rows(conn, _oracle_sql()))


def test_cycle_percentiles_equal_percentile_cont(pg_database: dict[str, Any]) -> None:
    pytest.importorskip("psycopg2")
    rng = random.Random(19)
    edge = math.nextafter(86400.0, 0.0) / 86400  # just below the edge of days 0 and 1
    facts: list[Fact] = [
        # even count, the median's two ranks on days 0 and 1
        ("e1", "2026-01-01", "x", "s", True, 0.5),
        ("e2", "2026-01-01", "x", "s", True, 1.5),
        # on and just below a day's edge, ties across it
        ("e3", "2026-01-01", "x", "t", False, edge),
        ("e4", "2026-01-01", "x", "t", False, 1.0),
        ("e5", "2026-01-01", "x", "t", False, 1.0),
        ("e6", "2026-01-01", "x", "t", False, 2.0),
        ("e7", "2026-02-01", "y", "t", False, -0.25),  # closed before created
        ("e8", "2026-02-01", "y", "t", False, -1.0),
        ("e9", "2026-02-01", "z", "s", True, 7.25),  # a group of one deal
        # NULL and '' reps and sources are different groups
        ("e10", "2026-03-01", None, "s", True, 4.25),
        ("e11", "2026-03-01", "", "s", True, 4.5),  # the same day
        ("e12", "2026-03-01", "x", None, True, 6.0),
    ]
    for n in range(3000):  # whole seconds apart, ties, most days shared by several groups
        month = f"2025-{rng.randint(1, 12):02d}-01"
        seconds = rng.randint(0, 40 * 86400 // 900) * 900
        facts.append(
            (
                f"b{n}",
                month,
                rng.choice(["x", "y", "w"]),
                rng.choice(["s", "t"]),
                rng.random() < 0.5,
                seconds / 86400.0,
            )  # fmt: skip
        )
    engine = pg_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "create table facts (deal_key text, period_type text, period_start date, "
                    "is_creation boolean, source_name text, rep_key text, is_won boolean, "
                    "has_cycle boolean, cycle_days double precision)"
                )
            )
            _insert(conn, "facts", facts)
            # a closed deal without a measured cycle: in no group
            conn.execute(
                sa.text(
                    "insert into facts values ('nc', 'all', null, false, 's', 'x', true, false, 3.0)"
                )
            )
            _count_all(conn)
            assert _assert_same(conn) > 100
            # a cycle crosses a day's edge (an odd count now: one rank per median), one deal
            # moves into another month, a group's only deal is deleted
            _apply_deltas(
                conn,
                [
                    ("e1", "2026-01-01", "x", "s", True, 2.75),
                    ("e4", "2026-04-01", "x", "t", False, 1.0),
                ],  # fmt: skip
                ["e9"],
            )
            assert _assert_same(conn) > 100
            kept = f"select {GROUPS}, n, cycle_seconds from counts order by {GROUPS}"
            deltas = conn.execute(sa.text(kept)).all()
            _count_all(conn)  # the kept counts equal a full build's
            assert conn.execute(sa.text(kept)).all() == deltas
    finally:
        engine.dispose()
