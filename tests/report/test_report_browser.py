"""The report in a real headless Chromium (Debian's ``chromium``).

Skipped when chromium is missing locally; a failure when ``CI=true`` (see conftest).
"""

from __future__ import annotations

import struct

import pytest

from tests.report.browser import VIEWPORT
from tests.report.checks import chart_problems, table_problems
from tests.report.conftest import LoadedPage, ReportWorld
from tests.report.expected import expected
from tests.report.test_report_page import empty_charts, shown_charts

pytestmark = pytest.mark.slow


def test_page_loads_with_no_console_errors_and_no_network(loaded_page: LoadedPage) -> None:
    assert loaded_page.ready == "true"  # every Plotly.newPlot promise resolved
    assert loaded_page.console_errors == []
    # the only request is the file itself: no CDN, no fonts, nothing online
    assert loaded_page.requested_urls == [loaded_page.url]


def test_every_chart_renders(loaded_page: LoadedPage, report_world: ReportWorld) -> None:
    charts = loaded_page.content["charts"]
    exp = expected(report_world.config)
    assert set(charts) == shown_charts(exp)
    for key, chart in charts.items():
        assert chart["svgs"] >= 1, f"chart {key}: no SVG drawn"
        if key in empty_charts(exp):  # drawn as a message
            assert chart["traces"] == [], f"chart {key}: {chart}"
            continue
        assert chart["traces"], f"chart {key}: no data"
        assert chart["trace_groups"] >= len(chart["traces"]), f"chart {key}: traces not drawn"
        assert chart["drawn_paths"] >= 1, f"chart {key}: no marks with any size"
        assert chart["width"] > 300 and chart["height"] > 150, f"chart {key}: {chart}"


def test_screenshot_is_saved(loaded_page: LoadedPage) -> None:
    data = loaded_page.screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == VIEWPORT[0]
    assert height > VIEWPORT[1]  # the whole page, not just the first screen
    assert len(data) > 100_000  # charts and tables, not a blank page
    print(f"screenshot: {loaded_page.screenshot}")


def test_numbers_read_off_the_page_equal_the_marts(
    loaded_page: LoadedPage, report_world: ReportWorld
) -> None:
    exp = expected(report_world.config)
    assert table_problems(loaded_page.content, exp) == []


def test_charts_plot_the_marts(loaded_page: LoadedPage, report_world: ReportWorld) -> None:
    exp = expected(report_world.config)
    assert chart_problems(loaded_page.content, exp) == []


def test_tiles_show_readable_figures(loaded_page: LoadedPage) -> None:
    kpis = loaded_page.content["kpis"]
    assert kpis["open_deals"]["t"].replace(",", "") == kpis["open_deals"]["v"]
    assert kpis["open_amount_base"]["t"].startswith("USD ")
    assert kpis["win_rate"]["t"] == f"{float(kpis['win_rate']['v']):.1%}"
