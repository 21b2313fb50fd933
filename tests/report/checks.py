"""Comparisons of what a page shows (page_reader's structure) with expected.expected()."""

from __future__ import annotations

import html
import math
from collections import Counter
from typing import Any

from tests.report.expected import parse_key, same


def _v(cell: dict[str, Any]) -> str | None:
    return cell["v"]


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)


def _check_row(
    figure: str,
    ident: Any,
    row: dict[str, Any],
    mart: dict[str, Any],
    columns: list[str],
    problems: list[str],
) -> None:
    for column in columns:
        if not same(_v(row[column]), mart[column]):
            problems.append(
                f"{figure} {ident} {column}: page {_v(row[column])!r}, mart {mart[column]!r}"
            )


def table_problems(content: dict[str, Any], exp: dict[str, Any]) -> list[str]:
    """Every number in every table, tile and board card against the marts."""
    problems: list[str] = []
    tables = content["tables"]

    # header
    if content["as_of"] != (exp["as_of"].isoformat() if exp["as_of"] else None):
        problems.append(f"as_of: page {content['as_of']}, mart {exp['as_of']}")
    page_sources = {s["name"]: (s["crm"], int(s["deals"])) for s in content["sources"]}
    mart_sources = {n: (crm, exp["source_deals"][n]) for n, crm in exp["sources"].items()}
    if page_sources != mart_sources:
        problems.append(f"sources: page {page_sources}, mart {mart_sources}")

    # headline tiles
    if set(content["kpis"]) != set(exp["kpis"]):
        problems.append(f"kpis: page {sorted(content['kpis'])}, expected {sorted(exp['kpis'])}")
    for metric, value in exp["kpis"].items():
        if metric in content["kpis"] and not same(content["kpis"][metric]["v"], value):
            problems.append(f"kpi {metric}: page {content['kpis'][metric]['v']}, mart {value}")

    # board: cards, column totals and its table
    cards = {(c["stage"], c["source"]): c for c in content["board"]}
    if set(cards) != set(exp["board"]):
        problems.append(f"board cards: page {sorted(cards)}, mart {sorted(exp['board'])}")
    for key, mart in exp["board"].items():
        card = cards.get(key)
        if card and (
            int(card["deals"]) != mart["deals"] or not same(card["amount"], mart["amount_base"])
        ):
            problems.append(f"board card {key}: page {card}, mart {mart}")
    for column in content["board_columns"]:
        mine = [v for (stage, _), v in exp["board"].items() if stage == column["stage"]]
        amounts = [m["amount_base"] for m in mine if m["amount_base"] is not None]
        if int(column["deals"]) != sum(m["deals"] for m in mine) or not same(
            column["amount"], sum(amounts) if amounts else None
        ):
            problems.append(f"board column {column['stage']}: page {column}")
    board_rows = {(_v(r["canonical_stage"]), _v(r["source_name"])): r for r in tables["board"]}
    if set(board_rows) != set(exp["board"]):
        problems.append("board table: rows differ from the mart")
    for key, row in board_rows.items():
        if key in exp["board"]:
            _check_row("board", key, row, {**exp["board"][key]}, ["deals", "amount_base"], problems)

    # direct mart rows
    direct = [
        (
            "funnel",
            lambda r: (_v(r["mode"]), _v(r["canonical_stage"])),
            [
                "funnel_deals",
                "reached_count",
                "reached_next_count",
                "next_step_conversion",
                "cumulative_conversion",
                "next_stage",
            ],
        ),
        (
            "win_rate",
            lambda r: (parse_key(_v(r["period_start"])), _v(r["source_name"])),
            [
                "won_count",
                "lost_count",
                "closed_count",
                "win_rate",
                "won_amount_base",
                "win_rate_by_value",
            ],
        ),
        (
            "velocity",
            lambda r: parse_key(_v(r["period_start"])),
            [
                "opportunities",
                "won_count",
                "lost_count",
                "win_rate",
                "avg_won_amount_base",
                "avg_won_cycle_days",
                "velocity_base_per_day",
                "is_partial_period",
            ],
        ),
        (
            "time_in_stage",
            lambda r: (_v(r["canonical_stage"]), _v(r["source_name"])),
            ["spell_count", "mean_days", "median_days", "p75_days", "p90_days"],
        ),
        (
            "stalled",
            lambda r: _v(r["deal_key"]),
            [
                "deal_name",
                "source_name",
                "canonical_stage",
                "amount",
                "currency",
                "amount_base",
                "days_in_current_stage",
                "days_since_last_activity",
                "threshold_days",
                "reason",
            ],
        ),
        (
            "forecast",
            lambda r: (parse_key(_v(r["period_start"])), _v(r["canonical_stage"])),
            [
                "open_count",
                "amount_base",
                "weighted_amount_base",
                "n_without_amount_base",
                "n_without_probability",
                "n_overdue",
            ],
        ),
        (
            "coverage",
            lambda r: parse_key(_v(r["period_start"])),
            [
                "quota_base",
                "won_base",
                "remaining_quota_base",
                "open_count",
                "open_pipeline_base",
                "coverage",
                "coverage_needed",
                "is_covered",
            ],
        ),
    ]
    for figure, key_of, columns in direct:
        rows = {key_of(r): r for r in tables.get(figure, [])}
        if len(rows) != len(tables.get(figure, [])):
            problems.append(f"{figure}: duplicate rows on the page")
        if set(rows) != set(exp[figure]):
            problems.append(
                f"{figure}: page rows {sorted(map(str, rows))[:6]}... differ from "
                f"the mart's {sorted(map(str, exp[figure]))[:6]}..."
            )
        for key, row in rows.items():
            if key in exp[figure]:
                _check_row(figure, key, row, exp[figure][key], columns, problems)

    _cross_crm_table_problems(content, exp, problems)

    # rep activity (sums over the last 12 weeks)
    activity = {_v(r["rep_key"]): r for r in tables["rep_activity"]}
    if set(activity) != set(exp["rep_activity"]):
        problems.append(
            f"rep_activity reps: page {sorted(activity)}, mart {sorted(exp['rep_activity'])}"
        )
    for rep_key, row in activity.items():
        if rep_key in exp["rep_activity"]:
            _check_row(
                "rep_activity",
                rep_key,
                row,
                exp["rep_activity"][rep_key],
                [
                    "activities",
                    "calls",
                    "emails",
                    "meetings",
                    "tasks",
                    "notes",
                    "other_activities",
                    "open_deals",
                    "activities_per_open_deal",
                ],
                problems,
            )
    _score_table_problems(tables, exp, problems)
    return problems


