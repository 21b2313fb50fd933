"""DuckDB's per-deal snapshot read only for the deals owning a row appended since the kept one
(``hub.warehouse.appended_rows``) gives what reading every deal gives.

Real DuckDB, the real snapshot statements, over source tables and staging views of this
file's own (the per-deal parts' columns, one source): after a kept snapshot, each kind of
write is made (by SQL, by the CSV connector's DuckDB merge, with a checkpoint that may
renumber rows), then the snapshot is taken both ways in one transaction (narrowed, then with
the kept states removed: whole) and every row of it and the changed-deal list must be equal,
the list the one the write calls for. Each case also says which parts were read whole, so a
shortcut that trusts ``rowid`` alone (an update keeps it), or one that never narrows, fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import incremental
from hub.warehouse import appended_rows, changes
from tests import deal_inputs

_SOURCES = ("s",)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}", poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        deal_inputs.create_tables(conn, text="varchar", number="decimal(38,9)")
        deal_inputs.fill(conn)
    with engine.begin() as conn:  # the last complete build's snapshot, and its tables' states
        changes.snapshot_inputs(conn, "duckdb", changes.PARTS, sources=_SOURCES)
        changes.keep_snapshot(conn, {part.name: "" for part in changes.PARTS})
    yield engine
    engine.dispose()


def _taken(
    conn: sa.Connection, window: tuple[datetime, datetime] | None
) -> tuple[list[str], list[tuple], list[str]]:
    """(parts read whole, the new snapshot's rows but its ``changed`` flags, the changed
    deals: the flags of the parts read, with write_changed's window check of the others)."""
    _, whole = changes.take_and_compare(conn, changes.PARTS, window, sources=_SOURCES)
    result = conn.execute(sa.text(f"SELECT * FROM {changes.NEXT_INPUTS}"))
    kept = [i for i, name in enumerate(result.keys()) if name != "changed"]
    rows = [tuple(row[i] for i in kept) for row in result]
    changed = conn.execute(sa.text(f"SELECT deal_key FROM {changes.CHANGED}")).scalars()
    return [p.name for p in whole], sorted(rows, key=repr), sorted(changed)


def _csv_merge(
    conn: sa.Connection,
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    keys: tuple[str, ...],
    rows: str,
) -> None:
    """The CSV connector's DuckDB merge (:func:`connectors.csv.duck.merge`) of ``rows`` (a
    query) into ``table`` of this file's columns: the rows that differ deleted, then
    inserted."""
    import connectors.csv.duck as duck

    columns = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'src_s' "
            "AND table_name = :t ORDER BY ordinal_position"
        ),
        {"t": table},
    ).scalars()
    typed = {str(c): (str, None) for c in columns}
    monkeypatch.setattr(duck, "model_columns", lambda model: typed)
    model = type("Model", (), {"table_name": table, "primary_key": keys})
    duck.merge(_duckdb(conn), "s", model, f"({rows})")


def _duckdb(conn: sa.Connection) -> Any:
    """The DuckDB connection under a SQLAlchemy one (the same transaction)."""
    raw = conn.connection.dbapi_connection
    return getattr(raw, "_ConnectionWrapper__c", raw)


