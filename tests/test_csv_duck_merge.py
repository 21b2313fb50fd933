"""A re-read file's merge on DuckDB (connectors.csv.duck.merge) replaces exactly the rows
that differ: it compares a hash of each stored row instead of every column, so a column
left out of that hash, or a value it cannot tell apart (NULL against a value, '' against
NULL), would keep a changed row stale. Each staged row here differs from its stored row in
one column only, every column in turn; the unchanged rows must not be written again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from connectors.canonical_tables import model_columns
from connectors.csv import duck
from models.canonical import Deal, DealAccount

TABLE = '"src_x"."deals"'
COLUMNS = list(model_columns(Deal))


def _row(n: int) -> dict[str, Any]:
    return {
        "source_name": "x",
        "crm": "csv",
        "deal_key": f"x:D{n}",
        "source_deal_id": f"D{n}",
        "name": f"Deal {n}",
        "pipeline_id": "default",
        "stage_id": "qualified",
        "status": "open",
        "amount": Decimal("1200.50"),
        "currency": "EUR",
        "probability": 0.25,
        "owner_id": "o1",
        "account_id": "a1",
        "account_name": "Acme",
        "account_key": "x:a1",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "expected_close_date": date(2026, 3, 1),
        "closed_at": None,
        "lost_reason": "",
        "updated_at": datetime(2026, 1, 5, tzinfo=UTC),
        "stage_changed_at": datetime(2026, 1, 4, tzinfo=UTC),
        "is_deleted": False,
        "custom_fields": '{"tier":"gold"}',
    }


def _other(column: str, value: Any) -> Any:
    """A different value of the column's type (NULL for a value, a value for NULL)."""
    if value is None:
        return {"closed_at": datetime(2026, 2, 1, tzinfo=UTC)}[column]
    if value == "":
        return None  # '' and NULL must tell apart
    changed: dict[str, Any] = {
        "amount": Decimal("1200.51"),
        "probability": 0.5,
        "created_at": datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
        "expected_close_date": date(2026, 3, 2),
        "updated_at": None,
        "stage_changed_at": datetime(2026, 1, 4, 0, 0, 1, tzinfo=UTC),
        "is_deleted": True,
        "custom_fields": '{"tier":"silver"}',
    }
    return changed.get(column, f"{value}-changed")


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    marks = ", ".join("?" for _ in COLUMNS)
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    con.executemany(
        f"INSERT INTO {table} ({names}) VALUES ({marks})", [[r[c] for c in COLUMNS] for r in rows]
    )


def _stored(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """deal_key -> (rowid, the row): a row written again gets a new rowid."""
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    return {
        row[3]: (row[0], row[1:])
        for row in con.execute(f"SELECT rowid, {names} FROM {TABLE}").fetchall()
    }


def test_a_merge_replaces_each_row_changed_in_any_one_column_and_only_those() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA src_x")
    con.execute(f"CREATE TABLE {TABLE} ({duck._ddl(Deal)})")
    keys = [c for c in COLUMNS if c not in Deal.primary_key]
    stored = [_row(n) for n in range(len(keys) + 5)]
    _insert(con, TABLE, stored)
    staged = [dict(r) for r in stored]
    for row, column in zip(staged, keys, strict=False):  # one column changed per row
        row[column] = _other(column, row[column])
    staged.append(_row(1000))  # a new deal
    con.execute(f"CREATE TEMP TABLE stage AS SELECT * FROM {TABLE} WHERE false")
    _insert(con, "stage", staged)
    before = _stored(con)

    duck.merge(con, "x", Deal, "stage")

    after = _stored(con)
    expected = {r["deal_key"]: tuple(r[c] for c in COLUMNS) for r in staged}
    con.execute("CREATE TEMP TABLE want AS SELECT * FROM stage")
    assert sorted(after) == sorted(expected)
    want = _stored_of(con, "want")
    assert {k: v[1] for k, v in after.items()} == want
    rewritten = {k for k in before if after[k][0] != before[k][0]}
    assert rewritten == {r["deal_key"] for r in staged[: len(keys)]}, "only changed rows"


def _stored_of(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[Any, ...]]:
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    return {row[2]: row for row in con.execute(f"SELECT {names} FROM {table}").fetchall()}


def test_a_merge_on_a_composite_key_replaces_the_changed_link() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA src_x")
    con.execute(f'CREATE TABLE "src_x"."deal_accounts" ({duck._ddl(DealAccount)})')
    con.execute(
        """INSERT INTO "src_x"."deal_accounts" VALUES
        ('x', 'csv', 'x:D1', 'x:a1', true, NULL), ('x', 'csv', 'x:D1', 'x:a2', false, NULL)"""
    )
    con.execute(
        """CREATE TEMP TABLE links AS SELECT * FROM (VALUES
        ('x', 'csv', 'x:D1', 'x:a1', true, NULL), ('x', 'csv', 'x:D1', 'x:a2', true, NULL))
        AS t(source_name, crm, deal_key, account_key, is_primary, label)"""
    )
    duck.merge(con, "x", DealAccount, "links")
    rows = con.execute(
        'SELECT account_key, is_primary FROM "src_x"."deal_accounts" ORDER BY 1'
    ).fetchall()
    assert rows == [("x:a1", True), ("x:a2", True)]
