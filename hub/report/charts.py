"""The report's charts, as Plotly figures (rendered in the page by the inlined plotly.js).

Each chart is drawn from the same rows as the table beside it, so what a chart shows is what
the table (and the mart) says.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative

from hub.report.data import ALL, FUNNEL_MODES, NO_BACKTEST, SCORE_MODELS, ReportData

ALL_LABEL = "All sources"
ALL_COLOR = "#1f2933"
SOURCE_PALETTE = qualitative.Safe
STAGE_PALETTE = qualitative.Set2
ACTIVITY_COLORS = {
    "calls": "#4c78a8",
    "emails": "#72b7b2",
    "meetings": "#f58518",
    "tasks": "#54a24b",
    "notes": "#b279a2",
    "other_activities": "#9d755d",
}
HEIGHT = 360
LABEL_MAX = 40  # characters of a CRM name shown in a chart; the tables hold it whole
# Control characters (Plotly reads a newline as <br>) and bidi embeddings, overrides and
# isolates (a right-to-left override would reverse the text after the name in a hover).
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def label(text: str, max_chars: int = LABEL_MAX) -> str:
    """``text`` as a chart must show it: literally, whatever a CRM holds.

    Plotly reads a subset of HTML in every label, legend entry and hover text (``<a href>``
    becomes a link, ``<b style=...>`` styles, ``<br>`` breaks) and decodes entities, so
    ``& < >`` go in as entities, which it shows as the characters themselves. Control and
    bidi formatting characters become spaces and long names are cut (the page's tables
    show the name as stored)."""
    shown = _UNSHOWN.sub(" ", text)
    if len(shown) > max_chars:
        shown = shown[: max_chars - 1] + "…"
    return html.escape(shown, quote=False)


def period_label(value: date | None, period: str) -> str:
    if value is None:
        return "no date"
    if period == "quarter":
        return f"{value.year} Q{(value.month - 1) // 3 + 1}"
    return value.strftime("%Y-%m")


def source_colors(data: ReportData) -> dict[str, str]:
    colors = {s.name: SOURCE_PALETTE[i % len(SOURCE_PALETTE)] for i, s in enumerate(data.sources)}
    colors[ALL] = ALL_COLOR
    return colors


def _layout(fig: go.Figure, *, money: str | None = None, height: int = HEIGHT, **kw: Any) -> None:
    settings: dict[str, Any] = {
        "template": "plotly_white",
        "height": height,
        "margin": {"l": 64, "r": 16, "t": 16, "b": 48},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "hoverlabel": {"namelength": -1},
    }
    fig.update_layout(**{**settings, **kw})
    if money:
        fig.update_yaxes(title_text=money, tickformat="~s")


def labels(texts: list[str]) -> list[str]:
    return [label(t) for t in texts]


def _empty(fig: go.Figure, message: str) -> go.Figure:
    """A chart with nothing to plot says so ("No data: <why>") instead of empty axes."""
    fig.add_annotation(
        text=f"No data: {message}",
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font={"size": 16, "color": "#667"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _layout(fig, height=200)
    return fig


def board_chart(data: ReportData) -> go.Figure:
    fig = go.Figure()
    colors = source_colors(data)
    rows = [r for r in data.board.rows if r["canonical_stage"] in data.open_stages]
    if not rows:
        return _empty(fig, "no open deals")
    for source in data.sources:
        mine = {r["canonical_stage"]: r for r in rows if r["source_name"] == source.name}
        stages = [s for s in data.open_stages if s in mine]
        if not stages:
            continue
        fig.add_bar(
            name=label(source.name),
            x=labels(stages),
            y=[mine[s]["amount_base"] for s in stages],
            customdata=[[mine[s]["deals"], mine[s]["weighted_amount_base"]] for s in stages],
            text=[f"{mine[s]['deals']:,}" for s in stages],
            textposition="inside",
            marker_color=colors[source.name],
            hovertemplate=(
                "%{x} · " + label(source.name) + "<br>%{customdata[0]} deals<br>amount "
                "%{y:,.0f}<br>weighted %{customdata[1]:,.0f}<extra></extra>"
            ),
        )
    _layout(fig, money=f"open amount ({data.base_currency})", barmode="stack")
    fig.update_xaxes(categoryorder="array", categoryarray=labels(data.open_stages))
    return fig


def funnel_chart(data: ReportData) -> go.Figure:
    """One funnel per mode of stage_conversion, side by side, named by what each counts."""
    fig = go.Figure()
    lost = {s for s, outcome in data.stage_outcomes.items() if outcome == "lost"}
    shown = [r for r in data.funnel.rows if r["canonical_stage"] not in lost]
    if not shown:
        return _empty(fig, "no stage history yet")
    for mode, name in FUNNEL_MODES.items():
        rows = [r for r in shown if r["mode"] == mode]
        if not rows:
            continue
        fig.add_trace(
            go.Funnel(
                name=name,
                y=[label(r["canonical_stage"]) for r in rows],
                x=[r["reached_count"] for r in rows],
                text=[f"{r['reached_count']:,} · {_pct(r['cumulative_conversion'])}" for r in rows],
                textinfo="text",
                marker={"color": STAGE_PALETTE[0] if mode == "any_order" else ALL_COLOR},
                connector={"line": {"color": "#ccd", "width": 1}},
                customdata=[
                    [_pct(r["next_step_conversion"]), label(r["next_stage"] or "-")] for r in rows
                ],
                hovertemplate="%{y}: %{x:,} deals reached (" + label(name) + ")<br>to "
                "%{customdata[1]}: %{customdata[0]}<extra></extra>",
            )
        )
    _layout(
        fig,
        margin={"l": 110, "r": 16, "t": 32, "b": 24},
        funnelmode="group",
        showlegend=True,
    )
    return fig


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def win_rate_chart(data: ReportData) -> go.Figure:
    fig = go.Figure()
    rows = data.win_rate.rows
    if not rows:
        return _empty(fig, "no closed deals yet")
    colors = source_colors(data)
    for source in [ALL, *(s.name for s in data.sources)]:
        mine = [r for r in rows if r["source_name"] == source]
        if not mine:
            continue
        name = ALL_LABEL if source == ALL else label(source)
        fig.add_scatter(
            name=name,
            mode="lines+markers",
            x=[period_label(r["period_start"], data.period) for r in mine],
            y=[r["win_rate"] for r in mine],
            customdata=[[r["won_count"], r["closed_count"]] for r in mine],
            line={
                "color": colors[source],
                "width": 3 if source == ALL else 1.5,
                "dash": "solid" if source == ALL else "dot",
            },
            hovertemplate=(
                "%{x} · " + name + "<br>win rate %{y:.1%} (%{customdata[0]} of %{customdata[1]})"
                "<extra></extra>"
            ),
        )
    _layout(fig)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title_text="won / (won + lost)")
    fig.update_xaxes(type="category")
    return fig


def velocity_chart(data: ReportData) -> go.Figure:
    fig = go.Figure()
    rows = data.velocity.rows
    if not rows:
        return _empty(fig, "no deals yet")
    fig.add_bar(
        name="velocity",
        x=[period_label(r["period_start"], data.period) for r in rows],
        y=[r["velocity_base_per_day"] for r in rows],
        marker={
            "color": "#4c78a8",
            "opacity": [0.45 if r["is_partial_period"] else 1 for r in rows],
        },
        customdata=[
            [
                r["opportunities"],
                _pct(r["win_rate"]),
                r["avg_won_amount_base"] or 0,
                r["avg_won_cycle_days"] or 0,
                " (period not over)" if r["is_partial_period"] else "",
            ]
            for r in rows
        ],
        hovertemplate=(
            "%{x}%{customdata[4]}: %{y:,.0f} per day<br>%{customdata[0]} opportunities"
            " x %{customdata[1]} x %{customdata[2]:,.0f} / %{customdata[3]:.1f} days"
            "<extra></extra>"
        ),
    )
    _layout(fig, money=f"{data.base_currency} per day", showlegend=False)
    fig.update_xaxes(type="category")
    return fig


def time_in_stage_chart(data: ReportData) -> go.Figure:
    fig = go.Figure()
    rows = data.time_in_stage.rows
    if not rows:
        return _empty(fig, "no closed stage spells yet")
    colors = source_colors(data)
    stages = [s for s in data.stages if any(r["canonical_stage"] == s for r in rows)]
    for source in [ALL, *(s.name for s in data.sources)]:
        mine = {r["canonical_stage"]: r for r in rows if r["source_name"] == source}
        xs = [s for s in stages if s in mine]
        if not xs:
            continue
        name = ALL_LABEL if source == ALL else label(source)
        fig.add_bar(
            name=name,
            x=labels(xs),
            y=[mine[s]["median_days"] for s in xs],
            marker_color=colors[source],
            customdata=[
                [mine[s]["spell_count"], mine[s]["p75_days"], mine[s]["p90_days"]] for s in xs
            ],
            hovertemplate=(
                "%{x} · " + name + "<br>median %{y:.1f} d, p75 %{customdata[1]:.1f} d, "
                "p90 %{customdata[2]:.1f} d<br>%{customdata[0]} spells"
                "<extra></extra>"
            ),
        )
    _layout(fig, barmode="group")
    fig.update_yaxes(title_text="median days in stage")
    fig.update_xaxes(categoryorder="array", categoryarray=labels(stages))
    return fig


def stalled_chart(data: ReportData) -> go.Figure:
    fig = go.Figure()
    rows = data.stalled.rows
    if not rows:
        return _empty(fig, "no stalled deals")
    colors = source_colors(data)
    stages = [s for s in data.stages if any(r["canonical_stage"] == s for r in rows)]
    for source in data.sources:
        counts = {
            s: sum(1 for r in rows if r["source_name"] == source.name and r["canonical_stage"] == s)
            for s in stages
        }
        xs = [s for s in stages if counts[s]]
        if not xs:
            continue
        fig.add_bar(
            name=label(source.name),
            x=labels(xs),
            y=[counts[s] for s in xs],
            marker_color=colors[source.name],
            hovertemplate="%{x} · " + label(source.name) + ": %{y} stalled<extra></extra>",
        )
    _layout(fig, barmode="stack", height=300)
    fig.update_yaxes(title_text="stalled deals", dtick=1 if len(rows) <= 10 else None)
    fig.update_xaxes(categoryorder="array", categoryarray=labels(stages))
    return fig


def forecast_chart(data: ReportData) -> go.Figure:
    fig = go.Figure()
    totals = [r for r in data.forecast.rows if r["canonical_stage"] == ALL]
    if not totals:
        return _empty(fig, "no open deals")
    labels = [period_label(r["period_start"], data.period) for r in totals]
    by_stage = [r for r in data.forecast.rows if r["canonical_stage"] != ALL]
    for i, stage in enumerate(
        s for s in data.stages if any(r["canonical_stage"] == s for r in by_stage)
    ):
        mine = {
            period_label(r["period_start"], data.period): r
            for r in by_stage
            if r["canonical_stage"] == stage
        }
        xs = [p for p in labels if p in mine]
        fig.add_bar(
            name=f"{label(stage)} (weighted)",
            x=xs,
            y=[mine[p]["weighted_amount_base"] for p in xs],
            marker_color=STAGE_PALETTE[i % len(STAGE_PALETTE)],
            customdata=[[mine[p]["open_count"]] for p in xs],
            hovertemplate=(
                "%{x} · " + label(stage) + "<br>weighted %{y:,.0f}"
                "<br>%{customdata[0]} deals<extra></extra>"
            ),
        )
    fig.add_scatter(
        name="open amount (unweighted)",
        x=labels,
        y=[r["amount_base"] for r in totals],
        mode="markers+lines",
        line={"color": ALL_COLOR, "width": 1, "dash": "dot"},
        marker={"size": 8, "symbol": "diamond"},
        customdata=[[r["open_count"], r["weighted_amount_base"] or 0] for r in totals],
        hovertemplate=(
            "%{x}: %{customdata[0]} deals<br>amount %{y:,.0f}"
            "<br>weighted %{customdata[1]:,.0f}<extra></extra>"
        ),
    )
    _layout(fig, money=data.base_currency, barmode="stack")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    return fig


def coverage_chart(data: ReportData) -> go.Figure:
    """Coverage per period as bars, the coverage needed as a line over them."""
    fig = go.Figure()
    rows = data.coverage.rows
    if not rows:
        return _empty(fig, "no team quota for these periods (quotas_path in hub.yml)")
    periods = [period_label(r["period_start"], data.period) for r in rows]
    fig.add_bar(
        name="coverage",
        x=periods,
        y=[r["coverage"] for r in rows],
        marker_color=[STAGE_PALETTE[0] if r["is_covered"] else "#c0392b" for r in rows],
        customdata=[[r["open_pipeline_base"], r["remaining_quota_base"]] for r in rows],
        hovertemplate="%{x}: coverage %{y:.2f}<br>open %{customdata[0]:,.0f} / quota left "
        "%{customdata[1]:,.0f}<extra></extra>",
    )
    fig.add_scatter(
        name="needed (1 / trailing win rate)",
        x=periods,
        y=[r["coverage_needed"] for r in rows],
        mode="lines+markers",
        line={"color": ALL_COLOR, "width": 1, "dash": "dot"},
        hovertemplate="%{x}: needed %{y:.2f}<extra></extra>",
    )
    _layout(fig)
    fig.update_yaxes(title_text="open pipeline / quota left")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=periods)
    return fig


def rep_activity_chart(data: ReportData) -> go.Figure:
    """One row per rep: plotted by rep key (unique, unlike a name cut to LABEL_MAX),
    labelled with the name."""
    fig = go.Figure()
    rows = data.rep_activity.rows
    if not rows:
        return _empty(fig, "no activities yet")
    shown = list(reversed(rows))  # most active at the top
    keys = [html.escape(r["rep_key"], quote=False) for r in shown]
    names = [label(r["rep_name"]) for r in shown]
    for column, color in ACTIVITY_COLORS.items():
        kind = "other" if column == "other_activities" else column
        fig.add_bar(
            name=kind,
            orientation="h",
            y=keys,
            x=[r[column] or 0 for r in shown],
            customdata=names,
            marker_color=color,
            hovertemplate="%{customdata}: %{x} " + kind + "<extra></extra>",
        )
    _layout(
        fig,
        barmode="stack",
        height=max(HEIGHT, 28 * len(rows) + 90),
        margin={"l": 170, "r": 16, "t": 16, "b": 40},
    )
    fig.update_xaxes(title_text="activities")
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=keys,
        tickmode="array",
        tickvals=keys,
        ticktext=names,
        automargin=True,
    )
    return fig


MULTI_CRM_COLOR = "#2f6fb3"
ONE_CRM_COLOR = "#9db7d5"


def companies_chart(data: ReportData) -> go.Figure:
    """Open pipeline of the top companies, largest at the top; plotted by company key
    (unique, unlike a name cut to LABEL_MAX), labelled with the name."""
    fig = go.Figure()
    rows = data.companies.rows
    if not rows:
        return _empty(fig, "no open deals")
    shown = list(reversed(rows))
    keys = [html.escape(r["company_key"], quote=False) for r in shown]
    names = [label(r["company_name"] or r["company_key"]) for r in shown]
    for several, name, color in (
        (True, "in 2+ CRMs", MULTI_CRM_COLOR),
        (False, "in one CRM", ONE_CRM_COLOR),
    ):
        mine = [
            (k, n, r)
            for k, n, r in zip(keys, names, shown, strict=True)
            if several == ((r["n_sources"] or 0) >= 2)
        ]
        if not mine:
            continue
        fig.add_bar(
            name=name,
            orientation="h",
            y=[k for k, _, _ in mine],
            x=[r["open_amount_base"] for _, _, r in mine],
            marker_color=color,
            customdata=[
                [
                    n,
                    label(r["source_names"] or "", max_chars=3 * LABEL_MAX),
                    r["open_count"],
                    r["won_amount_base"] or 0,
                    _pct(r["win_rate"]),
                ]
                for _, n, r in mine
            ],
            hovertemplate=(
                "%{customdata[0]}<br>open %{x:,.0f} in %{customdata[2]} deals"
                "<br>won %{customdata[3]:,.0f}, win rate %{customdata[4]}"
                "<br>%{customdata[1]}<extra></extra>"
            ),
        )
    _layout(
        fig,
        barmode="stack",
        height=max(HEIGHT, 26 * len(rows) + 110),
        margin={"l": 200, "r": 16, "t": 36, "b": 40},
        showlegend=True,
    )
    fig.update_xaxes(title_text=f"open amount ({data.base_currency})", tickformat="~s")
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=keys,
        tickmode="array",
        tickvals=keys,
        ticktext=names,
        automargin=True,
    )
    return fig


def dimension_value_label(value: str | None) -> str:
    return "(no value)" if value is None else label(value)


def by_dimension_chart(data: ReportData) -> go.Figure:
    """Won amount (bars) and win rate (markers, right axis) per value, in the table's order
    (x positions are the rows' indexes: values may repeat once cut to LABEL_MAX)."""
    fig = go.Figure()
    rows = [r for r in data.by_dimension.rows if r["dimension_value"] != ALL]
    if not rows:
        return _empty(fig, "no closed deals yet")
    xs = [str(i) for i in range(len(rows))]
    names = [dimension_value_label(r["dimension_value"]) for r in rows]
    custom = [
        [n, r["won_count"], r["closed_count"], _pct(r["win_rate"]), r["median_won_cycle_days"]]
        for n, r in zip(names, rows, strict=True)
    ]
    fig.add_bar(
        name="won amount",
        x=xs,
        y=[r["won_amount_base"] for r in rows],
        marker_color="#4c78a8",
        customdata=custom,
        hovertemplate="%{customdata[0]}: won %{y:,.0f} in %{customdata[1]} deals<extra></extra>",
    )
    fig.add_scatter(
        name="win rate",
        x=xs,
        y=[r["win_rate"] for r in rows],
        yaxis="y2",
        mode="markers",
        marker={"size": 11, "color": "#f58518", "symbol": "diamond"},
        customdata=custom,
        hovertemplate="%{customdata[0]}: win rate %{customdata[3]} "
        "(%{customdata[1]} of %{customdata[2]})<extra></extra>",
    )
    overall = next((r for r in data.by_dimension.rows if r["dimension_value"] == ALL), None)
    if overall is not None and overall["win_rate"] is not None:
        fig.add_scatter(
            name="win rate, all values",
            x=xs,
            y=[overall["win_rate"]] * len(xs),
            yaxis="y2",
            mode="lines",
            line={"color": "#f58518", "width": 1, "dash": "dash"},
            hovertemplate=f"all values: win rate {_pct(overall['win_rate'])}<extra></extra>",
        )
    _layout(
        fig,
        yaxis={"title": {"text": f"won amount ({data.base_currency})"}, "tickformat": "~s"},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "rangemode": "tozero",
            "title": {"text": "win rate"},
            "showgrid": False,
        },
        margin={"l": 64, "r": 64, "t": 16, "b": 64},
    )
    fig.update_xaxes(type="category", tickmode="array", tickvals=xs, ticktext=names)
    return fig


