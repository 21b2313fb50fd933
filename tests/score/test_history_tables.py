"""PostgreSQL's feature query reads its comparisons (stage norms, rep and pipeline medians,
rep and account records) from temp tables filled by COPY (hub/score/history.py), not from
``values`` lists in its text: a CRM with 200k accounts would make that text hundreds of MB.

The staging tables are written here by hand on a real server: thousands of accounts, and
keys no CRM should send but some will (quotes, brackets, tabs, backslashes, ``\\N``,
newlines). The oracle is the feature query as it was, every comparison joined in SQL
(tests/score/oracle_sql.py), run on the same rows: every row and value must be the same,
floats to the bit (``earlier_dwell`` to 1e-12: its summation order changed, test_columnar.py).
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from hub.score.columns import copy_rows, fetch_arrow
from hub.score.features import (
    DEALS,
    REP_WINDOW_DAYS,
    SPELLS,
    _snapshot_schema,
    feature_query,
    snapshot_sql,
)
from hub.score.history import TABLES, TEMP_PREFIX, copy_real, copy_text, history_tables
from tests.pg import pg_engine
from tests.score.oracle_sql import snapshot_sql as oracle_sql

pytestmark = pytest.mark.postgres

STAGES = ("qualify", "propose", "negotiate")
START = datetime(2024, 1, 1)
INSTANTS = [datetime(2025, 3, 1), datetime(2025, 7, 1), datetime(2025, 11, 1)]
HOSTILE = [
    "O'Brien [EMEA]\t",
    "back\\slash",
    "\\N",
    "\\",
    "new\nline",
    "cr\rlf\r\n",
    "tab\tinside",
    "",
    "ünï 'quoted' \"double\"",
    "comma, semi; pipe|",
]

DDL = """
create schema hub_staging;
create table hub_staging.int_deals_enriched (
    deal_key varchar, source_name varchar, crm varchar, source_deal_id varchar,
    pipeline_key varchar, rep_key varchar, company_key varchar, amount_base numeric,
    created_at timestamp, closed_at timestamp, status varchar, is_counted boolean,
    is_deleted boolean);
create table hub_staging.int_deal_stage_spells (
    deal_key varchar, spell_index bigint, canonical_stage varchar, is_open_stage boolean,
    is_backward boolean, entered_at timestamp, exited_at timestamp, days numeric);
create table hub_staging.stg_activities (
    deal_key varchar, activity_type varchar, occurred_at timestamp, is_deleted boolean);
"""


def _stamp(rng: random.Random, after: datetime, most_days: float) -> datetime:
    return after + timedelta(seconds=int(rng.uniform(60, most_days * 86400)))


def _book(
    n_deals: int, companies: Sequence[str], reps: Sequence[str], pipelines: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Deals created over two years, each through one to four open-stage spells (some
    backward), most closed won or lost, a few activities each; amounts with ties, zeros and
    nulls so the medians and their filters matter."""
    rng = random.Random(627)
    stages = [*STAGES, *HOSTILE[:3]]  # hostile stage names too
    deals, spells, activities = [], [], []
    for n in range(n_deals):
        key = f"d{n:06d}"
        created = _stamp(rng, START, 640)
        amount = rng.choice([None, 0, 1000, 2500.5, round(rng.uniform(1, 90000), 2)])
        at, index, stage = created, 0, rng.randrange(len(stages))
        for _ in range(rng.randint(1, 4)):
            left = _stamp(rng, at, 70)
            days = (left - at).total_seconds() / 86400
            spells.append(
                {
                    "deal_key": key,
                    "spell_index": index,
                    "canonical_stage": stages[stage],
                    "is_open_stage": True,
                    "is_backward": index > 0 and rng.random() < 0.15,
                    "entered_at": at,
                    "exited_at": left,
                    "days": None if rng.random() < 0.03 else round(days, 6),
                }
            )
            at, index, stage = left, index + 1, rng.randrange(len(stages))
        status = rng.choice(["won", "lost", "lost", "open"])
        closed = at if status != "open" else None
        if status == "open":  # the last spell is still open
            spells[-1]["exited_at"], spells[-1]["days"] = None, None
        deals.append(
            {
                "deal_key": key,
                "source_name": "crm",
                "crm": "synthetic",
                "source_deal_id": str(n),
                "pipeline_key": rng.choice(pipelines),
                "rep_key": rng.choice(reps),
                "company_key": None if rng.random() < 0.05 else rng.choice(companies),
                "amount_base": amount,
                "created_at": created,
                "closed_at": closed,
                "status": status,
                "is_counted": True,
                "is_deleted": rng.random() < 0.02,
            }
        )
        for _ in range(rng.randint(0, 3)):
            activities.append(
                {
                    "deal_key": key,
                    "activity_type": rng.choice(["call", "email", "meeting", "note", "task"]),
                    "occurred_at": _stamp(rng, created, 200),
                    "is_deleted": rng.random() < 0.05,
                }
            )
    return {
        "int_deals_enriched": deals,
        "int_deal_stage_spells": spells,
        "stg_activities": activities,
    }


