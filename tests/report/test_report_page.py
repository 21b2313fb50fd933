"""``hub report`` and ``hub demo`` without a browser: the file, its numbers, the command."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hub.report import write_report
from hub.warehouse import Warehouse
from models.config import load_config
from tests.report.checks import chart_problems, table_problems
from tests.report.conftest import ReportWorld
from tests.report.expected import expected
from tests.report.page_reader import read_html

pytestmark = pytest.mark.slow

CHARTS = {
    "board",
    "companies",
    "funnel",
    "win_rate",
    "velocity",
    "by_dimension",
    "time_in_stage",
    "stalled",
    "forecast",
    "coverage",
    "rep_activity",
    "duplicates",
    "score_backtest",
    "score_calibration",
}


def shown_charts(exp: dict) -> set[str]:
    """The charts a page has: every figure's but those left out (expected()["omitted"])."""
    return CHARTS - exp["omitted"]


def empty_charts(exp: dict) -> set[str]:
    """Charts drawn as a message ("No data: ..."), without data: the duplicates chart when no
    deal is shared, the coverage chart without quotas, the score's two without a backtest."""
    return {
        k for k in ("duplicates", "coverage", "score_backtest", "score_calibration") if not exp[k]
    }


class _Refs(HTMLParser):
    """Every attribute that could make the browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action", "poster") and value is not None:
                self.refs.append((tag, name, value))


def test_demo_writes_the_report_and_says_where_it_and_the_warehouse_are(
    report_world: ReportWorld,
) -> None:
    output = report_world.demo_output
    assert report_world.report_path.is_file()
    assert f"report:    {report_world.report_path}" in output
    assert f"warehouse: {Warehouse(report_world.config).describe()}" in output
    names = {s.name for s in report_world.config.sources}
    assert names == {"csv_export", "hubspot_demo", "pipedrive_demo", "salesforce_demo"}


def test_the_report_is_one_self_contained_file(report_world: ReportWorld) -> None:
    text = report_world.report_path.read_text(encoding="utf-8")
    refs = _Refs()
    refs.feed(text)
    # nothing to fetch: in-page anchors only, no external script, style, font, image or frame
    assert [r for r in refs.refs if not r[2].startswith("#")] == []
    assert not {"iframe", "link", "img", "object", "embed"} & set(refs.tags)
    assert "@import" not in text and "url(" not in text.split("<script", 1)[0]
    # plotly.js itself is inlined (a few MB), once
    assert text.count("<script") == 3
    assert re.search(r"plotly\.js v?\d+\.\d+\.\d+", text)
    assert len(text) > 3_000_000
    assert '<meta charset="utf-8">' in text


def test_every_figure_and_chart_is_on_the_page(report_world: ReportWorld) -> None:
    content = read_html(report_world.report_path.read_text(encoding="utf-8"))
    exp = expected(report_world.config)
    assert content["title"].startswith("Consolidated pipeline")
    # the demo's hub.yml lists dimensions and its CRMs hold migrated copies: nothing omitted
    assert exp["omitted"] == set()
    assert not content["sections"]["by_dimension"].get("omitted")
    assert exp["duplicates"], "the demo's CRMs share migrated deals"
    assert set(content["charts"]) == shown_charts(exp)
    assert set(content["tables"]) == shown_charts(exp)  # each chart has its figures as a table
    for key, chart in content["charts"].items():
        assert bool(chart["traces"]) != (key in empty_charts(exp)), f"chart {key}"
    assert content["tables"]["stalled"], "the demo world has stalled deals to list"


def test_the_numbers_in_the_file_equal_the_marts(report_world: ReportWorld) -> None:
    content = read_html(report_world.report_path.read_text(encoding="utf-8"))
    exp = expected(report_world.config)
    assert table_problems(content, exp) == []
    assert chart_problems(content, exp) == []


def test_the_comparison_catches_a_wrong_number(report_world: ReportWorld) -> None:
    """The checks above are not vacuous: one changed figure is reported."""
    text = report_world.report_path.read_text(encoding="utf-8")
    exp = expected(report_world.config)
    won = exp["kpis"]["won_deals"]
    wrong = text.replace(
        f'data-metric="won_deals" data-value="{won}"',
        f'data-metric="won_deals" data-value="{won + 1}"',
    )
    assert wrong != text
    assert any("won_deals" in p for p in table_problems(read_html(wrong), exp))
    row = re.search(r'(<td data-key="reached_count" data-value=")(\d+)"', text)
    assert row
    wrong = text.replace(row.group(0), f'{row.group(1)}{int(row.group(2)) + 7}"', 1)
    assert any("funnel" in p for p in table_problems(read_html(wrong), exp))


def test_shown_text_agrees_with_the_raw_values(report_world: ReportWorld) -> None:
    content = read_html(report_world.report_path.read_text(encoding="utf-8"))
    checked = 0
    for figure, rows in content["tables"].items():
        for row in rows:
            for key, cell in row.items():
                if cell["v"] is None:
                    continue
                if key in ("deals", "reached_count", "open_count", "activities", "won_count"):
                    assert cell["t"].replace(",", "") == cell["v"], (figure, key, cell)
                    checked += 1
                elif key in ("win_rate", "next_step_conversion", "cumulative_conversion"):
                    assert cell["t"] == f"{float(cell['v']):.1%}", (figure, key, cell)
                    checked += 1
    assert checked > 50
    assert content["kpis"]["open_deals"]["t"].replace(",", "") == content["kpis"]["open_deals"]["v"]


def test_quarter_periods(report_world: ReportWorld, tmp_path: Path) -> None:
    path = write_report(report_world.config, tmp_path / "q.html", period="quarter")
    content = read_html(path.read_text(encoding="utf-8"))
    exp = expected(report_world.config, period="quarter")
    assert table_problems(content, exp) == []
    assert chart_problems(content, exp) == []
    assert all(
        re.fullmatch(r"\d{4} Q[1-4]", r["period_start"]["t"]) for r in content["tables"]["win_rate"]
    )


def test_cli_report(report_world: ReportWorld, cli, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "pipeline.html"
    result = cli("report", "--config", report_world.config_path, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and str(out) in result.output.replace("\n", "")
    assert out.stat().st_mode & 0o044  # readable by others: a report is for sharing
    bad = cli("report", "--config", report_world.config_path, "--period", "week")
    assert bad.exit_code == 2
    assert "month or quarter" in bad.output


def test_cli_report_default_path(report_world: ReportWorld, cli, tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "p"
    shutil.copytree(report_world.out, project, ignore=shutil.ignore_patterns("report.html"))
    result = cli("report", "--config", project / "hub.yml")
    assert result.exit_code == 0, result.output
    assert (project / ".hub" / "report.html").is_file()


def test_report_before_any_sync_says_what_to_do(hub_dir: Path, cli) -> None:
    config = hub_dir / "hub.yml"
    result = cli("report", "--config", config)
    assert result.exit_code == 1
    assert "hub sync" in result.output
    # a warehouse without marts (e.g. pulled, never transformed)
    with Warehouse(load_config(config)).connect() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS analytics")
    result = cli("report", "--config", config)
    assert result.exit_code == 1
    assert "analytics.deals" in result.output and "hub sync" in result.output


# ----- issue #14 item 11: both funnels, "no data", the demo's quotas -------------------------


def test_the_funnel_shows_both_orders_and_says_which_is_which(report_world: ReportWorld) -> None:
    content = read_html(report_world.report_path.read_text(encoding="utf-8"))
    exp = expected(report_world.config)
    modes = {r["mode"]["v"] for r in content["tables"]["funnel"]}
    assert modes == {"any_order", "strict_order"}
    names = [t["name"] for t in content["charts"]["funnel"]["traces"]]
    assert names == [
        "any order: in the stage or any later one",
        "strict order: in the stage itself",
    ]
    section = report_world.report_path.read_text(encoding="utf-8").split('id="funnel"')[1]
    assert "Any order:" in section[:2000] and "Strict order:" in section[:2000]
    # The demo's deals skip stages, so the two counts differ somewhere: both are needed.
    assert any(
        exp["funnel"][("any_order", s)]["reached_count"]
        != exp["funnel"][("strict_order", s)]["reached_count"]
        for mode, s in exp["funnel"]
        if mode == "any_order" and ("strict_order", s) in exp["funnel"]
    )


def test_the_demo_declares_quotas_so_coverage_has_rows(report_world: ReportWorld) -> None:
    import csv

    content = read_html(report_world.report_path.read_text(encoding="utf-8"))
    assert report_world.config.quotas_path
    with report_world.config.resolve_path(report_world.config.quotas_path).open() as handle:
        quotas = {
            row["period_start"]: float(row["quota"])
            for row in csv.DictReader(handle)
            if row["period_type"] == "month" and not row["owner_email"]
        }
    rows = content["tables"]["coverage"]
    assert len(rows) == len(quotas) >= 3
    assert {r["period_start"]["v"]: float(r["quota_base"]["v"]) for r in rows} == quotas
    # open pipeline / quota left, recomputed from the page's own cells
    for r in rows:
        left = float(r["quota_base"]["v"]) - float(r["won_base"]["v"])
        if left > 0:
            assert (
                abs(float(r["coverage"]["v"]) - float(r["open_pipeline_base"]["v"]) / left) < 1e-6
            )
    assert any(float(r["coverage"]["v"] or 0) > 0 for r in rows)
    assert content["charts"]["coverage"]["traces"]
    assert 'href="#coverage"' in report_world.report_path.read_text(encoding="utf-8")


def test_every_empty_chart_says_no_data(report_world: ReportWorld) -> None:
    from hub.report import load_report_data
    from hub.report.charts import chart_specs

    data = load_report_data(report_world.config)
    for figure in data.figures:
        figure.rows = []
    specs = chart_specs(data)
    assert set(specs) == CHARTS
    for key, spec in specs.items():
        assert spec["data"] == [], key
        texts = [a["text"] for a in spec["layout"].get("annotations", [])]
        assert len(texts) == 1 and texts[0].startswith("No data: "), (key, texts)
