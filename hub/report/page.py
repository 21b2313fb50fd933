"""The report page: one self-contained HTML file (plotly.js inlined; no network at all).

Every figure is also written as a table whose cells carry the raw value (``data-value``), so the
numbers can be read back off the page and compared with the marts.

CRM text is data, never markup: every string goes into HTML through :func:`escape`, into the
charts' JSON through :func:`script_json` and into Plotly through ``charts.label``.
"""

from __future__ import annotations

import html
import json
from datetime import date, datetime
from typing import Any

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from hub.report.charts import chart_specs, period_label
from hub.report.data import ALL, Column, Figure, ReportData

CSS = """
:root { --ink:#1f2933; --muted:#5f6b7a; --line:#e3e7ee; --bg:#f6f8fb; --card:#fff;
        --accent:#2f6fb3; --won:#2e7d32; --lost:#9e3b3b; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:var(--ink); color:#fff; padding:18px 28px 14px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header .meta { color:#c9d2dd; }
header .sources { margin-top:10px; display:flex; flex-wrap:wrap; gap:8px; }
.chip { display:inline-flex; gap:6px; align-items:center; padding:3px 10px; border-radius:12px;
        background:rgba(255,255,255,.12); font-size:13px; }
.chip i { width:10px; height:10px; border-radius:50%; display:inline-block; }
nav { position:sticky; top:0; z-index:10; background:#fff; border-bottom:1px solid var(--line);
      padding:8px 28px; display:flex; flex-wrap:wrap; gap:18px; font-size:13px; }
nav a { color:var(--accent); text-decoration:none; }
main { max-width:1360px; margin:0 auto; padding:18px 28px 40px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px;
          padding:16px 18px; margin:0 0 18px; }
section h2 { margin:0 0 2px; font-size:17px; }
.note { color:var(--muted); font-size:12.5px; margin:0 0 10px; }
.row { display:grid; grid-template-columns:repeat(auto-fit,minmax(560px,1fr)); gap:18px; }
.row > section { margin:0; }
.row + section, section + .row, .row + .row { margin-top:18px; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(128px,1fr)); gap:10px;
        margin-bottom:18px; }
.kpi { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.kpi .label { color:var(--muted); font-size:12px; }
.kpi .value { font-size:18px; font-weight:600; white-space:nowrap; }
.board { display:grid; grid-auto-flow:column; grid-auto-columns:minmax(150px,1fr); gap:10px;
         overflow-x:auto; padding-bottom:6px; }
.stage { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px; }
.stage h3 { margin:0; font-size:13px; text-transform:none; }
.stage .total { color:var(--muted); font-size:12px; margin-bottom:6px; }
.stage.won h3 { color:var(--won); } .stage.lost h3 { color:var(--lost); }
.card { background:#fff; border:1px solid var(--line); border-left:4px solid var(--c, #888);
        border-radius:4px; padding:5px 8px; margin-top:6px; font-size:12.5px; }
.card b { display:block; font-weight:600; }
.card span { color:var(--muted); }
.chart { width:100%; min-height:200px; }
table.figures { border-collapse:collapse; width:100%; font-size:12.5px; margin-top:8px; }
table.figures th { text-align:left; color:var(--muted); font-weight:600;
                   border-bottom:2px solid var(--line); padding:4px 6px; vertical-align:bottom; }
table.figures td { border-bottom:1px solid var(--line); padding:4px 6px; vertical-align:top;
                   overflow-wrap:anywhere; }
table.figures td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.figures tr.all td { font-weight:600; background:#fafbfd; }
.wide { overflow-x:auto; }
.scroll { max-height:440px; overflow:auto; }
table.figures td[data-key=reason] { min-width:300px; }
table.figures td[data-key=deal_name] { min-width:170px; }
table.figures td[data-key=deal_key], table.figures td[data-key=rep_key],
table.figures td[data-key=company_key], table.figures td[data-key=duplicate_of] {
    color:var(--muted); font-size:11.5px; }
table.figures td[data-key=company_name], table.figures td[data-key=name],
table.figures td[data-key=duplicate_of_name] { min-width:170px; }
section[data-omitted] .note { margin:0; }
details summary { cursor:pointer; color:var(--accent); font-size:13px; margin-top:6px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:0 0 24px; }
"""