def _load(conn: sa.Connection, book: dict[str, list[dict[str, Any]]]) -> None:
    conn.execute(sa.text(DDL))
    for table, rows in book.items():
        copy_rows(conn, f"hub_staging.{table}", pa.Table.from_pylist(rows))
        conn.execute(sa.text(f"analyze hub_staging.{table}"))


def _sorted(rows: pa.Table) -> pa.Table:
    keys = [("snap_at", "ascending"), ("deal_key", "ascending"), ("spell_index", "ascending")]
    return rows.sort_by(keys)


def _assert_same_rows(new: pa.Table, old: pa.Table) -> None:
    assert new.num_rows == old.num_rows > 0
    new, old = _sorted(new), _sorted(old)
    for name in old.column_names:
        a, b = new.column(name), old.column(name)
        if not pa.types.is_floating(b.type):
            assert a.to_pylist() == b.to_pylist(), name
            continue
        x = a.fill_null(float("nan")).to_numpy()
        y = b.fill_null(float("nan")).to_numpy()
        if name == "earlier_dwell":
            assert np.allclose(x, y, rtol=1e-12, atol=1e-12, equal_nan=True), name
        else:  # to the bit
            assert x.tobytes() == y.tobytes(), name


def _compare_with_oracle(conn: sa.Connection, labelled_by: datetime | None) -> dict[str, int]:
    """The table path's rows against the oracle's; the query text's size and the temp
    tables' row counts and types while they exist."""
    schema = _snapshot_schema(())
    with feature_query(conn, INSTANTS, labelled_by=labelled_by) as sql:
        counts = {
            name: conn.execute(sa.text(f"select count(*) from pg_temp.{TEMP_PREFIX}{name}")).one()[
                0
            ]
            for name in TABLES
        }
        types = conn.execute(
            sa.text(
                "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
                "from pg_attribute a join pg_class c on c.oid = a.attrelid "
                "where c.relnamespace = pg_my_temp_schema() and a.attnum > 0 "
                "and c.relname like :prefix"
            ),
            {"prefix": f"{TEMP_PREFIX}%"},
        ).all()
        new = fetch_arrow(conn, sql, schema)
    assert len(sql) < 8_000, len(sql)
    expected = {"varchar": "character varying", "timestamp": "timestamp without time zone"}
    assert sorted(types) == sorted(
        (f"{TEMP_PREFIX}{name}", column, expected.get(kind, kind))
        for name, columns in TABLES.items()
        for column, kind in columns
    )
    left = conn.execute(
        sa.text("select count(*) from pg_class where relnamespace = pg_my_temp_schema()")
    ).one()[0]
    assert left == 0  # dropped after the query
    old = fetch_arrow(conn, oracle_sql(INSTANTS, labelled_by), schema)
    _assert_same_rows(new, old)
    return counts


def test_many_accounts_travel_as_tables_not_query_text(pg_database: dict[str, Any]) -> None:
    companies = [f"acct-{n:05d}" for n in range(3000)]
    book = _book(9000, companies, [f"rep-{n}" for n in range(12)], ["new", "renewal"])
    with pg_engine(pg_database).begin() as conn:
        _load(conn, book)
        for labelled_by in (None, INSTANTS[-1]):
            counts = _compare_with_oracle(conn, labelled_by)
            # thousands of (instant, account) rows, none of them in the text
            assert counts["company_closed"] > 3000, counts
            assert all(counts[name] for name in TABLES), counts
        # the same query twice on one connection (training, then scoring, as store.py does)
        with feature_query(conn, INSTANTS[:1]) as sql:
            assert "acct-" not in sql
            assert fetch_arrow(conn, sql, _snapshot_schema(())).num_rows > 0


