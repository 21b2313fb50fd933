"""PostgreSQL's per-deal snapshot read only for the deals owning a row written since the kept
one (``hub.warehouse.deal_versions``) gives what reading every deal gives.

Real PostgreSQL, the real snapshot statements, over source tables and staging views of this
file's own (the per-deal parts' columns, one source): after a kept snapshot, each kind of
write is made in its own transactions, then the snapshot is taken both ways in one
transaction (narrowed, then with the kept row versions removed: whole) and every row of it
and the changed-deal list must be equal, the list the one the write calls for. Each case also
says which parts had to be read whole (a deal that lost a row and gained none), so a
shortcut that skips that check, or one that never narrows, fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from hub.warehouse import changes, deal_indexes, deal_versions
from tests import deal_inputs
from tests.pg import pg_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(pg_database: dict[str, Any]) -> Iterator[sa.Engine]:
    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        deal_inputs.create_tables(conn, text="text", number="numeric")
        deal_inputs.fill(conn)
    with engine.begin() as conn:  # the last complete build's snapshot, and its row versions
        changes.snapshot_inputs(conn, "postgresql", changes.PARTS)
        changes.keep_snapshot(conn, {part.name: "" for part in changes.PARTS})
    yield engine
    engine.dispose()


def _taken(
    conn: sa.Connection, window: tuple[datetime, datetime] | None, by_key_share: int | None = None
) -> tuple[list[str], list[tuple], list[str]]:
    """(parts read whole, the new snapshot's rows but its ``changed`` flags, the changed
    deals: the flags of the parts read, with write_changed's window check of the others).
    ``by_key_share``: 0 fetches every narrowed part's candidates through the deal_key
    index, a huge one picks them from a scan; None lets their count decide."""
    _, whole = changes.take_and_compare(conn, changes.PARTS, window, by_key_share=by_key_share)
    result = conn.execute(sa.text(f"SELECT * FROM {changes.NEXT_INPUTS}"))
    kept = [i for i, name in enumerate(result.keys()) if name != "changed"]
    rows = [tuple(row[i] for i in kept) for row in result]
    changed = conn.execute(sa.text(f"SELECT deal_key FROM {changes.CHANGED}")).scalars()
    return [p.name for p in whole], sorted(rows, key=repr), sorted(changed)


_NARROW = ["deal_loads"]  # the load instants part (two tables) is always read whole
CASES = [
    ("nothing written", [], [], _NARROW),
    (
        "a value changed in place",
        ["UPDATE src_s.deals SET stage_id = 'open_2' WHERE deal_key = 'd1'"],
        ["d1"],
        _NARROW,
    ),
    (
        "a row rewritten with its own values",
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
        "an update on one deal, a delete on another, in one transaction",
        [
            "UPDATE src_s.activities SET type = 'Email' WHERE activity_key = 'd6-0'; "
            "DELETE FROM src_s.activities WHERE activity_key = 'd7-1'"
        ],
        ["d6", "d7"],
        ["activities", *_NARROW],
    ),
    (
        "a new deal and a new stage observation",
        [
            "INSERT INTO src_s.deals SELECT 'd9', source_name, pipeline_id, stage_id, status, "
            "created_at, closed_at, updated_at, stage_changed_at, 'a9', 9 FROM src_s.deals "
            "WHERE deal_key = 'd1'",
            "INSERT INTO src_s.stage_observations VALUES ('d8', '2026-03-01', 'p', 'open_2')",
        ],
        ["d8", "d9"],
        _NARROW,
    ),
    (
        "a table emptied and filled with the same rows",
        [
            "CREATE TEMPORARY TABLE kept_rows AS SELECT * FROM src_s.stage_changes; "
            "TRUNCATE src_s.stage_changes; "
            "INSERT INTO src_s.stage_changes SELECT * FROM kept_rows"
        ],
        [],
        _NARROW,
    ),
    ("the tables rewritten by VACUUM FULL", ["VACUUM FULL"], [], _NARROW),
]


@pytest.mark.parametrize(
    ("case", "writes", "expected", "read_whole"), CASES, ids=[c[0] for c in CASES]
)
def test_the_narrowed_snapshot_is_the_whole_one(
    engine: sa.Engine, case: str, writes: list[str], expected: list[str], read_whole: list[str]
) -> None:
    for write in writes:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(write))
    with engine.connect() as conn:
        # the candidates' rows fetched through the deal_key index, then picked from a scan
        by_key, by_scan = _taken(conn, None, by_key_share=0), _taken(conn, None, 10**9)
        conn.execute(sa.text(f"DROP TABLE {deal_versions.KEPT}"))  # no versions: read whole
        whole = _taken(conn, None)
        conn.rollback()
    assert whole[0] == [p.name for p in changes.PARTS], case
    for narrowed in (by_key, by_scan):
        assert narrowed[1] == whole[1], case
        assert narrowed[2] == whole[2] == expected, case
        assert narrowed[0] == read_whole, case


def test_as_of_crossing_an_instant_of_a_deal_not_read_still_rebuilds_it(
    engine: sa.Engine,
) -> None:
    """With nothing written no deal is read, yet a deal whose activity lies between the two
    as_of values changes (write_changed finds it in the parts not read whole)."""
    window = (datetime(2026, 2, 1, 12), datetime(2026, 2, 2, 12))
    with engine.connect() as conn:
        narrowed = _taken(conn, window)
        conn.execute(sa.text(f"DROP TABLE {deal_versions.KEPT}"))
        whole = _taken(conn, window)
        conn.rollback()
    assert narrowed[2] == whole[2] == deal_inputs.DEALS
    assert narrowed[1] == whole[1]
    assert narrowed[0] == _NARROW


def test_the_row_versions_are_kept_with_the_snapshot(engine: sa.Engine) -> None:
    """What the next run compares with: each source table's rows per transaction id as they
    were when the kept snapshot was read, kept only with it."""
    with engine.begin() as conn:
        kept = deal_versions.kept(conn)
        assert kept == deal_versions.current(conn, changes.VERSIONED)
        conn.execute(sa.text("UPDATE src_s.deals SET amount = 0 WHERE deal_key = 'd1'"))
        changes.snapshot_inputs(conn, "postgresql", changes.PARTS, compare=True)
        assert deal_versions.kept(conn) == kept  # taken, not kept yet
        changes.keep_snapshot(conn, {part.name: "" for part in changes.PARTS})
        assert deal_versions.kept(conn) == deal_versions.current(conn, changes.VERSIONED) != kept


def test_a_few_candidates_rows_are_fetched_through_the_deal_key_index(engine: sa.Engine) -> None:
    """dlt makes no index: the narrowed snapshot makes one on each per-deal table's deal_key,
    and the filter it reads a few candidates with is planned as a lookup in it, not as a scan
    of every row (the statement a million-deal table made slow)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO src_s.stage_changes SELECT 'e' || i, '2026-01-03', 'open_1', "
                "NULL, 'p', NULL FROM generate_series(1, 20000) AS i"
            )
        )
        conn.execute(sa.text("ANALYZE src_s.stage_changes"))
        assert deal_indexes.missing(conn, ["src_s"]) == [
            ("src_s", t) for t in sorted(deal_indexes.INDEXED)
        ]
        changes.take_and_compare(conn, changes.PARTS, None)
        assert deal_indexes.missing(conn, ["src_s"]) == []
        part = next(p for p in changes.PARTS if p.name == "stage_changes")
        conn.execute(
            sa.text(
                "CREATE TEMPORARY TABLE hub_candidates_stage_changes AS SELECT 'd1' AS deal_key"
            )
        )
        conn.execute(sa.text("ANALYZE pg_temp.hub_candidates_stage_changes"))
        plan = conn.execute(
            sa.text(
                "EXPLAIN SELECT * FROM hub_staging.stg_stage_changes WHERE "
                + changes.candidate_filter(part, by_key=True)
            )
        ).scalars()
        text = "\n".join(plan)
        assert "Scan on stage_changes_hub_deal_key" in text  # an index or bitmap index scan
        assert "Seq Scan on stage_changes" not in text