_NARROW = ["deal_loads"]  # the load instants part (two tables) is always read whole
_ALL = [p.name for p in changes.PARTS]
CASES = [
    ("nothing written", [], [], _NARROW),
    (
        "a value changed in place",
        ["UPDATE src_s.deals SET stage_id = 'open_2' WHERE deal_key = 'd1'"],
        ["d1"],
        ["deals", *_NARROW],
    ),
    (
        "a row rewritten in place with its own values",
        ["UPDATE src_s.activities SET owner_id = owner_id WHERE deal_key = 'd2'"],
        [],
        _NARROW,
    ),
    (
        "one activity deleted, its deal gaining no row",
        ["DELETE FROM src_s.activities WHERE activity_key = 'd2-0'"],
        ["d2"],
        ["activities", *_NARROW],
    ),
    (
        "a deal deleted with its stage history",
        [
            "DELETE FROM src_s.deals WHERE deal_key = 'd3'",
            "DELETE FROM src_s.stage_changes WHERE deal_key = 'd3'",
        ],
        ["d3"],
        ["deals", "stage_changes", *_NARROW],
    ),
    (
        "an activity moved to another deal",
        ["UPDATE src_s.activities SET deal_key = 'd5' WHERE activity_key = 'd4-1'"],
        ["d4", "d5"],
        ["activities", *_NARROW],
    ),
    (
        "a new deal, a new stage observation and new stage history",
        [
            "INSERT INTO src_s.deals SELECT 'd9', source_name, pipeline_id, stage_id, status, "
            "created_at, closed_at, updated_at, stage_changed_at, 'a9', 9 FROM src_s.deals "
            "WHERE deal_key = 'd1'",
            "INSERT INTO src_s.stage_observations VALUES ('d8', '2026-03-01', 'p', 'open_2')",
            "INSERT INTO src_s.stage_changes VALUES ('d7', '2026-03-01', 'open_2', 'open_1', "
            "'p', NULL)",
        ],
        ["d7", "d8", "d9"],
        _NARROW,
    ),
    (
        "rows appended, and one of the kept rows deleted",
        [
            "INSERT INTO src_s.stage_changes VALUES ('d7', '2026-03-01', 'open_2', 'open_1', "
            "'p', NULL)",
            "DELETE FROM src_s.stage_changes WHERE deal_key = 'd6'",
        ],
        ["d6", "d7"],
        ["stage_changes", *_NARROW],
    ),
    (
        # a checkpoint after a delete may give the new row the deleted one's rowid
        "a kept row replaced by another, then a checkpoint",
        [
            "DELETE FROM src_s.stage_observations WHERE deal_key = 'd2'",
            "INSERT INTO src_s.stage_observations VALUES ('d2', '2026-01-04', 'p', 'open_2')",
            "CHECKPOINT",
        ],
        ["d2"],
        ["stage_observations", *_NARROW],
    ),
    (
        "a table replaced by the same rows and one more (a full refresh)",
        [
            "CREATE TEMPORARY TABLE kept_rows AS SELECT * FROM src_s.stage_changes",
            "DROP TABLE src_s.stage_changes",
            "CREATE TABLE src_s.stage_changes AS SELECT * FROM kept_rows",
            "INSERT INTO src_s.stage_changes VALUES ('d5', '2026-03-02', 'won', 'open_1', "
            "'p', NULL)",
        ],
        ["d5"],
        _NARROW,
    ),
    (
        "a table replaced by other rows (a full refresh)",
        [
            "CREATE TEMPORARY TABLE kept_rows AS SELECT * FROM src_s.stage_changes",
            "DROP TABLE src_s.stage_changes",
            "CREATE TABLE src_s.stage_changes AS SELECT * FROM kept_rows WHERE deal_key <> 'd4'",
            "INSERT INTO src_s.stage_changes VALUES ('d4', '2026-03-02', 'won', 'open_1', "
            "'p', NULL)",
        ],
        ["d4"],
        ["stage_changes", *_NARROW],
    ),
]


@pytest.mark.parametrize(
    ("case", "writes", "expected", "read_whole"), CASES, ids=[c[0] for c in CASES]
)
def test_the_narrowed_snapshot_is_the_whole_one(
    engine: sa.Engine, case: str, writes: list[str], expected: list[str], read_whole: list[str]
) -> None:
    with engine.connect() as conn:  # each write in a transaction of its own
        for write in writes:
            conn.execute(sa.text(write))
            conn.commit()
    assert _both_ways(engine, None, read_whole, case) == expected, case


def _both_ways(
    engine: sa.Engine, window: tuple[datetime, datetime] | None, read_whole: list[str], case: str
) -> list[str]:
    """The snapshot narrowed and whole agree, the narrowed one read ``read_whole`` whole;
    returns the changed deals."""
    with engine.connect() as conn:
        narrowed = _taken(conn, window)
        conn.execute(sa.text(f"DROP TABLE {appended_rows.KEPT}"))  # no states: read whole
        whole = _taken(conn, window)
        conn.rollback()
    assert whole[0] == _ALL, case
    assert narrowed[1] == whole[1], case
    assert narrowed[2] == whole[2], case
    assert narrowed[0] == read_whole, case
    return narrowed[2]


