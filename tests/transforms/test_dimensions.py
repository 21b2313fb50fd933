"""The *_by_dimension marts (hub.yml `dimensions`) against plain Python over the expected deals,
whose dimension values come from the generator's world (lead_source of the deal; industry and
segment of its company) or from the hand-written sources.

The fixture configures lead_source (a deal custom field), currency (a deal column), industry (an
account column) and segment (an account custom field).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from .conftest import Built, run_dbt
from .expected import (
    CLOSE_PERIODS,
    PERIODS,
    counted,
    days,
    grouped,
    has_cycle,
    is_lost,
    is_open,
    is_won,
    keyed,
    mean,
    percentile,
    ratio,
    rep_key,
)
from .fixtures import AS_OF, DIMENSIONS, SOURCES, dbt_vars, make_world

approx = pytest.approx
DIMS = ("dimension", "dimension_value")


def _by_dimension(
    items: list[Any],
    deal_of: Callable[[Any], Any],
    dims: dict[str, Callable[[Any], Any]],
    sets: list[tuple[str, ...]],
    rolled: dict[str, Any] | None = None,
) -> dict[tuple, list[Any]]:
    """grouped() with every item once per dimension and every set taken with and without the
    dimension's value (rolled up: '*'), as the *_by_dimension marts group."""
    expanded = [(name, deal_of(x).dimensions[name], x) for x in items for name in DIMENSIONS]
    all_dims = {
        "dimension": lambda e: e[0],
        "dimension_value": lambda e: e[1],
        **{k: (lambda e, f=f: f(e[2])) for k, f in dims.items()},
    }
    all_sets = [
        s for base in sets for s in (("dimension", "dimension_value", *base), ("dimension", *base))
    ]
    out = grouped(expanded, all_dims, all_sets, rolled)
    return {k: [e[2] for e in group] for k, group in out.items()}


def test_every_deal_has_its_value_of_each_dimension(built: Built) -> None:
    rows = built.table("hub_staging.int_deal_dimensions")
    assert {r["dimension"]: r["resolved_as"] for r in rows} == {
        "lead_source": "deal_field",
        "currency": "deal",
        "industry": "account",
        "segment": "account_field",
    }
    got = {(r["deal_key"], r["dimension"]): r["dimension_value"] for r in rows}
    want = {(d.deal_key, n): d.dimensions[n] for d in built.expected for n in DIMENSIONS}
    assert got == want


def _periodised(deals: list[Any], at: Callable[[Any], Any]) -> list[tuple]:
    return [(pt, f(at(d)), d) for d in deals for pt, f in CLOSE_PERIODS.items()]


def test_win_rate_by_dimension(built: Built) -> None:
    closed = [d for d in counted(built.expected) if is_won(d) or is_lost(d)]
    dims = {
        "period_type": lambda x: x[0],
        "period_start": lambda x: x[1],
        "rep_key": lambda x: rep_key(x[2]),
        "source_name": lambda x: x[2].source_name,
        "pipeline_key": lambda x: x[2].pipeline_key,
    }
    sets = [
        ("period_type", "period_start", "rep_key", "source_name", "pipeline_key"),
        ("period_type", "period_start", "rep_key"),
        ("period_type", "period_start", "source_name", "pipeline_key"),
        ("period_type", "period_start", "source_name"),
        ("period_type", "period_start"),
    ]
    want = _by_dimension(_periodised(closed, lambda d: d.closed_at), lambda x: x[2], dims, sets)
    got = keyed(built.table("analytics.win_rate_by_dimension"), [*DIMS, *dims])
    assert set(got) == set(want)
    for key, group in want.items():
        won = [x for x in group if is_won(x[2])]
        lost = [x for x in group if is_lost(x[2])]
        row = got[key]
        assert (row["won_count"], row["lost_count"]) == (len(won), len(lost)), key
        assert row["win_rate"] == approx(ratio(len(won), len(won) + len(lost)))
        won_v = sum(x[2].amount_base for x in won if x[2].amount_base is not None)
        assert float(row["won_amount_base"] or 0) == approx(won_v)


