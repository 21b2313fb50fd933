"""Fixtures: virtual time for every test, followed by each FakeHubspot it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.hubspot.sandbox import FakeHubspot
from tests.harness import VirtualClock


@pytest.fixture(autouse=True)
def _virtual_time(virtual_clock: VirtualClock) -> None:
    """Every HubSpot test runs on virtual time (its rate-limit windows included)."""


@pytest.fixture
def make_sandbox(
    virtual_clock: VirtualClock, sandboxes: Callable[..., Any]
) -> Callable[..., FakeHubspot]:
    def make(**kwargs: Any) -> FakeHubspot:
        sandbox: FakeHubspot = sandboxes("hubspot", **{"n_deals": 120, **kwargs})
        virtual_clock.follow(sandbox)
        return sandbox

    return make