def test_the_csv_connectors_merge_of_a_re_read_file(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-read deals file merged by the CSV connector on DuckDB deletes the rows that
    differ and inserts them again: ``deals`` is read whole; an appended stage history merged
    the same way is read for its deals only."""
    with engine.begin() as conn:
        _csv_merge(
            conn,
            monkeypatch,
            "deals",
            ("deal_key",),
            "SELECT deal_key, source_name, pipeline_id, CASE WHEN deal_key = 'd2' THEN 'won' "
            "ELSE stage_id END AS stage_id, status, created_at, closed_at, updated_at, "
            "stage_changed_at, account_key, amount FROM src_s.deals",
        )
        _csv_merge(
            conn,
            monkeypatch,
            "stage_changes",
            ("deal_key", "changed_at", "stage_id"),
            "SELECT * FROM src_s.stage_changes UNION ALL SELECT 'd2', TIMESTAMP '2026-03-01', "
            "'won', 'open_1', 'p', NULL",
        )
    assert _both_ways(engine, None, ["deals", *_NARROW], "merge") == ["d2"]


def test_as_of_crossing_an_instant_of_a_deal_not_read_still_rebuilds_it(
    engine: sa.Engine,
) -> None:
    """With only an appended row no other deal is read, yet a deal whose activity lies
    between the two as_of values changes (write_changed finds it in the parts not read
    whole)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO src_s.activities VALUES ('n', 'd1', '2026-03-01', false, 'o', 'x')"
            )
        )
    window = (datetime(2026, 2, 1, 12), datetime(2026, 2, 2, 12))
    assert _both_ways(engine, window, _NARROW, "window") == deal_inputs.DEALS


def test_the_states_are_kept_with_the_snapshot(engine: sa.Engine) -> None:
    """What the next run compares with: each source table's highest rowid, rows and sum of
    row hashes as they were when the kept snapshot was read, kept only with it."""
    with engine.begin() as conn:
        tables = appended_rows.source_tables(conn, _SOURCES, changes.VERSIONED)
        assert [t for _, t in tables] == sorted(changes.VERSIONED)
        kept = appended_rows.kept(conn)
        now = appended_rows.current(conn, tables, kept)
        assert {t: n.state for t, n in now.items()} == kept
        assert all(n.appended_only for n in now.values())
        conn.execute(sa.text("INSERT INTO src_s.stage_changes SELECT * FROM src_s.stage_changes"))
        changes.snapshot_inputs(conn, "duckdb", changes.PARTS, compare=True, sources=_SOURCES)
        assert appended_rows.kept(conn) == kept  # taken, not kept yet
        changes.keep_snapshot(conn, {part.name: "" for part in changes.PARTS})
        grown = appended_rows.kept(conn)
        assert grown != kept
        assert grown == {t: n.state for t, n in appended_rows.current(conn, tables, {}).items()}
        changes.snapshot_inputs(conn, "duckdb", changes.PARTS)  # no states: none kept
        changes.keep_snapshot(conn, {part.name: "" for part in changes.PARTS})
        assert appended_rows.kept(conn) == {}


def test_the_transforms_table_sums_read_the_same_states(engine: sa.Engine) -> None:
    """The plan reads the states in the scan that sums every source table's row hashes
    (``hub.incremental.table_sums``): the same states as read alone, and the same sums as
    without them (the content digest a no-change sync is skipped by)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO src_s.stage_observations VALUES ('d1', '2026-03-01', 'p', 'x')")
        )
        conn.execute(sa.text("DELETE FROM src_s.activities WHERE activity_key = 'd1-0'"))
        appends: dict[str, appended_rows.Now] = {}
        sums = incremental.table_sums(conn, list(_SOURCES), appends_out=appends)
        assert sums == incremental.table_sums(conn, list(_SOURCES))
        tables = appended_rows.source_tables(conn, _SOURCES, changes.VERSIONED)
        assert appends == appended_rows.current(conn, tables, appended_rows.kept(conn))
        assert {t: n.appended_only for t, n in appends.items()} == {
            "src_s.activities": False,
            "src_s.deals": True,
            "src_s.stage_changes": True,
            "src_s.stage_observations": True,
        }