def duplicates_chart(data: ReportData) -> go.Figure:
    """Copies per pair of sources (the copy's -> the counted deal's), stacked by rule."""
    fig = go.Figure()
    rows = data.duplicates.rows
    if not rows:
        return _empty(fig, "no duplicate deals found")

    def pair(r: dict[str, Any]) -> str:
        return (
            f"{label(r['source_name'] or 'unknown')} → "
            f"{label(r['duplicate_of_source_name'] or 'unknown')}"
        )

    pairs = sorted({pair(r) for r in rows})
    for i, rule in enumerate(sorted({r["rule"] or "unknown" for r in rows})):
        counts = {p: 0 for p in pairs}
        for r in rows:
            if (r["rule"] or "unknown") == rule:
                counts[pair(r)] += 1
        xs = [p for p in pairs if counts[p]]
        fig.add_bar(
            name=label(rule),
            x=xs,
            y=[counts[p] for p in xs],
            marker_color=STAGE_PALETTE[i % len(STAGE_PALETTE)],
            hovertemplate="%{x} · " + label(rule) + ": %{y} copies<extra></extra>",
        )
    _layout(fig, barmode="stack", height=300, showlegend=True)
    fig.update_xaxes(
        type="category",
        categoryorder="array",
        categoryarray=pairs,
        title_text="the copy's source → the counted deal's source",
    )
    fig.update_yaxes(title_text="copies")
    return fig


