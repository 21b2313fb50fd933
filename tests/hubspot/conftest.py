"""Fixtures: a FakeHubspot over real HTTP per test, and virtual time for every test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import connectors.http
from connectors.hubspot.sandbox import FakeHubspot
from tests.hubspot.helpers import VirtualClock


@pytest.fixture(autouse=True)
def virtual_clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    clock = VirtualClock()
    monkeypatch.setattr(connectors.http.clock, "sleep", clock.sleep)
    monkeypatch.setattr(connectors.http.clock, "now", clock.now)
    return clock


@pytest.fixture
def make_sandbox(virtual_clock: VirtualClock) -> Iterator[Callable[..., FakeHubspot]]:
    started: list[FakeHubspot] = []

    def make(**kwargs: Any) -> FakeHubspot:
        kwargs.setdefault("n_deals", 120)
        kwargs.setdefault("rate_limits", False)
        sandbox = FakeHubspot(**kwargs)
        sandbox.start()
        started.append(sandbox)
        virtual_clock.sandboxes.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:  # shutdown() waits out a 0.5 s poll: let it finish in the background
        threading.Thread(target=sandbox.stop, daemon=True).start()
