"""Test support for every test folder: virtual time, a sandbox pulled into DuckDB the way
``hub pull`` does it, and the sandboxes' ``/_sandbox/*`` control endpoints.

Tests patch only the clock; HTTP, dlt and DuckDB are real. :func:`start_sandbox` and
:func:`sandbox_entry` are the only code in the tests that touches a connector's sandbox
API, so a change to that API is adapted here once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
import yaml

import connectors.http
from connectors.base import SourceContext
from connectors.http import RequestStats
from connectors.registry import get_connector, sandbox_class
from connectors.sandbox import SandboxServer
from hub.pull import pipeline_for
from hub.warehouse import Warehouse, dataset_name
from models.config import HubConfig, load_config

# ----- virtual time ---------------------------------------------------------------------------


class VirtualClock:
    """Sleeps advance virtual time instead of waiting, for the client's pacer and for every
    sandbox that follows the clock (its rate-limit windows), so limits are real but fast."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept: list[float] = []
        self.sandboxes: list[SandboxServer] = []

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.offset += seconds
            for sandbox in self.sandboxes:
                sandbox.time_offset_s += seconds

    def follow(self, sandbox: SandboxServer) -> None:
        self.sandboxes.append(sandbox)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
        """Route ``connectors.http.clock`` (the one clock the clients use) through this."""
        monkeypatch.setattr(connectors.http.clock, "sleep", self.sleep)
        monkeypatch.setattr(connectors.http.clock, "now", self.now)
        return self


# ----- sandboxes from the registry ------------------------------------------------------------


def has_sandbox(kind: str) -> bool:
    return get_connector(kind).sandbox is not None


def start_sandbox(kind: str, **kwargs: Any) -> SandboxServer:
    """A kind's sandbox from the registry, serving on 127.0.0.1 (rate limits off unless
    asked for)."""
    server = sandbox_class(kind)(**{"rate_limits": False, **kwargs})
    server.start()
    return server


def sandbox_entry(sandbox: SandboxServer, name: str) -> dict[str, Any]:
    """The hub.yml ``sources`` entry that reaches a running sandbox, with its credentials."""
    return sandbox.source_config(name)


def stop_quietly(sandboxes: Iterable[SandboxServer]) -> None:
    """``shutdown()`` waits out a poll interval; let the servers go in the background."""
    for sandbox in sandboxes:
        threading.Thread(target=sandbox.stop, daemon=True).start()


def write_hub_yml(folder: Path, config: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# ----- /_sandbox/* control ----------------------------------------------------------------------


def sandbox_requests(sandbox: SandboxServer) -> Counter[str]:
    """Requests the sandbox answered since the last reset, per endpoint."""
    stats = requests.get(f"{sandbox.base_url}/_sandbox/stats", timeout=30).json()
    return Counter(stats["requests"])


def reset_requests(sandbox: SandboxServer) -> None:
    requests.delete(f"{sandbox.base_url}/_sandbox/stats", timeout=30).raise_for_status()


def set_faults(sandbox: SandboxServer, **plan: Any) -> None:
    """Replace the sandbox's fault plan (``{}`` clears it)."""
    requests.post(f"{sandbox.base_url}/_sandbox/faults", json=plan, timeout=30).raise_for_status()


def mutate(sandbox: SandboxServer, **spec: Any) -> dict[str, Any]:
    """Let the CRM's users change things between two pulls; returns what changed."""
    response = requests.post(f"{sandbox.base_url}/_sandbox/mutate", json=spec, timeout=120)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


# ----- one sandbox pulled into one warehouse ----------------------------------------------------


@dataclass
class SandboxHub:
    """One sandbox pulled into one hub folder's DuckDB, run after run.

    ``options`` and ``credentials`` override the sandbox's own source entry; ``top`` adds
    other hub.yml keys (``push:``...). Each :meth:`config` writes the folder's hub.yml.
    """

    sandbox: Any  # a SandboxServer: tests read its vendor-specific state too
    folder: Path
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] | None = None
    top: dict[str, Any] = field(default_factory=dict)
    shift: timedelta = timedelta(0)  # how far pull(days_later=...) moved time so far
    last_ctx: SourceContext | None = None  # its stop_reason says why a run ended early

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.kind}_test"

    @property
    def kind(self) -> str:
        return self.sandbox.kind

    def entry(self, **options: Any) -> dict[str, Any]:
        entry = sandbox_entry(self.sandbox, self.name)
        entry["options"].update({**self.options, **options})
        if self.credentials is not None:
            entry["credentials"] = dict(self.credentials)
        return entry

    def config(self, **options: Any) -> HubConfig:
        """The hub.yml for this source (``options`` for this call only), written and read."""
        return load_config(
            write_hub_yml(self.folder, {"sources": [self.entry(**options)], **self.top})
        )

    def context(self, *, full_refresh: bool = False, **options: Any) -> SourceContext:
        config = self.config(**options)
        return get_connector(self.kind).context(
            config,
            config.source(self.name),
            stats=RequestStats(),
            run_started_at=datetime.now(UTC) + self.shift,
            full_refresh=full_refresh,
        )

    def pull(
        self, *, days_later: float = 0, full_refresh: bool = False, **options: Any
    ) -> RequestStats:
        """One pull through ``hub.pull``'s dlt pipeline for the source, letting the
        connector's errors raise; ``days_later`` moves the run's start and the sandbox on."""
        if days_later:
            self.shift += timedelta(days=days_later)
            self.sandbox.time_offset_s += days_later * 86_400
        ctx = self.context(full_refresh=full_refresh, **options)
        pipeline = pipeline_for(ctx.config, Warehouse(ctx.config), self.name)
        pipeline.run(get_connector(self.kind).build_source(ctx))
        self.last_ctx = ctx
        return ctx.stats

    @property
    def db_path(self) -> Path:
        config = self.config()
        return config.resolve_path(config.warehouse.path)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """A query with the source's dataset as the default schema."""
        with duckdb.connect(str(self.db_path), read_only=True) as con:
            con.execute(f"SET search_path = '{dataset_name(self.name)}'")
            return con.execute(query).fetchall()

    def rows(self, table: str, columns: Sequence[str] = ("*",)) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.db_path), read_only=True) as con:
            cur = con.execute(f"SELECT {', '.join(columns)} FROM {dataset_name(self.name)}.{table}")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # ----- the sandbox's control endpoints -----------------------------------------------------
    def requests(self) -> Counter[str]:
        return sandbox_requests(self.sandbox)

    def reset_requests(self) -> None:
        reset_requests(self.sandbox)

    def faults(self, **plan: Any) -> None:
        set_faults(self.sandbox, **plan)

    def mutate(self, **spec: Any) -> dict[str, Any]:
        return mutate(self.sandbox, **spec)
