"""Hostile CRM text through the real pipeline into the report, read back in headless Chromium.

Rep, deal and company names and the lead source of two CSV sources (with duplicate deals
between them, tests/report/two_sources.py) are replaced by a corpus of text that a browser or
Plotly would read as markup (HTML comment and script openers, ``</script>``, links, inline
styles, Plotly's own ``<br>``/``<sub>``/``<a>`` tags, entities, hover-template placeholders),
a right-to-left override, a 10,000-character name and a NUL. ``hub sync``'s pull and
transform and ``hub report`` run on it unchanged; the page must render every chart, show each
name as the text it is (tables whole, charts cut to ``LABEL_MAX``) in every figure (the
companies, the breakdown by lead source and the duplicates included), make no element or link
out of it, and stay within the screen.

Skipped when chromium is missing locally; a failure when ``CI=true`` (see conftest).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.synthetic.csv_export import CsvExport
from hub.report import write_report
from models.config import HubConfig
from tests.report import two_sources
from tests.report.browser import VIEWPORT
from tests.report.checks import chart_problems, table_problems
from tests.report.conftest import LoadedPage, load_page
from tests.report.expected import expected
from tests.report.test_report_page import empty_charts, shown_charts

pytestmark = pytest.mark.slow

HOSTILE = [
    "<!--<script>",
    "</script><script>document.title='owned'</script>",
    '<a href="https://evil.example/">click me</a>',
    "<b style=font-size:200px>BIG</b>",
    "one<br>two<sub>low</sub><sup>high</sup>",
    '<a href="javascript:alert(1)" target="_blank">plotly link</a>',
    "<i>it</i> &amp; &lt;b&gt; &#60;b&#62; &mu;",
    "\u202eevil override",
    "A" * 10_000,
    "nul\x00byte",
    "%{x} %{customdata[0]} %{y:,.0f}",
    "<img src=x onerror=alert(1)>",
]
LABEL_MAX = 40  # characters of a name a chart shows (hub.report.charts, docs)
NO_SHOW = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def in_html(text: str) -> str:
    """What a browser's DOM holds for ``text`` written into HTML: HTML cannot carry a NUL."""
    return text.replace("\x00", "\ufffd")


def in_chart(text: str) -> str:
    """What a chart shows for ``text``: control and bidi characters as spaces, cut to
    LABEL_MAX characters (the last an ellipsis)."""
    shown = NO_SHOW.sub(" ", text)
    return shown if len(shown) <= LABEL_MAX else shown[: LABEL_MAX - 1] + "…"


