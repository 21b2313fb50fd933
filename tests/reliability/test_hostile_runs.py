"""A ``hub pull`` that meets a hostile server ends cleanly (issue #18, item 8).

A real Pipedrive sandbox sits behind :class:`~tests.reliability.hostile.HostileServer`,
which relays every request except one endpoint, where it misbehaves: asks for a 27.8 h
wait, trickles bytes, or sends a body past the size cap. The run must end in bounded
time, its ``hub_runs`` row and output must name the endpoint and say what happened with
no token in them, and a rerun once the server behaves must complete the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import duckdb
import pytest

import connectors.http
from connectors.http import HttpLimits
from hub.pull import run_pull
from models.config import load_config
from tests.harness import VirtualClock, start_sandbox, stop_quietly, write_hub_yml
from tests.reliability.harness import run_hub
from tests.reliability.hostile import Answer, Forward, HostileServer, Huge, Reply, Trickle

TOKEN = "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1hostile"
ENV = {"HOSTILE_PD_TOKEN": TOKEN}
SOURCE = "pd_hostile"
ACTIVITIES = "/api/v2/activities"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    server = start_sandbox("pipedrive", n_deals=40, seed=3)
    server.api_token = TOKEN  # type: ignore[attr-defined]
    yield server
    stop_quietly([server])


@pytest.fixture
def proxy(sandbox: Any) -> Iterator[HostileServer]:
    with HostileServer(fallback=Forward(sandbox.base_url)) as server:
        yield server


def hub_yml(folder: Path, sandbox: Any, proxy: HostileServer) -> Path:
    entry = sandbox.source_config(SOURCE)
    entry["credentials"] = {"api_token": "env:HOSTILE_PD_TOKEN"}
    entry["options"]["base_url"] = proxy.url
    return write_hub_yml(folder, {"sources": [entry]})


def leaks(text: str) -> list[str]:
    return [v for v in {TOKEN, quote(TOKEN, safe=""), quote_plus(TOKEN)} if v in text]


def last_run(folder: Path) -> dict[str, Any]:
    with duckdb.connect(str(folder / ".hub" / "hub.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT status, error, warnings, requests_json FROM hub_meta.hub_runs "
            "ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return dict(zip(("status", "error", "warnings", "requests"), row, strict=True))


def keys(folder: Path, table: str, key: str) -> set[str]:
    with duckdb.connect(str(folder / ".hub" / "hub.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute(f"SELECT {key} FROM src_{SOURCE}.{table}").fetchall()}


def activities_and_notes(sandbox: Any) -> int:
    """Pipedrive notes land in the activities table too."""
    return len(sandbox.store.activities) + len(sandbox.store.notes)


def test_hub_pull_stops_on_a_day_long_retry_after_and_resumes(
    sandbox: Any, proxy: HostileServer, tmp_path: Path
) -> None:
    """The real CLI, real clock. Pipedrive's own 429 carries no Retry-After, so its
    connector waits its 2 s window; a proxy in front that says "come back in 27.8 h" was
    hammered 8 times and the run failed (HubSpot's client slept the 27.8 h instead, see
    test_hanging_servers). Now the run stops with its progress kept, and resumes."""
    proxy.on(
        ACTIVITIES,
        Answer(429, {"success": False, "error": "Too many requests"}, {"Retry-After": "100000"}),
    )
    config = hub_yml(tmp_path, sandbox, proxy)

    stopped = run_hub("pull", "--config", str(config), cwd=tmp_path, env=ENV, timeout=180)

    assert stopped.code == 1, stopped.output
    run = last_run(tmp_path)
    assert run["status"] == "stopped", run
    for text in (run["error"], stopped.output):
        assert f"GET {ACTIVITIES} answered HTTP 429 asking to wait 27 h 47 min" in text, text
        assert "Retry-After: 100000" in text
    assert leaks(stopped.output + str(run)) == []
    kept = keys(tmp_path, "deals", "deal_key")
    assert kept, "the stopped run kept nothing"

    proxy.forget_rules()
    resumed = run_hub("pull", "--config", str(config), cwd=tmp_path, env=ENV, timeout=180)

    assert resumed.code == 0, resumed.output
    assert len(keys(tmp_path, "deals", "deal_key")) == len(sandbox.store.deals)
    assert len(keys(tmp_path, "activities", "activity_key")) == activities_and_notes(sandbox)


CASES: dict[str, tuple[Reply, HttpLimits, str, list[str]]] = {
    "trickle": (
        Trickle(every_s=0.2),
        HttpLimits(deadline_s=1.0, timeout_attempts=2),
        "failed",
        [f"GET {ACTIVITIES} timed out 2 times (no complete answer within 1 s)"],
    ),
    "huge body": (
        Huge(64 * 1024 * 1024 + 1, chunked=True),
        HttpLimits(),
        "failed",
        [f"GET {ACTIVITIES} answered with a body of more", "cap of 67,108,864 bytes"],
    ),
    "retry-after inf": (
        Answer(429, {"success": False}, {"Retry-After": "inf"}),
        HttpLimits(),
        "stopped",
        [f"GET {ACTIVITIES} answered HTTP 429 asking to wait forever (Retry-After: inf)"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_pull_meeting_a_hostile_endpoint_ends_cleanly(
    sandbox: Any,
    proxy: HostileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    """In process, so the deadline can be made small (``DEFAULT_LIMITS`` is what every
    connector's clients get); sleeps are virtual."""
    reply, limits, status, phrases = CASES[case]
    VirtualClock().install(monkeypatch)
    monkeypatch.setattr(connectors.http, "DEFAULT_LIMITS", limits)
    monkeypatch.setenv("HOSTILE_PD_TOKEN", TOKEN)
    proxy.on(ACTIVITIES, reply)
    config = load_config(hub_yml(tmp_path, sandbox, proxy))

    [result] = run_pull(config)

    assert result.status == status, result.error
    assert result.duration_s < 30
    run = last_run(tmp_path)
    for phrase in phrases:
        assert phrase in (run["error"] or ""), run["error"]
    assert leaks(str(run)) == []

    proxy.forget_rules()
    [again] = run_pull(load_config(hub_yml(tmp_path, sandbox, proxy)))
    assert again.status == "ok", again.error
    assert len(keys(tmp_path, "activities", "activity_key")) == activities_and_notes(sandbox)