def _score_table_problems(tables: dict[str, Any], exp: dict[str, Any], problems: list[str]) -> None:
    """The backtest table and the calibration table against the stored predictions."""
    backtest = {
        (parse_key(_v(r["cutoff"])), _v(r["model"])): r for r in tables.get("score_backtest", [])
    }
    if set(backtest) != set(exp["score_backtest"]):
        problems.append(f"score_backtest rows: page {sorted(backtest)}")
    for key, row in backtest.items():
        if key in exp["score_backtest"]:
            columns = ["n_scored", "n_won", "brier", "log_loss"]
            _check_row("score_backtest", key, row, exp["score_backtest"][key], columns, problems)
    calibration = {
        (_v(r["model"]), int(_v(r["decile"]) or 0)): r for r in tables.get("score_calibration", [])
    }
    if set(calibration) != set(exp["score_calibration"]):
        problems.append(f"score_calibration rows: page {sorted(calibration)}")
    for key, row in calibration.items():
        if key in exp["score_calibration"]:
            columns = ["n", "mean_predicted", "observed_rate"]
            _check_row(
                "score_calibration", key, row, exp["score_calibration"][key], columns, problems
            )


def _facts(figure: str, page: dict[str, str], mart: dict[str, Any], problems: list[str]) -> None:
    if set(page) != set(mart) or not all(same(page[k], v) for k, v in mart.items()):
        problems.append(f"{figure} facts: page {page}, mart {mart}")


