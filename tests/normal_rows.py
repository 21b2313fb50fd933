"""One representation per value, whichever database produced it, for the tests that compare
whole warehouses row for row (incremental against full rebuild, DuckDB against PostgreSQL).

Those comparisons normalise ~10^6 values per snapshot (test_incremental takes 14 per
warehouse), so :func:`normal_rows` works column by column: the values of one type are
converted together by built-in functions (``map(round, ...)``), and columns that need no
conversion (text, booleans, NULL) are left as they are. Value by value the result is
:func:`normal`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from itertools import repeat
from operator import methodcaller
from typing import Any

Convert = Callable[[list[Any]], list[Any]]


def normal(value: Any) -> Any:
    """Figures as floats rounded to 6 decimals (NaN as NULL), instants as naive local ISO
    text, dates as ISO text, booleans and NULL as they are, anything else as text."""
    return _column([value])[0]


def normal_rows(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """``[tuple(normal(v) for v in row) for row in rows]``, computed a column at a time."""
    rows = list(rows)
    if not rows:
        return []
    columns = [_column(list(column)) for column in zip(*rows, strict=True)]
    return list(zip(*columns, strict=True))


def _column(values: list[Any]) -> list[Any]:
    steps = {kind: _converter(kind) for kind in set(map(type, values))}
    if all(step is None for step in steps.values()):
        return values
    if len(steps) == 1:
        (step,) = steps.values()
        assert step is not None
        return step(values)
    out = list(values)  # several types (NULL among figures, say): each type's values together
    for kind, step in steps.items():
        if step is not None:
            at = [i for i, value in enumerate(values) if type(value) is kind]
            for i, new in zip(at, step([values[i] for i in at]), strict=True):
                out[i] = new
    return out


@cache
def _converter(kind: type) -> Convert | None:
    """How the values of exactly this type are converted (None: kept as they are). The checks
    go in this order because bool is an int and datetime a date."""
    if kind is type(None) or issubclass(kind, bool):
        return None
    if issubclass(kind, Decimal | float | int):
        return _numbers
    if issubclass(kind, datetime):
        return _instants
    if issubclass(kind, date):
        return _days
    if kind is str:  # str() of a str is the str itself
        return None
    return _texts


def _numbers(values: list[Any]) -> list[Any]:
    """Each distinct figure rounded once (counts and sums repeat across period rows)."""
    distinct = list(set(values))
    floats = list(map(float, distinct))
    rounded = map(round, floats, repeat(6))
    if any(map(math.isnan, floats)):
        rounded = (None if math.isnan(f) else r for f, r in zip(floats, rounded, strict=True))
    return list(map(dict(zip(distinct, rounded, strict=True)).__getitem__, values))


def _instants(values: list[datetime]) -> list[str]:
    """Each distinct instant converted once (astimezone looks the local zone up each time;
    equal instants, in whatever zone, give the same local text)."""
    text = {
        value: (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else value.astimezone(tz=None).replace(tzinfo=None)
        ).isoformat()
        for value in set(values)
    }
    return list(map(text.__getitem__, values))


def _days(values: list[date]) -> list[str]:
    return list(map(methodcaller("isoformat"), values))


def _texts(values: list[Any]) -> list[str]:
    return list(map(str, values))


def rows_apart(left: Sequence[tuple[Any, ...]], right: Sequence[tuple[Any, ...]]) -> list[Any]:
    """The pairs of normalised rows (in order) that differ by more than rounding: floats may
    differ by one unit of the 6th decimal, everything else must be equal. Two databases add
    a figure's terms in different orders (PostgreSQL's sales-cycle mean is even an exact sum
    of seconds), so values equal to 13 digits can round to neighbours at the 6th. A length
    mismatch is one pair (the two lengths)."""
    if len(left) != len(right):
        return [(len(left), len(right))]
    return [(a, b) for a, b in zip(left, right, strict=True) if not _close_rows(a, b)]


def _close_rows(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if a == b:
        return True
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and abs(x - y) <= 1.000001e-6)
        for x, y in zip(a, b, strict=True)
    )
