"""The stage-observation rule (``hub.warehouse.observations``) on both warehouses, run after
each load: a row only for a deal whose stage or pipeline differs from its last observation,
and the last one is the latest ``observed_at``, then ``seen_at``, whatever order the rows
were written in. Real DuckDB and PostgreSQL, no dbt: a second of each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.warehouse.observations import record_observations
from tests.pg import pg_engine

SCHEMA = "src_s"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _at(day: int, hour: int = 0) -> datetime:
    return T0.replace(day=day, hour=hour)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "duckdb":
        engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}", poolclass=sa.pool.NullPool)
    else:
        engine = pg_engine(request.getfixturevalue("pg_database"))
    with engine.begin() as conn:
        _create_deals(conn)
    yield engine
    engine.dispose()


def _create_deals(conn: sa.Connection) -> None:
    """The source's schema with an empty ``deals`` table of the columns the rule reads."""
    conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    conn.execute(
        sa.text(
            f"CREATE TABLE {SCHEMA}.deals (source_name varchar, crm varchar, "
            "deal_key varchar, pipeline_id varchar, stage_id varchar, "
            "stage_changed_at timestamptz, updated_at timestamptz, is_deleted boolean)"
        )
    )


def _deals(conn: sa.Connection, *rows: tuple[str, str | None, str | None, datetime | None]) -> None:
    conn.execute(sa.text(f"DELETE FROM {SCHEMA}.deals"))
    conn.execute(
        sa.text(f"INSERT INTO {SCHEMA}.deals VALUES ('s', 'csv', :k, :p, :s, :c, :c, :d)"),
        [{"k": k, "p": p, "s": s, "c": c, "d": k.startswith("gone")} for k, p, s, c in rows],
    )


def _observed(conn: sa.Connection) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        sa.text(
            f"SELECT deal_key, pipeline_id, stage_id, observed_at, seen_at "
            f"FROM {SCHEMA}.stage_observations ORDER BY seen_at, deal_key"
        )
    ).all()
    return [(k, p, s, _utc(o), _utc(n)) for k, p, s, o, n in rows]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def test_a_deal_is_observed_when_its_stage_or_pipeline_differs_from_its_latest_observation(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        _deals(conn, ("a", "p1", "s1", _at(2)), ("b", None, "s1", None), ("gone", "p1", "s1", None))
        assert record_observations(conn, "s", _at(3)) == 2  # the deleted deal is not observed
        assert _observed(conn) == [
            ("a", "p1", "s1", _at(2), _at(3)),  # its stage-change time, before this run
            ("b", None, "s1", _at(3), _at(3)),  # no time of its own: the run's
        ]
        assert record_observations(conn, "s", _at(4)) == 0  # nothing moved
        # a moves on; b changes pipeline only; a new deal c; a stage-change time in the
        # future is not trusted (the run's time instead)
        _deals(conn, ("a", "p1", "s2", _at(5)), ("b", "p2", "s1", None), ("c", "p1", "s1", None))
        assert record_observations(conn, "s", _at(4, 12)) == 3
        assert _observed(conn)[2:] == [
            ("a", "p1", "s2", _at(4, 12), _at(4, 12)),
            ("b", "p2", "s1", _at(4, 12), _at(4, 12)),
            ("c", "p1", "s1", _at(4, 12), _at(4, 12)),
        ]
        # An observation written later but observed earlier (a backfill) is not the latest:
        # a's latest is still s2, so a, still in s2, is not observed again.
        conn.execute(
            sa.text(
                f"INSERT INTO {SCHEMA}.stage_observations VALUES "
                "('s', 'csv', 'a', 'p1', 's9', :o, :n), ('s', 'csv', 'c', 'p1', 's9', :o2, :n)"
            ),
            {"o": _at(1), "o2": _at(4, 12), "n": _at(6)},
        )
        _deals(conn, ("a", "p1", "s2", _at(5)), ("c", "p1", "s1", None))
        # c: two observations at the same observed_at, the later seen_at (s9) is the latest
        assert record_observations(conn, "s", _at(7)) == 1
        assert _observed(conn)[-1] == ("c", "p1", "s1", _at(7), _at(7))
        assert record_observations(conn, "s", _at(8)) == 0


def _run_both_ways(engine: sa.Engine, seen_at: datetime) -> int:
    """Run the rule in a transaction of its own, as each load's step does; on PostgreSQL it
    looks only at the deals written since its last run: check that looking at every deal
    (nothing kept) appends the same rows, then keep the run."""
    from hub.warehouse import observed_deals

    outcomes = []
    for forget in (True, False):
        with engine.begin() as conn:
            if forget:
                conn.execute(sa.text(f"DELETE FROM {observed_deals.KEPT}"))
            outcomes.append((record_observations(conn, "s", seen_at), _observed(conn)))
            if forget:
                conn.rollback()
    assert outcomes[0] == outcomes[1]
    return outcomes[1][0]


@pytest.mark.postgres
def test_on_postgres_only_deals_written_since_the_last_run_are_looked_at(
    pg_database: dict[str, Any],
) -> None:
    """Each write that can make a deal disagree with its latest observation, in transactions
    of their own: the narrowed run appends what a run over every deal appends."""
    from hub.warehouse import observed_deals

    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        _create_deals(conn)
        _deals(conn, ("a", "p1", "s1", None), ("b", "p1", "s1", None), ("c", "p1", "s1", None))
        assert record_observations(conn, "s", _at(2)) == 3
    assert _run_both_ways(engine, _at(3)) == 0  # nothing written
    with engine.begin() as conn:  # a deal moved on
        conn.execute(sa.text(f"UPDATE {SCHEMA}.deals SET stage_id = 's2' WHERE deal_key = 'a'"))
    with engine.begin() as conn:  # the candidates: the deal written, no other
        _, only = observed_deals.write_candidates(conn, SCHEMA)
        assert only is not None
        keys = conn.execute(sa.text(f"SELECT deal_key FROM {observed_deals.CANDIDATES}"))
        assert keys.scalars().all() == ["a"]
        conn.rollback()
    assert _run_both_ways(engine, _at(4)) == 1
    with engine.begin() as conn:  # another writer's observation of b, later: b is in s1 again
        conn.execute(
            sa.text(
                f"INSERT INTO {SCHEMA}.stage_observations VALUES "
                "('s', 'csv', 'b', 'p1', 's9', :o, :o)"
            ),
            {"o": _at(4, 12)},
        )
    assert _run_both_ways(engine, _at(5)) == 1
    assert _observed(engine.connect())[-1][:3] == ("b", "p1", "s1")
    with engine.begin() as conn:  # a's latest observation deleted: its older one, s1, is
        conn.execute(  # the latest again, and a is in s2
            sa.text(f"DELETE FROM {SCHEMA}.stage_observations WHERE stage_id = 's2'")
        )
    assert _run_both_ways(engine, _at(6)) == 1
    with engine.begin() as conn:  # a deal deleted and one back from the dead
        conn.execute(sa.text(f"UPDATE {SCHEMA}.deals SET is_deleted = true WHERE deal_key = 'c'"))
    assert _run_both_ways(engine, _at(7)) == 0
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {SCHEMA}.deals SET is_deleted = false, stage_id = 's3' "
                "WHERE deal_key = 'c'"
            )
        )
    assert _run_both_ways(engine, _at(8)) == 1
    assert _run_both_ways(engine, _at(9)) == 0
    engine.dispose()