def test_win_rate_by_lead_source_is_the_worlds(built: Built) -> None:
    """Per generated source, won and lost deals by lead source over all quarters, counted
    straight from the generator's deals (each world deal once, whatever its copies)."""
    world = make_world()
    names = list(SOURCES)
    want: Counter = Counter()
    for deal in world.iter_deals():
        if deal.closed_at is not None and deal.closed_at <= AS_OF:
            want[(names[deal.index % len(names)], deal.lead_source, deal.status)] += 1
    rows = built.rows(
        "select source_name, dimension_value, sum(won_count) won, sum(lost_count) lost "
        "from analytics.win_rate_by_dimension where dimension = 'lead_source' "
        "and period_type = 'quarter' and rep_key = '*' and pipeline_key = '*' "
        "and source_name in ('hubspot_main', 'pipedrive_eu', 'csv_legacy') "
        "and dimension_value <> '*' group by source_name, dimension_value"
    )
    got: Counter = Counter()
    for r in rows:
        got[(r["source_name"], r["dimension_value"], "won")] += r["won"]
        got[(r["source_name"], r["dimension_value"], "lost")] += r["lost"]
    assert +got == +want
    sources = {lead for _, lead, _ in want}
    assert sources == {"Inbound", "Outbound", "Referral", "Partner", "Event"}


def test_win_rate_by_segment_by_hand(built: Built) -> None:
    """'hand' closes in March 2026: h_won (won; hand:acme, Enterprise), h_lost (lost;
    hand:acme_eu, Mid-Market), h_gone (lost; the deleted hand:gone, SMB)."""
    rows = built.rows(
        "select dimension_value, won_count, lost_count, win_rate from analytics.win_rate_by_dimension "
        "where dimension = 'segment' and source_name = 'hand' and period_type = 'quarter' "
        "and rep_key = '*' and pipeline_key = '*'"
    )
    got = {r["dimension_value"]: (r["won_count"], r["lost_count"], r["win_rate"]) for r in rows}
    assert got == {
        "Enterprise": (1, 0, 1.0),
        "Mid-Market": (0, 1, 0.0),
        "SMB": (0, 1, 0.0),
        "*": (1, 2, approx(1 / 3)),
    }


def test_deal_size_by_dimension(built: Built) -> None:
    won = [d for d in counted(built.expected) if is_won(d)]
    dims = {
        "period_type": lambda x: x[0],
        "period_start": lambda x: x[1],
        "rep_key": lambda x: rep_key(x[2]),
        "source_name": lambda x: x[2].source_name,
    }
    sets = [
        ("period_type", "period_start", "rep_key", "source_name"),
        ("period_type", "period_start", "rep_key"),
        ("period_type", "period_start", "source_name"),
        ("period_type", "period_start"),
    ]
    want = _by_dimension(_periodised(won, lambda d: d.closed_at), lambda x: x[2], dims, sets)
    got = keyed(built.table("analytics.deal_size_by_dimension"), [*DIMS, *dims])
    assert set(got) == set(want)
    for key, group in want.items():
        amounts = [x[2].amount_base for x in group if x[2].amount_base is not None]
        row = got[key]
        assert row["won_count"] == len(group)
        if amounts:
            assert float(row["bookings_base"]) == approx(sum(amounts))
            assert float(row["median_won_amount_base"]) == approx(percentile(amounts, 0.5))
        else:
            assert row["bookings_base"] is None


def test_sales_cycle_by_dimension(built: Built) -> None:
    closed = [d for d in counted(built.expected) if (is_won(d) or is_lost(d)) and has_cycle(d)]
    dims = {"outcome": lambda d: d.status, "source_name": lambda d: d.source_name}
    want = _by_dimension(closed, lambda d: d, dims, [("outcome", "source_name"), ("outcome",)])
    got = keyed(built.table("analytics.sales_cycle_by_dimension"), [*DIMS, *dims])
    assert set(got) == set(want)
    for key, group in want.items():
        cycles = [days(d.created_at, d.closed_at) for d in group]
        row = got[key]
        assert row["deal_count"] == len(group)
        assert row["mean_days"] == approx(mean(cycles))
        assert row["median_days"] == approx(percentile(cycles, 0.5))
        assert row["p90_days"] == approx(percentile(cycles, 0.9))