RENDER_JS = """
(function () {
  var specs = JSON.parse(document.getElementById('hub-chart-specs').textContent);
  var config = {displaylogo: false, responsive: true,
                modeBarButtonsToRemove: ['lasso2d', 'select2d', 'autoScale2d']};
  var jobs = Object.keys(specs).map(function (key) {
    var el = document.querySelector('[data-chart="' + key + '"]');
    if (!el) { console.error('report: no container for chart ' + key); return null; }
    return Plotly.newPlot(el, specs[key].data, specs[key].layout, config);
  });
  Promise.all(jobs).then(function () {
    document.body.setAttribute('data-charts-ready', 'true');
  }, function (err) {
    console.error('report: a chart failed to render', err);
    document.body.setAttribute('data-charts-ready', 'error');
  });
})();
"""


# ----- formatting --------------------------------------------------------------------------------


def escape(text: str, quote: bool = True) -> str:
    """``text`` as HTML text or attribute value. A NUL cannot be written in HTML at all
    (browsers drop it from text, replace it in attributes), so it becomes U+FFFD in both."""
    return html.escape(text, quote=quote).replace("\x00", "\ufffd")


def script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: with ``<`` written as ``\\u003c`` no name can close the
    element (``</script>``) or put the parser in its escaped states (``<!--<script>``, which
    silently swallowed the rest of the page); ``>`` and ``&`` likewise. Non-ASCII is escaped
    by ``json.dumps`` already."""
    text = json.dumps(value, separators=(",", ":"))
    for char in "<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def raw(value: Any) -> str | None:
    """The machine-readable value of a cell (None: no attribute, i.e. NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def compact_money(value: float | None, currency: str) -> str:
    if value is None:
        return "–"
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{currency} {value / threshold:,.1f}{suffix}"
    return f"{currency} {value:,.0f}"


NUMBER_FORMATS = {
    "int": ",",
    "money": ",.0f",
    "rate": ".1%",
    "days": ",.1f",
    "number": ",.2f",
    "score": ".4f",  # Brier, log loss, AUC: forecasts differ in the third decimal
}
# Columns whose '*' is a rollup row ("all ..."); elsewhere '*' is text like any other.
ALL_TEXT = {
    "source_name": "all sources",
    "canonical_stage": "all stages",
    "dimension_value": "all values",
}


def show(value: Any, kind: str, *, period: str = "month", key: str = "") -> str:
    if value is None:
        return {"period_start": "no date", "dimension_value": "(no value)"}.get(key, "–")
    if value == ALL and kind == "text" and key in ALL_TEXT:
        return ALL_TEXT[key]
    if kind in NUMBER_FORMATS:
        return format(int(value) if kind == "int" else value, NUMBER_FORMATS[kind])
    if kind == "bool":
        return "yes" if value else ""
    if kind == "decile":  # a tenth of the 0-1 range: 0 -> "0-10%"
        return f"{10 * int(value)}-{10 * int(value) + 10}%"
    if kind == "list":  # a mart's comma-separated list
        return ", ".join(str(value).split(","))
    if kind == "date" and key == "period_start":
        return period_label(value, period)
    if kind == "date":
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return str(value)


def _attr(name: str, value: str | None) -> str:
    return "" if value is None else f' {name}="{escape(value, quote=True)}"'


def figure_table(
    figure: Figure, data: ReportData, *, collapsed: bool = True, scroll: bool = False
) -> str:
    head = "".join(f'<th data-key="{escape(c.key)}">{escape(c.label)}</th>' for c in figure.columns)
    body = []
    for row in figure.rows:
        is_all = any(row.get(k) == ALL for k in ALL_TEXT)
        cells = "".join(_cell(c, row.get(c.key), data) for c in figure.columns)
        body.append(f"<tr{' class=all' if is_all else ''}>{cells}</tr>")
    table = (
        f'<table class="figures" data-figure="{escape(figure.key)}" '
        f'data-rows="{len(figure.rows)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    if not figure.rows:
        table += '<p class="note">No data: nothing in the mart yet.</p>'
    table = f'<div class="{"scroll" if scroll else "wide"}">{table}</div>'
    if collapsed:
        table = (
            f"<details><summary>the figures ({len(figure.rows)} rows)</summary>{table}</details>"
        )
    return table


def _cell(column: Column, value: Any, data: ReportData) -> str:
    numeric = column.kind in NUMBER_FORMATS
    return (
        f'<td data-key="{escape(column.key)}"{_attr("data-value", raw(value))}'
        f"{' class=num' if numeric else ''}>"
        f"{escape(show(value, column.kind, period=data.period, key=column.key))}</td>"
    )


# ----- blocks ------------------------------------------------------------------------------------


def _header(data: ReportData, colors: dict[str, str], warehouse: str) -> str:
    as_of = data.as_of.strftime("%Y-%m-%d %H:%M UTC") if data.as_of else "n/a"
    chips = "".join(
        f'<span class="chip" data-source="{escape(s.name)}" data-crm="{escape(s.crm)}" '
        f'data-deals="{s.deals}"{_attr("data-duplicates", raw(s.duplicates))}>'
        f'<i style="background:{colors.get(s.name, "#888")}"></i>'
        f"{escape(s.name)} <small>({escape(s.crm)}, {s.deals:,} deals"
        f"{_copies(s.duplicates)})</small></span>"
        for s in data.sources
    )
    return (
        f'<header><h1>Consolidated pipeline</h1><div class="meta">as of '
        f'<time data-as-of="{escape(raw(data.as_of) or "")}">{as_of}</time> · '
        f"{len(data.sources)} source{'s' if len(data.sources) != 1 else ''} · amounts in "
        f"{escape(data.base_currency)} · {escape(warehouse)}</div>"
        f'<div class="sources">{chips}</div></header>'
    )


def _copies(duplicates: int | None) -> str:
    if not duplicates:
        return ""
    return f", {duplicates:,} duplicate cop{'y' if duplicates == 1 else 'ies'} left out"


def _kpis(data: ReportData) -> str:
    tiles = []
    for row in data.kpis.rows:
        value, kind = row["value"], row["kind"]
        text = (
            compact_money(value, data.base_currency)
            if kind == "money"
            else show(value, kind) + (" d" if kind == "days" and value is not None else "")
        )
        tiles.append(
            f'<div class="kpi" data-metric="{escape(row["metric"])}"'
            f'{_attr("data-value", raw(value))}><div class="label">{escape(row["label"])}</div>'
            f'<div class="value">{escape(text)}</div></div>'
        )
    return f'<div class="kpis" data-figure="kpis">{"".join(tiles)}</div>'


def _board(data: ReportData, colors: dict[str, str]) -> str:
    columns = []
    for stage in data.stages:
        rows = [r for r in data.board.rows if r["canonical_stage"] == stage]
        outcome = data.stage_outcomes.get(stage)
        deals = sum(r["deals"] for r in rows)
        amounts = [r["amount_base"] for r in rows if r["amount_base"] is not None]
        total = sum(amounts) if amounts else None
        cards = "".join(
            f'<div class="card" style="--c:{colors.get(r["source_name"], "#888")}" '
            f'data-stage="{escape(stage)}" data-source="{escape(r["source_name"])}" '
            f'data-deals="{r["deals"]}"{_attr("data-amount", raw(r["amount_base"]))}>'
            f"<b>{escape(r['source_name'])}</b><span>{r['deals']:,} deals · "
            f"{escape(compact_money(r['amount_base'], data.base_currency))}</span></div>"
            for r in rows
        )
        label = stage + (" (closed by as_of)" if outcome else "")
        columns.append(
            f'<div class="stage{" " + outcome if outcome else ""}" data-stage="{escape(stage)}" '
            f'data-deals="{deals}"{_attr("data-amount", raw(total))}>'
            f'<h3>{escape(label)}</h3><div class="total">{deals:,} deals · '
            f"{escape(compact_money(total, data.base_currency))}</div>{cards}</div>"
        )
    return f'<div class="board" data-board>{"".join(columns)}</div>'


def _section(
    figure: Figure,
    data: ReportData,
    *,
    intro: str = "",
    title: str | None = None,
    more_note: str = "",
    collapsed: bool = True,
    scroll: bool = False,
) -> str:
    """A figure's section: its title and note, ``intro``, its chart, then its table; an
    omitted figure is its title and the note that says why."""
    key = figure.key
    facts = "".join(_attr(f"data-fact-{name}", raw(v)) for name, v in figure.facts.items())
    omitted = " data-omitted" if figure.omitted else ""
    head = f'<section id="{key}"{omitted}{facts}><h2>{escape(title or figure.title)}</h2>'
    if figure.omitted:
        return f'{head}<p class="note">{escape(figure.note)}</p></section>'
    return (
        f'{head}<p class="note">{escape(figure.note + more_note)}</p>{intro}'
        f'<div class="chart" id="chart-{key}" data-chart="{key}"></div>'
        f"{figure_table(figure, data, collapsed=collapsed, scroll=scroll)}</section>"
    )


def _row(*sections: str) -> str:
    return f'<div class="row">{"".join(sections)}</div>'


def render_page(data: ReportData, *, warehouse: str) -> str:
    from hub.report.charts import source_colors

    colors = source_colors(data)
    specs = script_json(chart_specs(data))
    nav = "".join(
        f'<a href="#{k}">{escape(t)}</a>'
        for k, t in [
            ("board", "Board"),
            ("companies", "Companies"),
            ("funnel", "Funnel"),
            ("win_rate", "Win rate"),
            ("velocity", "Velocity"),
            ("by_dimension", data.by_dimension.title),
            ("time_in_stage", "Time in stage"),
            ("stalled", "Stalled"),
            ("forecast", "Forecast"),
            ("coverage", "Coverage"),
            ("rep_activity", "Rep activity"),
            ("duplicates", "Duplicates"),
            ("score_backtest", "Deal score"),
        ]
    )
    board_intro = (
        _board(data, colors) + '<h3 style="font-size:14px;margin:16px 0 0">'
        "Open pipeline by stage and source (bar labels: deals)</h3>"
    )
    stalled_title = f"{data.stalled.title} ({len(data.stalled.rows):,})"
    duplicates = data.duplicates
    duplicates_title = (
        duplicates.title if duplicates.omitted else f"{duplicates.title} ({len(duplicates.rows):,})"
    )
    sections = [
        _section(data.board, data, intro=board_intro),
        _section(data.companies, data, collapsed=False),
        _row(_section(data.funnel, data, collapsed=False), _section(data.time_in_stage, data)),
        _row(
            _section(data.win_rate, data),
            _section(data.velocity, data, more_note=" Pale bar: the period is not over yet."),
        ),
        _section(data.by_dimension, data, collapsed=False),
        _section(data.stalled, data, title=stalled_title, collapsed=False, scroll=True),
        _row(_section(data.forecast, data), _section(data.coverage, data)),
        _section(data.rep_activity, data),
        _section(duplicates, data, title=duplicates_title, scroll=True),
        _row(
            _section(data.score_backtest, data, collapsed=False),
            _section(data.score_calibration, data),
        ),
    ]
    title = f"Consolidated pipeline · as of {raw(data.as_of) or 'n/a'}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="crm-sync-hub hub report">'
        f"<style>{CSS}</style></head>"
        f'<body data-charts-ready="false" data-period="{data.period}">'
        + _header(data, colors, warehouse)
        + f"<nav>{nav}</nav><main>"
        + "<noscript><p>The charts need JavaScript; every figure is also in the tables."
        "</p></noscript>"
        + _kpis(data)
        + "".join(sections)
        + "</main><footer>Every number comes from the dbt marts in schema analytics "
        "(definitions: docs/metrics.md). Charts: plotly.js "
        + escape(get_plotlyjs_version())
        + " (MIT), inlined; this file needs no network."
        + "</footer>"
        + f'<script type="application/json" id="hub-chart-specs">{specs}</script>'
        + f"<script>{get_plotlyjs()}</script>"
        + f"<script>{RENDER_JS}</script>"
        + "</body></html>\n"
    )