def _cross_crm_table_problems(
    content: dict[str, Any], exp: dict[str, Any], problems: list[str]
) -> None:
    """Sources' duplicate copies, companies, the dimension breakdown and duplicates; a figure
    whose marts the warehouse lacks must be left out (title and note only)."""
    tables, sections = content["tables"], content["sections"]
    page_copies = {s["name"]: s.get("duplicates") for s in content["sources"]}
    for name, copies in exp["source_duplicates"].items():
        if not same(page_copies.get(name), copies):
            problems.append(
                f"source {name} copies left out: page {page_copies.get(name)}, {copies}"
            )
    for figure in ("companies", "by_dimension", "duplicates"):
        section = sections.get(figure)
        if section is None:
            problems.append(f"{figure}: no section on the page")
            continue
        if section["omitted"] != (figure in exp["omitted"]):
            problems.append(f"{figure}: omitted {section['omitted']}, expected the opposite")
        if section["omitted"] and figure in tables:
            problems.append(f"{figure}: left out, yet it has a table")

    if "companies" not in exp["omitted"]:
        rows = tables["companies"]
        order = [_v(r["company_key"]) for r in rows]
        if order != exp["companies_order"]:
            problems.append(f"companies: page {order}, mart {exp['companies_order']}")
        for row in rows:
            key = _v(row["company_key"])
            if key in exp["companies"]:
                _check_row(
                    "companies",
                    key,
                    row,
                    exp["companies"][key],
                    [
                        "company_name",
                        "source_names",
                        "n_sources",
                        "open_count",
                        "open_amount_base",
                        "won_count",
                        "won_amount_base",
                        "win_rate",
                    ],
                    problems,
                )
        _facts("companies", sections["companies"]["facts"], exp["companies_facts"], problems)

    if "duplicates" not in exp["omitted"]:
        rows = {_v(r["deal_key"]): r for r in tables["duplicates"]}
        if set(rows) != set(exp["duplicates"]) or len(rows) != len(tables["duplicates"]):
            problems.append("duplicates: page rows differ from the mart's")
        for key, row in rows.items():
            if key in exp["duplicates"]:
                _check_row(
                    "duplicates",
                    key,
                    row,
                    exp["duplicates"][key],
                    [
                        "name",
                        "source_name",
                        "duplicate_of",
                        "duplicate_of_name",
                        "duplicate_of_source_name",
                        "rule",
                        "score",
                        "is_duplicate",
                    ],
                    problems,
                )
        _facts("duplicates", sections["duplicates"]["facts"], exp["duplicates_facts"], problems)
        title = sections["duplicates"]["title"]
        if not title.endswith(f"({exp['duplicates_facts']['pairs']:,})"):
            problems.append(f"duplicates title {title!r} does not give the total")

    if "by_dimension" not in exp["omitted"]:
        rows = {_v(r["dimension_value"]): r for r in tables["by_dimension"]}
        if set(rows) != set(exp["by_dimension"]) or len(rows) != len(tables["by_dimension"]):
            problems.append(
                f"by_dimension: page values {sorted(map(str, rows))}, "
                f"expected {sorted(map(str, exp['by_dimension']))}"
            )
        for key, row in rows.items():
            if key in exp["by_dimension"]:
                _check_row(
                    "by_dimension", key, row, exp["by_dimension"][key], BY_DIMENSION, problems
                )
        if sections["by_dimension"]["title"] != f"By {exp['dimension']}":
            problems.append(f"by_dimension title {sections['by_dimension']['title']!r}")
        _facts(
            "by_dimension",
            sections["by_dimension"]["facts"],
            {"dimension": exp["dimension"]},
            problems,
        )


BY_DIMENSION = [
    "closed_count",
    "won_count",
    "lost_count",
    "win_rate",
    "won_amount_base",
    "avg_won_amount_base",
    "median_won_cycle_days",
]


