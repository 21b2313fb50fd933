"""Hostile CRM text through the real pipeline into the report, read back in headless Chromium.

Rep and deal names in a CSV export are replaced by a corpus of text that a browser or Plotly
would read as markup (HTML comment and script openers, ``</script>``, links, inline styles,
Plotly's own ``<br>``/``<sub>``/``<a>`` tags, entities, hover-template placeholders), a
right-to-left override, a 10,000-character name and a NUL. ``hub sync``'s pull and
transform and ``hub report`` run on it unchanged; the page must render every chart, show each
name as the text it is (tables whole, charts cut to ``LABEL_MAX``), make no element or link
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

from hub.generate import generate
from hub.pull import run_pull
from hub.report import write_report
from hub.transform import run_transform
from models.config import HubConfig, load_config
from tests.report.browser import VIEWPORT
from tests.report.checks import chart_problems, table_problems
from tests.report.conftest import LoadedPage, load_page
from tests.report.expected import expected
from tests.report.test_report_page import CHARTS

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


@pytest.fixture(scope="module")
def hostile_world(tmp_path_factory: pytest.TempPathFactory) -> HostileWorld:
    folder = tmp_path_factory.mktemp("hostile")
    made = generate(folder, seed=3, deals=400)
    assert made.config_path is not None
    export = made.export.out_dir
    reps = _rewrite(export / "owners.csv", "name", HOSTILE)
    assert reps == len(HOSTILE), "one rep per hostile name, so each one reaches the charts"
    with (export / "owners.csv").open(newline="", encoding="utf-8") as handle:
        owners = [row["owner_id"] for row in csv.DictReader(handle)]
    _rewrite(export / "activities.csv", "owner_email", owners)  # every rep has recent activity
    _rewrite(export / "deals.csv", "deal_name", HOSTILE)
    config = load_config(made.config_path)
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    run_transform(config)
    return HostileWorld(config, write_report(config), reps)


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


@pytest.fixture(scope="module")
def hostile_page(
    chromium_binary: str, hostile_world: HostileWorld, tmp_path_factory: pytest.TempPathFactory
) -> LoadedPage:
    import json

    page = load_page(
        chromium_binary,
        hostile_world.report,
        tmp_path_factory.mktemp("chromium-hostile"),
        {"markup": PROBE_MARKUP, "rep_chart": PROBE_REP_CHART},
    )
    page.probes = {k: json.loads(v) for k, v in page.probes.items()}
    return page


def test_every_chart_renders_with_no_error_and_no_network(hostile_page: LoadedPage) -> None:
    assert hostile_page.ready == "true"  # every Plotly.newPlot promise resolved
    assert hostile_page.console_errors == []
    assert hostile_page.requested_urls == [hostile_page.url]
    charts = hostile_page.content["charts"]
    assert set(charts) == CHARTS
    for key, chart in charts.items():
        assert chart["svgs"] >= 1 and chart["drawn_paths"] >= 1, f"chart {key}: {chart}"
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


def test_the_figures_still_equal_the_marts(
    hostile_page: LoadedPage, hostile_world: HostileWorld
) -> None:
    exp = expected(hostile_world.config)
    for stalled in exp["stalled"].values():  # a NUL reaches the DOM as U+FFFD
        stalled["deal_name"] = in_html(stalled["deal_name"])
    assert table_problems(hostile_page.content, exp) == []
    assert chart_problems(hostile_page.content, exp) == []
