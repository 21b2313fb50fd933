"""Fixtures for the Pipedrive tests: a FakePipedrive over real HTTP, real dlt, real DuckDB."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import requests

import connectors.http
from connectors.base import SourceContext
from connectors.http import RequestStats
from connectors.pipedrive import CONNECTOR
from connectors.pipedrive.sandbox import FakePipedrive
from connectors.sandbox import SandboxRequest, SandboxResponse
from models.config import HubConfig, parse_config

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
SOURCE = "pd"


class VirtualTime:
    """Sleeps return at once but move the client's clock on, so pacers see time pass."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """Retries and pacing sleep through connectors.http.clock; tests skip the waiting."""
    virtual = VirtualTime()
    monkeypatch.setattr(connectors.http.clock, "sleep", virtual.sleep)
    monkeypatch.setattr(connectors.http.clock, "now", virtual.now)
    return virtual


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int
    body: Any


@dataclass
class Hub:
    """One sandbox plus the hub-side plumbing to sync it the way the orchestrator does."""

    sandbox: FakePipedrive
    root: Path
    options: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    recorded: list[Recorded] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.sandbox.base_url

    def config(self, **options: Any) -> HubConfig:
        opts = {
            "base_url": self.url,
            "oauth_token_url": f"{self.url}/oauth/token",
            **self.options,
            **options,
        }
        return parse_config(
            {
                "sources": [
                    {
                        "name": SOURCE,
                        "kind": "pipedrive",
                        "credentials": self.credentials or self.sandbox.credentials(),
                        "options": opts,
                    }
                ],
            }
        )

    def context(self, full_refresh: bool = False, **options: Any) -> SourceContext:
        config = self.config(**options)
        return CONNECTOR.context(
            config,
            config.source(SOURCE),
            stats=RequestStats(),
            run_started_at=datetime.now(UTC),
            full_refresh=full_refresh,
        )

    def sync(self, full_refresh: bool = False, **options: Any) -> RequestStats:
        ctx = self.context(full_refresh, **options)
        pipeline = dlt.pipeline(
            pipeline_name=f"hub_{SOURCE}",
            destination=dlt.destinations.duckdb(str(self.root / "hub.duckdb")),
            dataset_name=f"src_{SOURCE}",
            pipelines_dir=str(self.root / "pipelines"),
        )
        pipeline.run(CONNECTOR.build_source(ctx))
        self.last_ctx = ctx  # its stop_reason says whether the budget ended the run early
        return ctx.stats

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.root / "hub.duckdb"), read_only=True) as con:
            con.execute(f"SET schema = 'src_{SOURCE}'")
            return con.execute(sql).fetchall()

    def rows(self, table: str, columns: list[str]) -> list[dict[str, Any]]:
        result = self.query(f"SELECT {', '.join(columns)} FROM {table}")
        return [dict(zip(columns, r, strict=True)) for r in result]

    # ----- sandbox control over HTTP, as a test harness would ---------------------------------
    def mutate(self, **spec: Any) -> dict[str, Any]:
        return requests.post(f"{self.url}/_sandbox/mutate", json=spec, timeout=30).json()

    def faults(self, **plan: Any) -> None:
        response = requests.post(f"{self.url}/_sandbox/faults", json=plan, timeout=30)
        assert response.status_code == 200, response.text

    def stats(self) -> dict[str, int]:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=30).json()["requests"]

    def reset_stats(self) -> None:
        requests.delete(f"{self.url}/_sandbox/stats", timeout=30)
        self.recorded.clear()


def _record(hub: Hub) -> None:
    """Keep every vendor response the sandbox sends, to check shapes against the spec."""
    original = hub.sandbox.dispatch

    def dispatch(request: SandboxRequest) -> tuple[SandboxResponse, str]:
        response, fault = original(request)
        if not request.path.startswith("/_sandbox") and not fault:
            body = response.body
            if isinstance(body, bytes):
                body = json.loads(body or b"null")
            hub.recorded.append(
                Recorded(
                    request.method,
                    request.path,
                    request.query,
                    dict(response.headers),
                    response.status,
                    body,
                )
            )
        return response, fault

    hub.sandbox.dispatch = dispatch  # type: ignore[method-assign]


def make_hub(tmp_path: Path, **sandbox_kwargs: Any) -> Iterator[Hub]:
    kwargs = {"n_deals": 200, "rate_limits": False, "seed": 7, **sandbox_kwargs}
    sandbox = FakePipedrive(**kwargs)
    sandbox.start()
    hub = Hub(sandbox, tmp_path)
    _record(hub)
    try:
        yield hub
    finally:
        sandbox.stop()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    yield from make_hub(tmp_path)


# ----- comparing the warehouse with the sandbox's truth ---------------------------------------

COMPARED: dict[str, list[str]] = {
    "deals": [
        "deal_key",
        "stage_id",
        "pipeline_id",
        "status",
        "amount",
        "owner_id",
        "account_id",
        "is_deleted",
    ],
    "stage_changes": ["deal_key", "changed_at", "stage_id", "from_stage_id"],
    "activities": ["activity_key", "deal_key"],
    "owners": ["owner_key"],
    "stages": ["stage_key"],
    "pipelines": ["pipeline_key"],
}


def _norm(row: dict[str, Any]) -> tuple[Any, ...]:
    out = []
    for key in sorted(row):
        value = row[key]
        if key == "amount" and value is not None:
            value = value.quantize(type(value)("0.01"))
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        out.append((key, value))
    return tuple(out)


def assert_warehouse_equals_sandbox(hub: Hub) -> None:
    expected = hub.sandbox.expected_canonical(SOURCE)
    for table, columns in COMPARED.items():
        have = sorted(map(_norm, hub.rows(table, columns)), key=repr)
        want = sorted(map(_norm, expected[table]), key=repr)
        missing = [r for r in want if r not in set(have)]
        extra = [r for r in have if r not in set(want)]
        assert not missing and not extra and len(have) == len(want), (
            f"{table}: {len(missing)} missing, {len(extra)} unexpected, "
            f"{len(have)} rows vs {len(want)}; first missing {missing[:2]}, first extra {extra[:2]}"
        )
