"""What the report must show, computed here from the marts on their own terms.

Lookups select mart rows directly; every aggregate (board, headline figures, rep activity
sums, stalled counts) is recomputed in Python from whole mart rows, not with the report's SQL.
The page's figures (from its tables' ``data-value`` cells or its charts' data) are then
compared with these.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from hub.warehouse import Warehouse
from models.config import HubConfig

M = "analytics"
TOP_COMPANIES = 15  # companies the report lists (hub.report.data, docs)
# Marts an older hub did not build; the report leaves out the figures that read them.
OPTIONAL = {
    "companies": ("accounts",),
    "duplicates": ("duplicate_deals",),
    "by_dimension": (
        "win_rate_by_dimension",
        "deal_size_by_dimension",
        "sales_cycle_by_dimension",
    ),
}


def _all(conn: sa.Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def _f(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _sum(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return float(sum(present)) if present else None


def expected(
    config: HubConfig, period: str = "month", dimension: str | None = None
) -> dict[str, Any]:
    dimension = dimension or (config.dimensions[0] if config.dimensions else None)
    with Warehouse(config).connect() as conn:
        marts = {
            r["table_name"]
            for r in _all(
                conn,
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :s",
                s=M,
            )
        }
        deals = _all(conn, f"SELECT * FROM {M}.deals")
        accounts = _all(conn, f"SELECT * FROM {M}.accounts") if "accounts" in marts else None
        duplicates = (
            _all(conn, f"SELECT * FROM {M}.duplicate_deals") if "duplicate_deals" in marts else None
        )
        deal_fields = _all(conn, f"SELECT * FROM {M}.deal_fields") if "deal_fields" in marts else []
        account_fields = (
            _all(conn, f"SELECT * FROM {M}.account_fields") if "account_fields" in marts else []
        )
        stages = _all(
            conn,
            "SELECT stage_name, display_order, outcome "
            "FROM hub_meta.hub_canonical_stages ORDER BY display_order",
        )
        reps = {r["rep_key"]: r for r in _all(conn, f"SELECT * FROM {M}.reps")}
        stalled = _all(conn, f"SELECT * FROM {M}.stalled_deals")
        funnel = _all(
            conn,
            f"SELECT * FROM {M}.stage_conversion WHERE mode IN ('any_order', 'strict_order') "
            "AND source_name = '*' AND pipeline_key = '*' AND cohort_month IS NULL",
        )
        coverage = _all(
            conn,
            f"SELECT * FROM {M}.pipeline_coverage WHERE period_type = :p AND rep_key = '*'",
            p=period,
        )
        win_rate = _all(
            conn,
            f"SELECT * FROM {M}.win_rate WHERE period_type = :p "
            "AND rep_key = '*' AND pipeline_key = '*'",
            p=period,
        )
        velocity = _all(
            conn,
            f"SELECT * FROM {M}.sales_velocity WHERE period_type = :p AND rep_key = '*'",
            p=period,
        )
        time_in_stage = _all(conn, f"SELECT * FROM {M}.time_in_stage WHERE final_outcome = 'all'")
        forecast = _all(
            conn, f"SELECT * FROM {M}.forecast WHERE period_type = :p AND rep_key = '*'", p=period
        )
        activity = _all(conn, f"SELECT * FROM {M}.rep_activity")
        cycle = _all(
            conn, f"SELECT * FROM {M}.sales_cycle WHERE outcome = 'won' AND source_name = '*'"
        )
        score = _score_backtest(conn)

    existing = [d for d in deals if not d["is_deleted"] and d["created_at"] <= d["as_of"]]
    resolved = bool(deals) and "is_duplicate" in deals[0]
    counted = [d for d in existing if not (resolved and d["is_duplicate"])]
    if resolved:  # the mart's own flag says the same
        assert counted == [d for d in deals if d["is_counted"]]
    open_stages = [s["stage_name"] for s in stages if s["outcome"] is None] + ["unmapped"]

    board: dict[tuple[str, str], dict[str, Any]] = {}
    for d in counted:
        cell = board.setdefault(
            (d["canonical_stage"], d["source_name"]), {"deals": 0, "amounts": []}
        )
        cell["deals"] += 1
        cell["amounts"].append(d["amount_base"])
    board_rows = {
        k: {"deals": v["deals"], "amount_base": _sum(v["amounts"])} for k, v in board.items()
    }

    is_open = [d for d in counted if d["is_open"]]
    won = sum(1 for d in counted if d["is_won"])
    lost = sum(1 for d in counted if d["is_lost"])
    kpis = {
        "open_deals": len(is_open),
        "open_amount_base": _sum([d["amount_base"] for d in is_open]),
        "open_weighted_amount_base": _sum([d["weighted_amount_base"] for d in is_open]),
        "win_rate": won / (won + lost) if won + lost else None,
        "won_deals": won,
        "lost_deals": lost,
        "median_won_cycle_days": cycle[0]["median_days"] if cycle else None,
        "stalled_deals": len(stalled),
        "stalled_amount_base": _sum([s["amount_base"] for s in stalled]),
    }

    last_week = max((a["week_start"] for a in activity), default=None)
    rep_activity: dict[str, dict[str, Any]] = {}
    if last_week is not None:
        if isinstance(last_week, datetime):
            last_week = last_week.date()
        first_week = last_week - timedelta(weeks=11)
        sums: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        for a in activity:
            week = (
                a["week_start"].date() if isinstance(a["week_start"], datetime) else a["week_start"]
            )
            if first_week <= week <= last_week:
                row = sums[a["rep_key"]]
                for col in (
                    "calls",
                    "emails",
                    "meetings",
                    "tasks",
                    "notes",
                    "other_activities",
                    "activities",
                ):
                    row[col] += a[col] or 0
                if week == last_week:
                    row["open_deals"] = a["open_deals"]
                    row["activities_per_open_deal"] = a["activities_per_open_deal"]
        for rep_key, row in sums.items():
            row.setdefault("open_deals", None)
            row.setdefault("activities_per_open_deal", None)
            rep_activity[rep_key] = dict(row)

    stalled_by: dict[tuple[str, str], int] = defaultdict(int)
    for s in stalled:
        stalled_by[(s["canonical_stage"], s["source_name"])] += 1

    def period_key(row: dict[str, Any]) -> tuple[bool, date]:
        return (row["period_start"] is None, row["period_start"] or date.min)

    source_names = {d["source_name"] for d in existing}
    return {
        "as_of": counted[0]["as_of"] if counted else None,
        "sources": {d["source_name"]: d["crm"] for d in existing},
        "source_deals": {s: sum(1 for d in counted if d["source_name"] == s) for s in source_names},
        "source_duplicates": {
            s: sum(1 for d in existing if d["source_name"] == s and d["is_duplicate"])
            if resolved
            else None
            for s in source_names
        },
        "omitted": {
            figure
            for figure, needs in OPTIONAL.items()
            if not set(needs) <= marts or (figure == "by_dimension" and dimension is None)
        },
        **_companies(accounts),
        **_duplicates(duplicates),
        "dimension": dimension,
        "by_dimension": _by_dimension(counted, dimension, deal_fields, account_fields),
        "stage_order": [s["stage_name"] for s in stages],
        "open_stages": open_stages,
        "lost_stages": [s["stage_name"] for s in stages if s["outcome"] == "lost"],
        "kpis": kpis,
        "board": board_rows,
        "funnel": {
            (r["mode"], r["canonical_stage"]): {k: _f(v) for k, v in r.items()} for r in funnel
        },
        "coverage": {r["period_start"]: {k: _f(v) for k, v in r.items()} for r in coverage},
        "win_rate": {
            (r["period_start"], r["source_name"]): {k: _f(v) for k, v in r.items()}
            for r in win_rate
        },
        "velocity": {r["period_start"]: {k: _f(v) for k, v in r.items()} for r in velocity},
        "time_in_stage": {(r["canonical_stage"], r["source_name"]): r for r in time_in_stage},
        "stalled": {s["deal_key"]: {k: _f(v) for k, v in s.items()} for s in stalled},
        "stalled_by": dict(stalled_by),
        "forecast": {
            (r["period_start"], r["canonical_stage"]): {k: _f(v) for k, v in r.items()}
            for r in forecast
        },
        "forecast_periods": sorted(
            {r["period_start"] for r in forecast}, key=lambda p: (p is None, p or date.min)
        ),
        "forecast_totals": [
            _f(r["amount_base"])
            for r in sorted((r for r in forecast if r["canonical_stage"] == "*"), key=period_key)
        ],
        "rep_activity": rep_activity,
        "reps": reps,
        **score,
    }


def _companies(accounts: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The top companies by open pipeline (mart accounts) and counts over all of them."""
    if accounts is None:
        return {"companies": {}, "companies_order": [], "companies_facts": {}}
    with_open = [a for a in accounts if a["open_count"] > 0]
    with_open.sort(
        key=lambda a: (
            a["open_amount_base"] is None,
            -float(a["open_amount_base"] or 0),
            -a["open_count"],
            a["company_key"],
        )
    )
    top = with_open[:TOP_COMPANIES]
    return {
        "companies": {a["company_key"]: {k: _f(v) for k, v in a.items()} for a in top},
        "companies_order": [a["company_key"] for a in top],
        "companies_facts": {
            "companies": len(accounts),
            "in_several_crms": sum(1 for a in accounts if a["n_sources"] >= 2),
            "with_open_deals": len(with_open),
        },
    }


