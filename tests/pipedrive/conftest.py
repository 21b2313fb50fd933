"""Fixtures for the Pipedrive tests: a FakePipedrive over real HTTP, real dlt, real DuckDB,
every vendor response recorded."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox import SandboxRequest, SandboxResponse
from tests.harness import SandboxHub, VirtualClock, start_sandbox, stop_quietly

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
SOURCE = "pd"


@pytest.fixture(autouse=True)
def _virtual_time(virtual_clock: VirtualClock) -> None:
    """Every Pipedrive test runs on virtual time: retries and pacing do not wait."""


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int
    body: Any


@dataclass
class Hub(SandboxHub):
    """A SandboxHub that also keeps every vendor response the sandbox sends."""

    recorded: list[Recorded] = field(default_factory=list)

    def reset_requests(self) -> None:
        super().reset_requests()
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
    sandbox = start_sandbox("pipedrive", **{"n_deals": 200, "seed": 7, **sandbox_kwargs})
    hub = Hub(sandbox, tmp_path, SOURCE)
    _record(hub)
    try:
        yield hub
    finally:
        stop_quietly([sandbox])


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
        "account_key",
        "is_deleted",
    ],
    "accounts": ["account_key", "name", "website", "owner_id", "is_deleted"],
    "deal_accounts": ["deal_key", "account_key"],
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
        have_set, want_set = set(have), set(want)  # once: a set per row is quadratic
        missing = [r for r in want if r not in have_set]
        extra = [r for r in have if r not in want_set]
        assert not missing and not extra and len(have) == len(want), (
            f"{table}: {len(missing)} missing, {len(extra)} unexpected, "
            f"{len(have)} rows vs {len(want)}; first missing {missing[:2]}, first extra {extra[:2]}"
        )
