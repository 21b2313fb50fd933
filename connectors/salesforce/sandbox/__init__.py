"""FakeSalesforce, loaded only when a sandbox is asked for: ``server`` (HTTP, OAuth, Bulk
2.0, limits), ``store`` (the org's records, seeded from the synthetic world) and ``soql``
(the SOQL subset it answers)."""

from connectors.salesforce.sandbox.server import FakeSalesforce

__all__ = ["FakeSalesforce"]
