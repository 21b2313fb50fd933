"""FakeHubspot, loaded only when a sandbox is asked for: ``server`` (HTTP, limits, OAuth),
``store`` (the portal's records, seeded from the synthetic world), ``mutate`` (changes)."""

from connectors.hubspot.sandbox.server import RENEWALS, RENEWALS_STAGE_MAP, FakeHubspot

__all__ = ["RENEWALS", "RENEWALS_STAGE_MAP", "FakeHubspot"]