def _cross_crm_chart_problems(
    content: dict[str, Any], exp: dict[str, Any], problems: list[str]
) -> None:
    charts = content["charts"]
    for figure in ("companies", "by_dimension", "duplicates"):
        if (figure in charts) == (figure in exp["omitted"]):
            problems.append(f"{figure}: chart present {figure in charts}, omitted expected")
    if "companies" not in exp["omitted"] and "companies" in charts:
        plotted: dict[str, Any] = {}
        for trace in charts["companies"]["traces"]:  # by company key, & < > as entities
            for key, x in zip(trace["y"], trace["x"], strict=True):
                plotted[html.unescape(key)] = x
        mart = {k: v["open_amount_base"] for k, v in exp["companies"].items()}
        if set(plotted) != set(mart) or not all(_close(plotted[k], v) for k, v in mart.items()):
            problems.append(f"companies chart {plotted}, mart {mart}")
    if "by_dimension" not in exp["omitted"] and "by_dimension" in charts:
        # the chart plots the table's rows other than 'all values', in the table's order
        values = [
            _v(r["dimension_value"])
            for r in content["tables"]["by_dimension"]
            if _v(r["dimension_value"]) != "*"
        ]
        traces = {t["name"]: t for t in charts["by_dimension"]["traces"]}
        for trace, column in (("won amount", "won_amount_base"), ("win rate", "win_rate")):
            page = traces[trace]["y"] if trace in traces else []
            want = [exp["by_dimension"].get(v, {}).get(column) for v in values]
            if len(page) != len(want) or not all(
                _close(a, b) for a, b in zip(page, want, strict=False)
            ):
                problems.append(f"by_dimension chart {trace}: {page}, mart {want}")
    if "duplicates" not in exp["omitted"] and "duplicates" in charts:
        counted = Counter(
            (
                html.escape(f"{r['source_name']} → {r['duplicate_of_source_name']}", quote=False),
                r["rule"],
            )
            for r in exp["duplicates"].values()
        )
        plotted_pairs = {
            (x, t["name"]): y
            for t in charts["duplicates"]["traces"]
            for x, y in zip(t["x"], t["y"], strict=True)
        }
        if plotted_pairs != dict(counted):
            problems.append(f"duplicates chart {plotted_pairs}, mart {counted}")