def test_forecast_by_dimension(built: Built) -> None:
    items = [
        (pt, f(d.expected_close_date) if d.expected_close_date else None, d)
        for d in built.expected
        if is_open(d)
        for pt, f in PERIODS.items()
    ]
    dims = {
        "period_type": lambda x: x[0],
        "period_start": lambda x: x[1],
        "rep_key": lambda x: rep_key(x[2]),
        "canonical_stage": lambda x: x[2].canonical_stage,
    }
    sets = [
        tuple(dims),
        ("period_type", "period_start", "canonical_stage"),
        ("period_type", "period_start", "rep_key"),
        ("period_type", "period_start"),
    ]
    want = _by_dimension(items, lambda x: x[2], dims, sets)
    got = keyed(built.table("analytics.forecast_by_dimension"), [*DIMS, *dims])
    assert set(got) == set(want)
    for key, group in want.items():
        amounts = [x[2].amount_base for x in group if x[2].amount_base is not None]
        row = got[key]
        assert row["open_count"] == len(group)
        assert (float(row["amount_base"]) if amounts else row["amount_base"]) == approx(
            sum(amounts) if amounts else None
        )


def test_stage_conversion_by_dimension(built: Built) -> None:
    from .test_metrics_closed import NEXT, _funnel_flags

    items = []
    for d in counted(built.expected):
        flags = _funnel_flags(d)
        if flags is not None and d.has_dated_creation:
            items.append((d, flags))
    dims = {
        "source_name": lambda x: x[0].source_name,
        "pipeline_key": lambda x: x[0].pipeline_key,
        "cohort_month": lambda x: x[0].created_at.date().replace(day=1),
    }
    sets = [
        ("source_name", "pipeline_key", "cohort_month"),
        ("source_name", "pipeline_key"),
        ("cohort_month",),
        (),
    ]
    want = _by_dimension(items, lambda x: x[0], dims, sets, rolled={"cohort_month": None})
    got = keyed(
        built.table("analytics.stage_conversion_by_dimension"),
        ["mode", *DIMS, *dims, "canonical_stage"],
    )
    stages = sorted({k[-1] for k in got})
    assert len(got) == 2 * len(stages) * len(want)
    for key, group in want.items():
        for mode in ("any_order", "strict_order"):
            for stage in stages:
                row = got[(mode, *key, stage)]
                reached = sum(1 for _, f in group if f[mode][stage][0])
                nxt = [f[mode][stage][1] for _, f in group]
                reached_next = None if NEXT.get(stage) is None else sum(1 for v in nxt if v)
                assert row["funnel_deals"] == len(group)
                assert (row["reached_count"], row["reached_next_count"]) == (
                    reached,
                    reached_next,
                ), (
                    mode,
                    key,
                    stage,
                )


