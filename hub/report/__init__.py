"""``hub report``: the consolidated pipeline as one self-contained HTML page.

Reads the marts (schema ``analytics``), draws them with Plotly (plotly.js inlined, so the file
works offline) and writes each figure's numbers into the page as tables with raw values.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hub.report.data import Period, ReportData, load_report_data
from hub.report.page import render_page
from hub.warehouse import Warehouse
from models.config import HubConfig

__all__ = ["ReportData", "default_report_path", "load_report_data", "render_report", "write_report"]


def default_report_path(config: HubConfig) -> Path:
    return config.hub_dir / "report.html"


def render_report(
    config: HubConfig, *, period: Period = "month", dimension: str | None = None
) -> str:
    data = load_report_data(config, period=period, dimension=dimension)
    return render_page(data, warehouse=Warehouse(config).describe())


def write_report(
    config: HubConfig,
    out: Path | None = None,
    *,
    period: Period = "month",
    dimension: str | None = None,
) -> Path:
    """Write the report (default ``.hub/report.html`` beside hub.yml); returns its path.
    ``dimension``: which of hub.yml's dimensions the "By <dimension>" figure shows (default
    the first)."""
    path = (out or default_report_path(config)).resolve()
    page = render_report(config, period=period, dimension=dimension)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a report is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
