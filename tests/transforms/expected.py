"""Plain-Python versions of the metric definitions in docs/metrics.md, over ExpectedDeal.

Nothing here reads the warehouse: the inputs are the generator's deals (and the hand-written
edge deals), so a disagreement with a mart is a real bug on one side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from .fixtures import AS_OF, ExpectedDeal

STAR = "*"


def month_start(t: datetime | date) -> date:
    return date(t.year, t.month, 1)


def quarter_start(t: datetime | date) -> date:
    return date(t.year, 3 * ((t.month - 1) // 3) + 1, 1)


PERIODS: dict[str, Callable[[datetime], date]] = {"month": month_start, "quarter": quarter_start}
# win_rate, deal_size and sales_cycle_by_period also have an all-time row (period_start NULL)
CLOSE_PERIODS: dict[str, Callable[[datetime], date | None]] = {**PERIODS, "all": lambda _t: None}


def days(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 86400


def percentile(values: Iterable[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (quantile_cont / percentile_cont)."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * p
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float]) -> float | None:
    xs = list(values)
    return sum(xs) / len(xs) if xs else None


def ratio(n: float | None, d: float | None) -> float | None:
    return None if not d or n is None else n / d


def rep_key(deal: ExpectedDeal) -> str:
    return f"email:{deal.owner_email.lower()}" if deal.owner_email else "unassigned"


def is_won(d: ExpectedDeal) -> bool:
    return d.status == "won" and d.closed_at is not None and d.closed_at <= AS_OF


def is_lost(d: ExpectedDeal) -> bool:
    return d.status == "lost" and d.closed_at is not None and d.closed_at <= AS_OF


def is_open(d: ExpectedDeal) -> bool:
    return d.counts and (d.status == "open" or (d.closed_at is not None and d.closed_at > AS_OF))


def counted(deals: Iterable[ExpectedDeal]) -> list[ExpectedDeal]:
    return [d for d in deals if d.counts]


def grouped(
    items: Iterable[Any],
    dims: dict[str, Callable[[Any], Any]],
    sets: list[tuple[str, ...]],
    rolled: dict[str, Any] | None = None,
) -> dict[tuple, list[Any]]:
    """Like SQL GROUPING SETS: key = every dim in `dims` order, rolled-up dims as '*'
    (or the value in `rolled`)."""
    rolled = rolled or {}
    out: dict[tuple, list[Any]] = {}
    names = list(dims)
    for item in items:
        values = {n: f(item) for n, f in dims.items()}
        for gs in sets:
            key = tuple(values[n] if n in gs else rolled.get(n, STAR) for n in names)
            out.setdefault(key, []).append(item)
    return out


def keyed(rows: list[dict], names: list[str]) -> dict[tuple, dict]:
    """Index mart rows by their grain, failing on a duplicate."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = tuple(r[n] for n in names)
        assert key not in out, f"duplicate grain {key}"
        out[key] = r
    return out


def has_cycle(d: ExpectedDeal) -> bool:
    """sales_cycle measures the deal: its creation was not inferred from its close."""
    return d.created_at_source != "closed_at"