def _duplicates(rows: list[dict[str, Any]] | None) -> dict[str, Any]:
    if rows is None:
        return {"duplicates": {}, "duplicates_facts": {}}
    return {
        "duplicates": {r["deal_key"]: {k: _f(v) for k, v in r.items()} for r in rows},
        "duplicates_facts": {
            "pairs": len(rows),
            "left_out": sum(1 for r in rows if r["is_duplicate"]),
        },
    }


def _by_dimension(
    counted: list[dict[str, Any]],
    dimension: str | None,
    deal_fields: list[dict[str, Any]],
    account_fields: list[dict[str, Any]],
) -> dict[Any, dict[str, Any]]:
    """Per value of ``dimension`` (a deal custom field, else an account custom field of the
    deal's account, else a deal column), over counted deals closed by as_of: recomputed from
    whole deal rows, not from the *_by_dimension marts. '*' = every value."""
    if dimension is None:
        return {}
    by_deal = {r["deal_key"]: r for r in deal_fields}
    by_account = {r["account_key"]: r for r in account_fields}

    def value(deal: dict[str, Any]) -> Any:  # docs/metrics.md "Dimensions": in this order
        if dimension in deal:
            return deal[dimension]
        if deal_fields and dimension in deal_fields[0]:
            return by_deal.get(deal["deal_key"], {}).get(dimension)
        if account_fields and dimension in account_fields[0]:
            return by_account.get(deal["account_key"], {}).get(dimension)
        raise AssertionError(f"{dimension}: the tests read deal columns and custom fields only")

    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for d in counted:
        if d["is_won"] or d["is_lost"]:
            groups[value(d)].append(d)
            groups["*"].append(d)
    out = {}
    for key, closed in groups.items():
        won = [d for d in closed if d["is_won"]]
        amounts = [float(d["amount_base"]) for d in won if d["amount_base"] is not None]
        cycles = [(d["closed_at"] - d["created_at"]).total_seconds() / 86_400 for d in won]
        out[key] = {
            "closed_count": len(closed),
            "won_count": len(won),
            "lost_count": len(closed) - len(won),
            "win_rate": len(won) / len(closed),
            "won_amount_base": sum(amounts) if amounts else None,
            "avg_won_amount_base": statistics.fmean(amounts) if amounts else None,
            "median_won_cycle_days": statistics.median(cycles) if cycles else None,
        }
    return out