def chart_problems(content: dict[str, Any], exp: dict[str, Any]) -> list[str]:
    """The charts' data (as plotted) against the marts."""
    problems: list[str] = []
    charts = content["charts"]

    def traces(key: str) -> dict[str | None, dict[str, Any]]:
        return {t["name"]: t for t in charts[key]["traces"]}

    def check(label: str, page: list[Any], mart: list[Any]) -> None:
        if len(page) != len(mart) or not all(
            _close(a, b) for a, b in zip(page, mart, strict=False)
        ):
            problems.append(f"{label}: chart {page}, mart {mart}")

    # board: one bar trace per source, open stages only, amount_base
    for source in exp["sources"]:
        stages = [s for s in exp["open_stages"] if (s, source) in exp["board"]]
        trace = traces("board").get(source)
        if not stages:
            continue
        if trace is None:
            problems.append(f"board chart: no trace for {source}")
            continue
        if trace["x"] != stages:
            problems.append(f"board chart {source}: stages {trace['x']}, mart {stages}")
        check(
            f"board chart {source}",
            trace["y"],
            [exp["board"][(s, source)]["amount_base"] for s in stages],
        )

    # funnel: one trace per mode, named by what it counts; reached counts of the non-lost
    # stages, canonical order
    funnels = traces("funnel")
    for mode, name in (
        ("any_order", "any order: in the stage or any later one"),
        ("strict_order", "strict order: in the stage itself"),
    ):
        funnel_stages = [
            s
            for s in exp["stage_order"]
            if (mode, s) in exp["funnel"] and s not in exp["lost_stages"]
        ]
        funnel = funnels.get(name)
        if funnel is None:
            problems.append(f"funnel chart: no trace {name!r}")
            continue
        if funnel["y"] != funnel_stages:
            problems.append(f"funnel chart {mode} stages {funnel['y']}, mart {funnel_stages}")
        check(
            f"funnel chart {mode}",
            funnel["x"],
            [exp["funnel"][(mode, s)]["reached_count"] for s in funnel_stages],
        )

    # coverage: the team's coverage per period, and the coverage needed
    periods = sorted(exp["coverage"])
    if exp["coverage"]:
        check(
            "coverage chart",
            traces("coverage")["coverage"]["y"],
            [exp["coverage"][p]["coverage"] for p in periods],
        )
        check(
            "coverage chart needed",
            traces("coverage")["needed (1 / trailing win rate)"]["y"],
            [exp["coverage"][p]["coverage_needed"] for p in periods],
        )

    # win rate: the all-sources line
    periods = sorted(p for p, s in exp["win_rate"] if s == "*")
    check(
        "win rate chart",
        traces("win_rate")["All sources"]["y"],
        [exp["win_rate"][(p, "*")]["win_rate"] for p in periods],
    )

    # velocity
    periods = sorted(exp["velocity"])
    (velocity,) = charts["velocity"]["traces"]
    check(
        "velocity chart",
        velocity["y"],
        [exp["velocity"][p]["velocity_base_per_day"] for p in periods],
    )

    # time in stage: the all-sources medians
    stages = [s for s in exp["stage_order"] + ["unmapped"] if (s, "*") in exp["time_in_stage"]]
    check(
        "time in stage chart",
        traces("time_in_stage")["All sources"]["y"],
        [exp["time_in_stage"][(s, "*")]["median_days"] for s in stages],
    )

    # stalled: counts per stage, stacked by source
    plotted = {
        (x, t["name"]): y
        for t in charts["stalled"]["traces"]
        for x, y in zip(t["x"], t["y"], strict=True)
    }
    if plotted != exp["stalled_by"]:
        problems.append(f"stalled chart {plotted}, mart {exp['stalled_by']}")

    # forecast: the unweighted total per period, and weighted by stage
    check(
        "forecast chart totals",
        traces("forecast")["open amount (unweighted)"]["y"],
        exp["forecast_totals"],
    )
    for trace in charts["forecast"]["traces"]:
        if trace["name"].endswith(" (weighted)"):
            stage = trace["name"].removesuffix(" (weighted)")
            mart = [
                v["weighted_amount_base"]
                for (_, s), v in sorted(
                    ((k, v) for k, v in exp["forecast"].items() if k[1] == stage),
                    key=lambda kv: (kv[0][0] is None, str(kv[0][0])),
                )
            ]
            check(f"forecast chart {stage}", trace["y"], mart)

    # rep activity: the stacked types add up to each rep's activities (plotted by rep key,
    # written for Plotly with & < > as entities)
    totals: dict[str, float] = {}
    for trace in charts["rep_activity"]["traces"]:
        for rep, x in zip(trace["y"], trace["x"], strict=True):
            totals[html.unescape(rep)] = totals.get(html.unescape(rep), 0) + x
    mart_totals = {k: v["activities"] for k, v in exp["rep_activity"].items()}
    if totals != mart_totals:
        problems.append(f"rep activity chart {totals}, mart {mart_totals}")
    _cross_crm_chart_problems(content, exp, problems)
    # deal score: Brier per cutoff for each forecast; calibration points per forecast
    backtest = exp["score_backtest"]
    for model in sorted({m for _, m in backtest}):
        cutoffs = sorted(c for c, m in backtest if m == model)
        trace = traces("score_backtest").get(model, {"x": [], "y": []})
        if trace["x"] != [c.isoformat() for c in cutoffs]:
            problems.append(f"score_backtest chart {model}: cutoffs {trace['x']}")
        check(
            f"score_backtest chart {model}",
            trace["y"],
            [backtest[(c, model)]["brier"] for c in cutoffs],
        )
    calibration = exp["score_calibration"]
    for model in sorted({m for m, _ in calibration}):
        tenths = sorted(d for m, d in calibration if m == model)
        trace = traces("score_calibration").get(model, {"x": [], "y": []})
        check(
            f"score_calibration chart {model} predicted",
            trace["x"],
            [calibration[(model, d)]["mean_predicted"] for d in tenths],
        )
        check(
            f"score_calibration chart {model} observed",
            trace["y"],
            [calibration[(model, d)]["observed_rate"] for d in tenths],
        )
    return problems