BASE_GRAINS = {
    "win_rate": ["period_type", "period_start", "rep_key", "source_name", "pipeline_key"],
    "deal_size": ["period_type", "period_start", "rep_key", "source_name"],
    "sales_cycle": ["outcome", "source_name"],
    "forecast": ["period_type", "period_start", "rep_key", "canonical_stage"],
    "stage_conversion": ["mode", "source_name", "pipeline_key", "cohort_month", "canonical_stage"],
}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Figures to 6 decimals: sums over the same deals may add up in another order."""
    return {
        k: round(float(v), 6) if isinstance(v, float | Decimal) else v
        for k, v in row.items()
        if k not in DIMS
    }


@pytest.mark.parametrize("mart", sorted(BASE_GRAINS))
def test_all_values_rows_are_the_base_mart(built: Built, mart: str) -> None:
    """For every dimension, the rows over all its values ('*') are the base mart, row for row:
    the marts that existed before dimensions are unchanged."""
    base = keyed([_rounded(r) for r in built.table(f"analytics.{mart}")], BASE_GRAINS[mart])
    for name in DIMENSIONS:
        rows = built.table(
            f"analytics.{mart}_by_dimension",
            f"dimension = '{name}' and dimension_value = '*'",
        )
        assert keyed([_rounded(r) for r in rows], BASE_GRAINS[mart]) == base, name


def _compile_dimensions(built: Built, tmp_path: Path, dimensions: list[str]) -> Any:
    db = tmp_path / "hub.duckdb"
    shutil.copy(built.path, db)
    variables = {**dbt_vars(), "dimensions": dimensions}
    return db, run_dbt(
        db, tmp_path / "target", ["run", "--select", "int_deal_dimensions"], variables
    )


def test_number_bool_date_and_decimal_dimensions_read_the_same_everywhere(
    built: Built, tmp_path: Path
) -> None:
    db, res = _compile_dimensions(
        built, tmp_path, ["employees", "is_strategic", "renewal_date", "amount", "score"]
    )
    assert res.success
    rows = Built(db, [], [], True).table("hub_staging.int_deal_dimensions")
    got = {(r["deal_key"], r["dimension"]): r["dimension_value"] for r in rows}
    assert got[("edge:skip", "employees")] == "1200"  # a double written as an integer
    assert got[("hand:h_won", "employees")] == "1250"
    assert got[("hand:h_won", "score")] == "87.5"
    assert got[("hand:h_won", "is_strategic")] == "true"
    assert got[("hand:h_lost", "is_strategic")] == "false"
    assert got[("hand:h_won", "renewal_date")] == "2027-01-31"
    assert got[("hand:h_won", "amount")] == "3000.000000000"
    assert got[("edge:mystery", "employees")] is None  # edge:solo has no employees
    assert got[("hand:h_noacct", "employees")] is None  # no account at all


def test_an_unknown_dimension_is_a_compile_error_naming_it_and_where_it_looked(
    built: Built, tmp_path: Path
) -> None:
    _, res = _compile_dimensions(built, tmp_path, ["lead_source", "deal_colour"])
    assert not res.success
    (failed,) = [r for r in res.result if str(r.status) == "error"]
    message = failed.message
    assert "'deal_colour'" in message
    for place in (
        "deal columns",
        "deal custom fields (",
        "lead_source",
        "account columns",
        "employees",
    ):
        assert place in message, place
    assert "account custom fields" in message


def test_no_dimensions_gives_empty_breakdowns_with_their_columns(
    built: Built, tmp_path: Path
) -> None:
    db = tmp_path / "hub.duckdb"
    shutil.copy(built.path, db)
    variables = {**dbt_vars(), "dimensions": []}
    res = run_dbt(
        db,
        tmp_path / "target",
        [
            "run",
            "--select",
            "int_deal_dimensions",
            "int_win_rate_dimension_months",
            "win_rate_by_dimension",
            "stage_conversion_by_dimension",
        ],
        variables,
    )
    assert res.success
    copy = Built(db, [], [], True)
    for mart in ("win_rate_by_dimension", "stage_conversion_by_dimension"):
        assert copy.table(f"analytics.{mart}") == []
        columns = copy.rows(
            "select column_name from information_schema.columns "
            "where table_schema = 'analytics' and table_name = ?",
            [mart],
        )
        assert {"dimension", "dimension_value"} <= {c["column_name"] for c in columns}


def test_the_deal_column_list_is_the_models(built: Built) -> None:
    """hub_dimensions resolves deal columns from a fixed list; it must be int_deals_enriched's."""
    import re

    macro = (
        Path(__file__).resolve().parents[2] / "transforms/macros/hub_dimensions.sql"
    ).read_text()
    body = macro.split("macro hub_deal_dimension_columns", 1)[1].split("endmacro", 1)[0]
    listed = re.findall(r"'([a-z_]+)'", body)
    columns = [
        r["column_name"]
        for r in built.rows(
            "select column_name from information_schema.columns where table_schema = 'hub_staging' "
            "and table_name = 'int_deals_enriched' order by ordinal_position"
        )
    ]
    assert sorted(listed) == sorted(columns)


def test_breakdown_docs_are_the_base_marts_columns_plus_the_dimension(built: Built) -> None:
    """marts/_breakdowns.yml is generated from marts/_metrics.yml: it must stay in step with it
    and with the built models."""
    import yaml

    marts = Path(__file__).resolve().parents[2] / "transforms" / "marts"
    base = {m["name"]: m for m in yaml.safe_load((marts / "_metrics.yml").read_text())["models"]}
    docs = yaml.safe_load((marts / "_breakdowns.yml").read_text())["models"]
    assert sorted(m["name"] for m in docs) == sorted(f"{m}_by_dimension" for m in BASE_GRAINS)
    for model in docs:
        columns = [c["name"] for c in model["columns"]]
        base_columns = [
            c["name"] for c in base[model["name"].removesuffix("_by_dimension")]["columns"]
        ]
        assert [c for c in columns if c not in DIMS] == base_columns
        built_columns = [
            r["column_name"]
            for r in built.rows(
                "select column_name from information_schema.columns where table_schema = "
                "'analytics' and table_name = ? order by ordinal_position",
                [model["name"]],
            )
        ]
        assert built_columns == columns, model["name"]
