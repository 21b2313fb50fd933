"""PostgreSQL: the open deals' comparisons from a base kept at the training cut plus the
delta since (hub/score/bases.py) are the one-instant query's own, every value to the bit,
at any instant of the cut's day.

The staging tables are the hand-written book of test_history_tables.py, with a day chosen
where deals close during the day (they enter the norms, medians and records only through
the delta) and where deals closed a year before leave the rep's 365-day window during it
(the base still holds them), and one deal closed before the cut whose spell ends after it
(only the delta's second half counts it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from hub.score import bases
from hub.score.columns import fetch_arrow
from hub.score.features import REP_WINDOW_DAYS, _snapshot_schema, feature_query, snapshot_sql
from tests.pg import pg_engine
from tests.score.test_history_tables import HOSTILE, _book, _load, _sorted

pytestmark = pytest.mark.postgres


def _closes(book: dict[str, list[dict[str, Any]]]) -> list[datetime]:
    deals = book["int_deals_enriched"]
    return sorted(d["closed_at"] for d in deals if d["closed_at"] and not d["is_deleted"])


def _day(closes: list[datetime]) -> datetime:
    """A day start with closes during its first 14 hours, and closes a year before that
    leave the rep's window in those hours."""
    for close in closes:
        cut = close.replace(hour=0, minute=0, second=0, microsecond=0)
        year = cut - timedelta(days=REP_WINDOW_DAYS)
        today = [c for c in closes if cut < c <= cut + timedelta(hours=14)]
        leaving = [c for c in closes if year < c <= year + timedelta(hours=14)]
        if cut.year == 2025 and today and leaving:
            return cut
    raise AssertionError("no such day in the book")


def _late_spell(book: dict[str, list[dict[str, Any]]], cut: datetime) -> None:
    """A deal closed the day before the cut whose last spell ends in the cut's morning."""
    deal = dict(book["int_deals_enriched"][0], deal_key="late", source_deal_id="late")
    deal.update(status="won", closed_at=cut - timedelta(hours=3), rep_key="rep-0")
    deal.update(created_at=cut - timedelta(days=30), is_deleted=False)
    book["int_deals_enriched"].append(deal)
    book["int_deal_stage_spells"].append(
        {
            "deal_key": "late",
            "spell_index": 0,
            "canonical_stage": "qualify",
            "is_open_stage": True,
            "is_backward": False,
            "entered_at": cut - timedelta(days=30),
            "exited_at": cut + timedelta(hours=2),
            "days": 30.0833,
        }
    )


def _assert_bitwise(new: pa.Table, old: pa.Table) -> None:
    assert new.num_rows == old.num_rows > 50
    new, old = _sorted(new), _sorted(old)
    for name in old.column_names:
        a, b = new.column(name), old.column(name)
        if pa.types.is_floating(a.type):
            x, y = a.fill_null(float("nan")).to_numpy(), b.fill_null(float("nan")).to_numpy()
            assert x.tobytes() == y.tobytes(), name
        else:
            assert a.to_pylist() == b.to_pylist(), name


def test_base_and_delta_give_the_query_comparisons_all_day(pg_database: dict[str, Any]) -> None:
    companies = [f"acct-{n:05d}" for n in range(600)] + HOSTILE
    book = _book(4000, companies, [f"rep-{n}" for n in range(6)] + HOSTILE[:2], ["new", "re"])
    cut = _day(_closes(book))
    _late_spell(book, cut)
    schema = _snapshot_schema(())
    with pg_engine(pg_database).begin() as conn:
        _load(conn, book)
        base = bases.read_base(conn, cut)
        kept = base.closed.num_rows
        assert kept == sum(1 for c in _closes(book) if c <= cut)
        for hours in (0, 5, 14, 23.99):
            as_of = cut + timedelta(hours=hours)
            delta = bases.read_delta(conn, cut, as_of)
            if hours >= 5:  # today's closes, and the late spell, reach only the delta
                assert delta.closed.num_rows > 0 and delta.spells.num_rows > 1
            with feature_query(conn, [as_of]) as sql:
                assert "hub_score_" not in sql
                query = fetch_arrow(conn, sql, schema)
            with bases.comparisons_at(conn, base, cut, as_of) as history:
                assert "hub_score_" in history
                sql = snapshot_sql([as_of], history=history, single=True)
                from_base = fetch_arrow(conn, sql, schema)
            _assert_bitwise(from_base, query)
        counted = conn.execute(
            sa.text("select count(*) from pg_class where relnamespace = pg_my_temp_schema()")
        ).one()[0]
        assert counted == 0  # the comparison tables are dropped after the block
        assert base.closed.num_rows == kept  # the base is not changed by use
