"""hub.warehouse.quarantine.drop_reloaded on both warehouses: rows equal in every column
(NULLs included) are one row loaded twice and keep one copy; rows that differ anywhere stay.
The case where dlt's loader appends a job twice is reproduced with dlt itself in
tests/reliability/test_interrupted_packages.py (DuckDB); this one checks the SQL where
PostgreSQL's NULL and temporary-table rules differ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.warehouse.quarantine import drop_reloaded
from tests.pg import fresh_database, pg_engine

ROW = "('exp', 'csv', 'deals', {rid}, {loc}, 'created', {value}, 'not a date', {at}, 'L1')"
AT = "TIMESTAMP '2026-12-01 10:00:00'"
ROWS = [
    ROW.format(rid="'1'", loc="'deals.csv:2'", value="'soon'", at=AT),
    ROW.format(rid="'1'", loc="'deals.csv:2'", value="'soon'", at=AT),  # loaded twice
    ROW.format(rid="'1'", loc="'deals.csv:2'", value="'soon'", at=AT),  # and a third time
    ROW.format(rid="NULL", loc="'deals.csv:3'", value="NULL", at=AT),
    ROW.format(rid="NULL", loc="'deals.csv:3'", value="NULL", at=AT),  # NULLs, twice
    ROW.format(rid="'2'", loc="'deals.csv:4'", value="'soon'", at=AT),  # differs: stays
    ROW.format(rid="'2'", loc="'deals.csv:5'", value="'soon'", at=AT),
]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "duckdb":
        yield sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
        return
    server: dict[str, Any] = request.getfixturevalue("pg_server")
    with fresh_database(server) as db:
        yield pg_engine(db)


def test_rows_equal_in_every_column_keep_one_copy(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA src_exp"))
        conn.execute(
            sa.text(
                "CREATE TABLE src_exp.quarantine (source_name varchar, crm varchar, "
                "entity varchar, record_id varchar, location varchar, column_name varchar, "
                "value varchar, reason varchar, quarantined_at timestamp, _dlt_load_id varchar)"
            )
        )
        conn.execute(sa.text("INSERT INTO src_exp.quarantine VALUES " + ", ".join(ROWS)))

        assert drop_reloaded(conn, "exp") == 3
        assert drop_reloaded(conn, "exp") == 0
        left = conn.execute(
            sa.text("SELECT record_id, location, value FROM src_exp.quarantine ORDER BY 2")
        ).all()
    assert [tuple(r) for r in left] == [
        ("1", "deals.csv:2", "soon"),
        (None, "deals.csv:3", None),
        ("2", "deals.csv:4", "soon"),
        ("2", "deals.csv:5", "soon"),
    ]


def test_a_source_without_a_quarantine_table_has_nothing_to_drop(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        assert drop_reloaded(conn, "exp") == 0