MODEL_COLORS = dict(zip(SCORE_MODELS, ("#d62728", "#1f77b4", "#7f7f7f", "#bcbd22"), strict=True))
NO_BACKTEST_CHART = NO_BACKTEST.removeprefix("No data: ")


def _model_color(model: str, k: int) -> str:
    return MODEL_COLORS.get(model, STAGE_PALETTE[k % len(STAGE_PALETTE)])


def score_backtest_chart(data: ReportData) -> go.Figure:
    """Brier score per cutoff, one bar per forecast (lower is better)."""
    fig = go.Figure()
    rows = data.score_backtest.rows
    if not rows:
        return _empty(fig, NO_BACKTEST_CHART)
    cutoffs = sorted({str(r["cutoff"]) for r in rows})
    models = list(dict.fromkeys(r["model"] for r in rows))
    for k, model in enumerate(models):
        mine = {str(r["cutoff"]): r for r in rows if r["model"] == model}
        xs = [c for c in cutoffs if c in mine]
        fig.add_bar(
            name=label(model),
            x=xs,
            y=[mine[c]["brier"] for c in xs],
            marker_color=_model_color(model, k),
            customdata=[[mine[c]["n_scored"], mine[c]["auc"]] for c in xs],
            hovertemplate=label(model) + " at %{x}: Brier %{y:.4f}, AUC %{customdata[1]:.3f} "
            "(%{customdata[0]} deals)<extra></extra>",
        )
    _layout(fig, barmode="group", showlegend=True)
    fig.update_xaxes(type="category", title_text="cutoff")
    fig.update_yaxes(title_text="Brier score (lower is better)", rangemode="tozero")
    return fig