def test_hostile_keys_survive_the_copy(pg_database: dict[str, Any]) -> None:
    book = _book(1500, HOSTILE, HOSTILE, HOSTILE[::-1])
    with pg_engine(pg_database).begin() as conn:
        _load(conn, book)
        with feature_query(conn, INSTANTS) as sql:
            stored = {
                row[0]
                for name in ("rep_closed", "company_closed")
                for row in conn.execute(
                    sa.text(f"select distinct {TABLES[name][1][0]} from {TEMP_PREFIX}{name}")
                )
            }
            rows = fetch_arrow(conn, sql, _snapshot_schema(()))
        assert stored == set(HOSTILE)  # every key arrived as it was written
        # and joined the deals it belongs to: the records are not all empty
        assert sum(rows.column("rep_closed").to_pylist()) > 0
        assert sum(rows.column("account_won").to_pylist()) > 0
        _compare_with_oracle(conn, None)


FLOATS = [0.1 + 0.2, 1 / 3, 5e-324, 2.0**-1022, 2.0**-1000, 1.7976931348623157e308, -0.0]


def test_floats_arrive_to_the_bit(pg_database: dict[str, Any]) -> None:
    rng = random.Random(5)
    values = [*FLOATS, *(rng.uniform(0, 10.0 ** rng.randint(-12, 12)) for _ in range(2000))]
    text = "".join(f"{copy_text(f'k{i}')}\t{copy_real(v)}\n" for i, v in enumerate(values))
    text += f"{copy_text('none')}\t{copy_real(float('nan'))}\n"
    with pg_engine(pg_database).begin() as conn:
        conn.execute(sa.text("create temp table f (k varchar, v double precision)"))
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.copy_expert("copy f from stdin with (format text)", io.StringIO(text))
        # float8send: the stored bits, big-endian, with no text output in between
        got: dict[str, Any] = dict(
            conn.execute(sa.text("select k, float8send(v) from f")).tuples().all()
        )
    assert got.pop("none") is None
    for i, v in enumerate(values):
        assert bytes(got[f"k{i}"]) == struct.pack(">d", v), (i, v)


def test_tables_left_by_a_failed_query_are_replaced(pg_database: dict[str, Any]) -> None:
    """Outside a transaction (autocommit) a failed query leaves the tables behind on the
    session: the next feature query replaces them, and drops its own."""
    engine = pg_engine(pg_database, isolation_level="AUTOCOMMIT")
    book = _book(300, [f"acct-{n}" for n in range(40)], ["rep-a", "rep-b"], ["new"])
    temp = "select count(*) from pg_class where relnamespace = pg_my_temp_schema()"
    with engine.connect() as conn:
        _load(conn, book)
        with pytest.raises(sa.exc.ProgrammingError), feature_query(conn, INSTANTS):
            conn.execute(sa.text("select * from no_such_table"))
        assert conn.execute(sa.text(temp)).one()[0] == len(TABLES)
        _compare_with_oracle(conn, None)
        assert conn.execute(sa.text(temp)).one()[0] == 0


def test_one_instant_computes_the_comparisons_in_sql_to_the_bit(
    pg_database: dict[str, Any],
) -> None:
    """Scoring reads one instant: the query then joins no temp table and reads only the
    spells of the deals open then, yet gives the rows the table path gives, every value to
    the bit (both sum the earlier dwells in spell order), and the oracle's."""
    companies = [f"acct-{n:05d}" for n in range(800)] + HOSTILE
    book = _book(4000, companies, [f"rep-{n}" for n in range(8)] + HOSTILE, HOSTILE[::-1])
    schema = _snapshot_schema(())
    temp = "select count(*) from pg_class where relnamespace = pg_my_temp_schema()"
    with pg_engine(pg_database).begin() as conn:
        _load(conn, book)
        for at in INSTANTS:
            with feature_query(conn, [at]) as sql:
                assert conn.execute(sa.text(temp)).one()[0] == 0
                assert "hub_score_" not in sql and "open_spells" in sql
                new = _sorted(fetch_arrow(conn, sql, schema))
            with history_tables(conn, [at], DEALS, SPELLS, REP_WINDOW_DAYS) as history:
                tables = _sorted(fetch_arrow(conn, snapshot_sql([at], history=history), schema))
            assert new.num_rows == tables.num_rows > 100
            for name in schema:
                a, b = new.column(name), tables.column(name)
                if pa.types.is_floating(a.type):
                    x, y = a.fill_null(float("nan")).to_numpy(), b.fill_null(float("nan"))
                    assert x.tobytes() == y.to_numpy().tobytes(), (at, name)
                else:
                    assert a.to_pylist() == b.to_pylist(), (at, name)
            assert sum(new.column("account_won").to_pylist()) > 0
            assert sum(new.column("backward_moves").to_pylist()) > 0
            _assert_same_rows(new, fetch_arrow(conn, oracle_sql([at], None), schema))
