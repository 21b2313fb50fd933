"""One real warehouse per session, built by ``hub demo`` itself (CSV export + three CRM
sandboxes -> hub sync -> dbt marts -> report), and one headless Chromium that loads the page."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from models.config import HubConfig, load_config
from tests.report.browser import Chromium, find_chromium
from tests.report.page_reader import EXTRACT_JS

DEMO_DEALS = 400
DEMO_SEED = 3


@dataclass(frozen=True)
class ReportWorld:
    out: Path
    config_path: Path
    config: HubConfig
    report_path: Path
    demo_output: str


@pytest.fixture(scope="session")
def report_world(tmp_path_factory: pytest.TempPathFactory) -> ReportWorld:
    from hub.demo import run_demo

    out = tmp_path_factory.mktemp("report_demo")
    buffer = io.StringIO()
    console = Console(file=buffer, width=160, force_terminal=False)
    config_path = run_demo(
        out, deals=DEMO_DEALS, seed=DEMO_SEED, console=console, err_console=console
    )
    return ReportWorld(
        out, config_path, load_config(config_path), out / "report.html", buffer.getvalue()
    )


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    binary = find_chromium()
    if binary:
        return binary
    if _ci():
        pytest.fail(
            "chromium is not installed but CI=true requires the browser tests; "
            "run .ci/install-chromium.sh (as root) before the tests"
        )
    pytest.skip(
        "chromium is not installed (Debian package 'chromium'); "
        "run .ci/install-chromium.sh as root to run the browser tests"
    )


@dataclass
class LoadedPage:
    url: str
    ready: str
    console_errors: list[str]
    requested_urls: list[str]
    content: dict[str, Any]  # what page_reader.EXTRACT_JS read off the rendered page
    screenshot: Path
    probes: dict[str, Any]  # the value of each extra expression asked for, by name


def load_page(
    binary: str, page: Path, folder: Path, probes: dict[str, str] | None = None
) -> LoadedPage:
    """Open ``page`` in a fresh headless Chromium, wait for every chart, read it back."""
    import json

    browser = Chromium(binary, folder / "profile", folder / "chromium.log")
    try:
        browser.open_page()
        url = page.resolve().as_uri()
        browser.navigate(url)
        ready = browser.wait_until(
            "document.body && document.body.getAttribute('data-charts-ready') !== 'false' "
            "&& document.body.getAttribute('data-charts-ready')",
            timeout=90,
        )
        content = json.loads(browser.evaluate(EXTRACT_JS))
        values = {name: browser.evaluate(js) for name, js in (probes or {}).items()}
        screenshot = browser.screenshot(folder / "report.png")
        return LoadedPage(
            url,
            ready,
            browser.console_errors(),
            browser.requested_urls(),
            content,
            screenshot,
            values,
        )
    finally:
        browser.close()


@pytest.fixture(scope="session")
def loaded_page(
    chromium_binary: str, report_world: ReportWorld, tmp_path_factory: pytest.TempPathFactory
) -> LoadedPage:  # chromium_binary first: skip (or fail in CI) before building the warehouse
    return load_page(chromium_binary, report_world.report_path, tmp_path_factory.mktemp("chromium"))