def _rewrite(path: Path, column: str, names: list[str]) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for i, row in enumerate(rows):
        row[column] = names[i % len(names)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


@dataclass(frozen=True)
class HostileWorld:
    config: HubConfig
    report: Path
    reps: int
    sync_output: str


def _make_hostile(exports: dict[str, CsvExport]) -> None:
    for made in exports.values():
        export = made.out_dir
        reps = _rewrite(export / "owners.csv", "name", HOSTILE)
        assert reps == len(HOSTILE), "one rep per hostile name, so each one reaches the charts"
        with (export / "owners.csv").open(newline="", encoding="utf-8") as handle:
            owners = [row["owner_id"] for row in csv.DictReader(handle)]
        _rewrite(export / "activities.csv", "owner_email", owners)  # every rep is recent
        _rewrite(export / "deals.csv", "deal_name", HOSTILE)
        _rewrite(export / "deals.csv", "lead_source", HOSTILE)  # the report's dimension
        _rewrite(export / "accounts.csv", "name", HOSTILE)


# hub.yml override keys no account has, which 'hub sync' warns about: rich markup and HTML
# must reach the terminal as text.
GHOST_KEYS = [
    "crm_alpha:[bold red]ghost[/]",
    'crm_beta:<a href="https://evil.example/">x</a>',
    "crm_alpha:[link=https://evil.example]y[/link] %{x}",
]


@pytest.fixture(scope="module")
def hostile_world(tmp_path_factory: pytest.TempPathFactory) -> HostileWorld:
    built = two_sources.build(
        tmp_path_factory.mktemp("hostile"),
        seed=3,
        deals=400,
        rewrite=_make_hostile,
        extra={"accounts": {"same_company": [GHOST_KEYS]}},
    )
    config = built.config
    return HostileWorld(config, write_report(config), len(HOSTILE), built.output["sync"])


# Read off the rendered page: what markup exists, what each chart label and hover says.
PROBE_MARKUP = r"""
(() => {
  const links = Array.from(document.querySelectorAll('a')).map(a =>
    a.getAttribute('href') || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '');
  const big = Array.from(document.querySelectorAll('body *')).filter(e =>
    parseFloat(getComputedStyle(e).fontSize) > 40).map(e => e.tagName);
  const styled = Array.from(document.querySelectorAll('svg tspan')).filter(t => {
    const s = getComputedStyle(t);
    return parseInt(s.fontWeight) >= 700 || s.fontStyle === 'italic' ||
           (t.getAttribute('style') || '').includes('font-size') || t.hasAttribute('dy') &&
           !t.classList.contains('line');
  }).length;
  return JSON.stringify({
    scripts: document.scripts.length,
    images: document.images.length,
    leaving_links: links.filter(h => h && !h.startsWith('#')),
    svg_links: document.querySelectorAll('svg a').length,
    elements_in_cells: document.querySelectorAll('table.figures td *').length,
    big_text: big,
    styled_chart_text: styled,
    title: document.title,
    page_width: document.documentElement.scrollWidth,
  });
})()
"""
PROBE_REP_CHART = r"""
(async () => {
  const el = document.querySelector('[data-chart="rep_activity"]');
  const ticks = Array.from(el.querySelectorAll('.ytick text')).map(t => t.textContent);
  const hovers = [];
  for (let i = 0; i < el.data[0].y.length; i++) {
    const curve = el.data.findIndex(trace => trace.x[i] > 0);  // a bar with some length
    Plotly.Fx.hover(el, [{curveNumber: curve, pointNumber: i}]);
    await new Promise(done => setTimeout(done, 100));  // Plotly throttles hover events
    const layer = el.querySelector('.hoverlayer');
    hovers.push({text: layer.textContent, links: layer.querySelectorAll('a').length,
                 tspans: layer.querySelectorAll('tspan:not(.line)').length});
  }
  Plotly.Fx.unhover(el);
  return JSON.stringify({ticks: ticks, hovers: hovers});
})()
"""


# The cross-CRM charts: tick labels, and each point's hover (companies: every bar; by
# lead source: the win-rate markers, one per value).
PROBE_CROSS_CRM_CHARTS = r"""
(async () => {
  const out = {};
  for (const [key, axis, curves] of [['companies', '.ytick text', null],
                                     ['by_dimension', '.xtick text', [1]],
                                     ['duplicates', '.xtick text', [0]]]) {
    const el = document.querySelector(`[data-chart="${key}"]`);
    const ticks = Array.from(el.querySelectorAll(axis)).map(t => t.textContent);
    const hovers = [];
    for (const curve of (curves || el.data.map((_, i) => i))) {
      const points = el.data[curve].orientation === 'h' ? el.data[curve].y : el.data[curve].x;
      for (let i = 0; i < points.length; i++) {
        Plotly.Fx.hover(el, [{curveNumber: curve, pointNumber: i}]);
        await new Promise(done => setTimeout(done, 100));  // Plotly throttles hover events
        const layer = el.querySelector('.hoverlayer');
        hovers.push({text: layer.textContent, links: layer.querySelectorAll('a').length,
                     tspans: layer.querySelectorAll('tspan:not(.line)').length});
      }
    }
    Plotly.Fx.unhover(el);
    out[key] = {ticks: ticks, hovers: hovers};
  }
  return JSON.stringify(out);
})()
"""


@pytest.fixture(scope="module")
def hostile_page(
    chromium_binary: str, hostile_world: HostileWorld, tmp_path_factory: pytest.TempPathFactory
) -> LoadedPage:
    import json

    page = load_page(
        chromium_binary,
        hostile_world.report,
        tmp_path_factory.mktemp("chromium-hostile"),
        {
            "markup": PROBE_MARKUP,
            "rep_chart": PROBE_REP_CHART,
            "cross_crm": PROBE_CROSS_CRM_CHARTS,
        },
    )
    page.probes = {k: json.loads(v) for k, v in page.probes.items()}
    return page


def test_every_chart_renders_with_no_error_and_no_network(
    hostile_page: LoadedPage, hostile_world: HostileWorld
) -> None:
    assert hostile_page.ready == "true"  # every Plotly.newPlot promise resolved
    assert hostile_page.console_errors == []
    assert hostile_page.requested_urls == [hostile_page.url]
    charts = hostile_page.content["charts"]
    exp = expected(hostile_world.config)
    assert exp["omitted"] == set()
    assert set(charts) == shown_charts(exp)
    for key, chart in charts.items():
        drawn = chart["drawn_paths"] >= 1 or key in empty_charts(exp)  # "No data: ..." message
        assert chart["svgs"] >= 1 and drawn, f"chart {key}: {chart}"
        assert chart["width"] > 300 and chart["height"] > 150, f"chart {key}: {chart}"


def test_no_name_became_markup_or_a_link(hostile_page: LoadedPage) -> None:
    markup: dict[str, Any] = hostile_page.probes["markup"]
    assert markup["scripts"] == 3  # chart data, plotly.js, the renderer: none from a name
    assert markup["images"] == 0
    assert markup["leaving_links"] == []
    assert markup["svg_links"] == 0
    assert markup["elements_in_cells"] == 0  # table cells hold text only
    assert markup["big_text"] == []
    assert markup["styled_chart_text"] == 0
    assert markup["title"].startswith("Consolidated pipeline")  # no script ran
    assert markup["page_width"] <= VIEWPORT[0]  # 10,000 characters wrap, nothing overflows


def test_tables_show_every_name_as_stored(
    hostile_page: LoadedPage, hostile_world: HostileWorld
) -> None:
    tables = hostile_page.content["tables"]
    reps = {r["rep_key"]["v"]: r["rep_name"] for r in tables["rep_activity"]}
    mart = expected(hostile_world.config)["reps"]
    assert len(reps) == hostile_world.reps  # every hostile name is on the page
    for key, cell in reps.items():
        assert cell["t"] == in_html(mart[key]["rep_name"]).strip(), key
        assert cell["v"] == in_html(mart[key]["rep_name"]), key
    stalled = tables["stalled"]
    assert stalled, "the world has stalled deals, whose names are hostile"
    for row in stalled:
        assert row["deal_name"]["t"] in {in_html(n).strip() for n in HOSTILE}


def test_chart_labels_and_hovers_show_names_as_text(
    hostile_page: LoadedPage, hostile_world: HostileWorld
) -> None:
    chart = hostile_page.probes["rep_chart"]
    rows = hostile_page.content["tables"]["rep_activity"]
    names = [in_chart(r["rep_name"]["v"].replace("\ufffd", "\x00")) for r in reversed(rows)]
    assert sorted(chart["ticks"]) == sorted(names)
    assert {in_chart(n) for n in HOSTILE} == set(names)
    assert len(chart["hovers"]) == len(names)
    for hover, name in zip(chart["hovers"], names, strict=True):
        assert hover["text"].startswith(f"{name}: "), (hover, name)
        assert hover["links"] == 0 and hover["tspans"] == 0, hover


SHOWN = {in_html(n) for n in HOSTILE}  # what the DOM holds for each hostile name


def test_cross_crm_tables_show_names_and_values_as_stored(hostile_page: LoadedPage) -> None:
    tables = hostile_page.content["tables"]
    assert tables["companies"], "the world has open deals, of companies with hostile names"
    for row in tables["companies"]:
        assert row["company_name"]["v"] in SHOWN
        assert row["company_name"]["t"] == row["company_name"]["v"].strip()
    values = {row["dimension_value"]["v"]: row["dimension_value"] for row in tables["by_dimension"]}
    assert set(values) == SHOWN | {"*"}  # every hostile lead source, and all values
    for value, cell in values.items():
        assert cell["t"] == ("all values" if value == "*" else value.strip())
    assert tables["duplicates"], "the two sources share migrated deals"
    for row in tables["duplicates"]:
        for column in ("name", "duplicate_of_name"):
            assert row[column]["v"] in SHOWN and row[column]["t"] == row[column]["v"].strip()


def test_cross_crm_charts_show_names_as_text(hostile_page: LoadedPage) -> None:
    charts = hostile_page.probes["cross_crm"]
    tables = hostile_page.content["tables"]

    def shown(cell: dict[str, Any]) -> str:
        return in_chart(cell["v"].replace("\ufffd", "\x00"))

    companies = [shown(r["company_name"]) for r in tables["companies"]]
    assert sorted(charts["companies"]["ticks"]) == sorted(companies)
    assert sorted(h["text"].split("open ")[0] for h in charts["companies"]["hovers"]) == sorted(
        companies
    )
    values = [shown(r["dimension_value"]) for r in tables["by_dimension"]]
    values = [v for v in values if v != "*"]  # the all-values row is the dashed line
    assert charts["by_dimension"]["ticks"] == values  # the table's order
    for hover, value in zip(charts["by_dimension"]["hovers"], values, strict=True):
        assert hover["text"].startswith(f"{value}: win rate "), (hover, value)
    assert charts["duplicates"]["ticks"] == ["crm_alpha → crm_beta", "crm_beta → crm_alpha"]
    for chart in charts.values():
        for hover in chart["hovers"]:
            assert hover["links"] == 0 and hover["tspans"] == 0, hover


def test_the_figures_still_equal_the_marts(
    hostile_page: LoadedPage, hostile_world: HostileWorld
) -> None:
    exp = expected(hostile_world.config)
    # a NUL reaches the DOM as U+FFFD
    for stalled in exp["stalled"].values():
        stalled["deal_name"] = in_html(stalled["deal_name"])
    for company in exp["companies"].values():
        company["company_name"] = in_html(company["company_name"])
    for pair in exp["duplicates"].values():
        pair["name"] = in_html(pair["name"])
        pair["duplicate_of_name"] = in_html(pair["duplicate_of_name"])
    exp["by_dimension"] = {
        None if k is None else in_html(k): v for k, v in exp["by_dimension"].items()
    }
    assert table_problems(hostile_page.content, exp) == []
    assert chart_problems(hostile_page.content, exp) == []


def test_sync_prints_resolution_warnings_as_text(hostile_world: HostileWorld) -> None:
    lines = hostile_world.sync_output.splitlines()
    warnings = [line for line in lines if line.startswith("warning: hub.yml accounts.")]
    assert warnings == [
        f"warning: hub.yml accounts.same_company: no live account {key!r} in the warehouse "
        "(not pulled yet, deleted, or misspelt); the entry ignores it"
        for key in GHOST_KEYS
    ], hostile_world.sync_output
