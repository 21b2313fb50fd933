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
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {SCHEMA}.deals (source_name varchar, crm varchar, "
                "deal_key varchar, pipeline_id varchar, stage_id varchar, "
                "stage_changed_at timestamptz, updated_at timestamptz, is_deleted boolean)"
            )
        )
    yield engine
    engine.dispose()


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