def score_calibration_chart(data: ReportData) -> go.Figure:
    """Observed win rate against mean prediction per tenth, one line per forecast, and the
    diagonal a calibrated forecast lies on; marker size grows with the deals in the tenth."""
    fig = go.Figure()
    rows = data.score_calibration.rows
    if not rows:
        return _empty(fig, NO_BACKTEST_CHART)
    fig.add_scatter(
        name="calibrated (diagonal)",
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"color": "#999", "dash": "dash", "width": 1},
        hoverinfo="skip",
    )
    for k, model in enumerate(dict.fromkeys(r["model"] for r in rows)):
        mine = [r for r in rows if r["model"] == model]
        fig.add_scatter(
            name=label(model),
            x=[r["mean_predicted"] for r in mine],
            y=[r["observed_rate"] for r in mine],
            mode="lines+markers",
            line={"color": _model_color(model, k)},
            marker={"size": [min(18, 5 + int(r["n"]) ** 0.5) for r in mine]},
            customdata=[[int(r["n"])] for r in mine],
            hovertemplate=label(model) + ": predicted %{x:.1%}, won %{y:.1%} "
            "(%{customdata[0]} deals)<extra></extra>",
        )
    _layout(fig, showlegend=True)
    fig.update_xaxes(title_text="mean predicted win probability", range=[0, 1], tickformat=".0%")
    fig.update_yaxes(title_text="observed win rate", range=[0, 1], tickformat=".0%")
    return fig


CHARTS = {
    "board": board_chart,
    "companies": companies_chart,
    "funnel": funnel_chart,
    "win_rate": win_rate_chart,
    "velocity": velocity_chart,
    "by_dimension": by_dimension_chart,
    "time_in_stage": time_in_stage_chart,
    "stalled": stalled_chart,
    "forecast": forecast_chart,
    "coverage": coverage_chart,
    "rep_activity": rep_activity_chart,
    "duplicates": duplicates_chart,
    "score_backtest": score_backtest_chart,
    "score_calibration": score_calibration_chart,
}


def chart_specs(data: ReportData) -> dict[str, Any]:
    """key -> {"data": [...], "layout": {...}}: what Plotly.newPlot takes, JSON-ready. An
    omitted figure has no chart (and no container for one)."""
    return {
        key: json.loads(pio.to_json(build(data), validate=True, engine="json"))
        for key, build in CHARTS.items()
        if not getattr(data, key).omitted
    }
