"""tests/normal_rows.py: the column-at-a-time normalisation the warehouse comparisons use
gives, value by value, what the one-value rule says, on every type and mix of types a
DuckDB or PostgreSQL row holds, and keeps apart what differs beyond the rounding."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from tests.normal_rows import normal, normal_rows, rows_apart

BERLIN = timezone(timedelta(hours=2))
AWARE = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def _one_value(value: Any) -> Any:
    """The rule, written out one value at a time (the oracle)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float | int):
        number = float(value)
        return None if math.isnan(number) else round(number, 6)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(tz=None).replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


COLUMNS: list[list[Any]] = [
    ["a", "b", "a"],  # text
    [1, 2, 1],  # integers
    [0.1234564, 0.1234565001, float("nan")],  # floats, NaN
    [Decimal("1.50"), None, Decimal("1.5")],  # NUMERIC with NULL
    [True, False, None],  # booleans are not figures
    [1, 2.5, Decimal("3.0000004")],  # figures of three types in one column
    [datetime(2026, 7, 1, 12, 0), None, datetime(2026, 7, 1, 12, 0, 0, 5)],  # naive
    [AWARE, AWARE.astimezone(BERLIN), datetime(2026, 1, 1, tzinfo=UTC)],  # aware, same instant
    [date(2026, 7, 1), None, date(2026, 2, 28)],
    [uuid.UUID(int=5), {"k": 1}, "x"],  # anything else as text
    [None, None, None],
    ["7", 7, None],  # text and a figure stay apart
]


def test_every_column_kind_is_normalised_as_value_by_value() -> None:
    rows = list(zip(*COLUMNS, strict=True))
    expected = [tuple(_one_value(v) for v in row) for row in rows]
    assert normal_rows(rows) == expected
    assert [tuple(normal(v) for v in row) for row in rows] == expected
    assert normal_rows([]) == []
    got = normal_rows(rows)
    # spot checks of the rule itself, and of the identity of the kept text values
    assert got[2][2] is None and got[0][3] == got[2][3] == 1.5 and got[1][3] is None
    assert got[0][4] is True and got[0][0] is rows[0][0]
    assert got[0][7] == got[1][7] != got[2][7]  # one instant, two zones: one text
    assert got[0][11] == "7" and got[1][11] == 7.0


def test_differences_beyond_the_rounding_are_kept() -> None:
    base = [(1, 0.5, datetime(2026, 7, 1, 12, 0), date(2026, 7, 1), "a")]
    assert normal_rows(base) == normal_rows([(1, 0.5 + 1e-9, *base[0][2:])])
    for changed in (
        (2, *base[0][1:]),
        (1, 0.5 + 1e-5, *base[0][2:]),
        (1, 0.5, datetime(2026, 7, 1, 12, 0, 1), *base[0][3:]),
        (1, 0.5, base[0][2], date(2026, 7, 2), "a"),
        (*base[0][:4], "b"),
        (1, None, *base[0][2:]),
    ):
        assert normal_rows([changed]) != normal_rows(base), changed


def test_rows_apart_allows_one_unit_of_the_sixth_decimal_and_nothing_else() -> None:
    # the pair a clean-clone CI run found: DuckDB's avg() and PostgreSQL's exact sum of
    # seconds, equal to 13 digits, rounded to neighbours
    assert not rows_apart([("a", 3.0, 37.353437)], [("a", 3.0, 37.353438)])
    assert rows_apart([("a", 3.0, 37.353436)], [("a", 3.0, 37.353438)])
    assert rows_apart([("a", 3.0, 1.0)], [("b", 3.0, 1.0)])
    assert rows_apart([(3, 1.0)], [(4, 1.0)])  # integers exactly
    assert rows_apart([("a",)], [("a",), ("b",)]) == [(1, 2)]
    assert rows_apart([(None,)], [(0.0,)])