def _score_backtest(conn: sa.Connection) -> dict[str, Any]:
    """The latest backtest's figures recomputed from its stored predictions: Brier, log loss
    and n per cutoff x model; per model x tenth of the predicted range, over every cutoff."""
    has = _all(
        conn,
        "SELECT count(*) AS n FROM information_schema.tables "
        "WHERE table_schema = 'hub_meta' AND table_name = 'hub_score_predictions'",
    )[0]["n"]
    latest = (
        _all(
            conn,
            "SELECT run_id FROM hub_meta.hub_score_backtests "
            "ORDER BY run_at DESC, run_id DESC LIMIT 1",
        )
        if has
        else []
    )
    if not latest:
        return {"score_backtest": {}, "score_calibration": {}}
    predictions = _all(
        conn,
        "SELECT cutoff, model, predicted, won FROM hub_meta.hub_score_predictions "
        "WHERE run_id = :r",
        r=latest[0]["run_id"],
    )
    groups: dict[tuple[Any, str], list[tuple[float, bool]]] = {}
    tenths: dict[tuple[str, int], list[tuple[float, bool]]] = {}
    for r in predictions:
        p, won = float(r["predicted"]), bool(r["won"])
        groups.setdefault((r["cutoff"].date(), r["model"]), []).append((p, won))
        tenths.setdefault((r["model"], min(int(p * 10), 9)), []).append((p, won))
    backtest = {}
    for key, pairs in groups.items():
        clipped = [(min(max(p, 1e-3), 1 - 1e-3), w) for p, w in pairs]
        backtest[key] = {
            "n_scored": len(pairs),
            "n_won": sum(w for _, w in pairs),
            "brier": sum((p - w) ** 2 for p, w in pairs) / len(pairs),
            "log_loss": -sum(math.log(p if w else 1 - p) for p, w in clipped) / len(pairs),
        }
    calibration = {
        key: {
            "n": len(pairs),
            "mean_predicted": sum(p for p, _ in pairs) / len(pairs),
            "observed_rate": sum(w for _, w in pairs) / len(pairs),
        }
        for key, pairs in tenths.items()
    }
    return {"score_backtest": backtest, "score_calibration": calibration}


# ----- comparing ------------------------------------------------------------------------------


def same(page_value: str | None, mart_value: Any) -> bool:
    """A page's raw cell value (text) against a mart value."""
    if mart_value is None or page_value is None:
        return mart_value is None and page_value is None
    if isinstance(mart_value, bool):
        return page_value == ("true" if mart_value else "false")
    if isinstance(mart_value, (int, float, Decimal)):
        return math.isclose(float(page_value), float(mart_value), rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(mart_value, (date, datetime)):
        return page_value == mart_value.isoformat()
    return page_value == str(mart_value)


def parse_key(value: str | None) -> Any:
    """A page's raw period_start back to a date (None stays None)."""
    return None if value is None else date.fromisoformat(value)
