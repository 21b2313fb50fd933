"""FakePipedrive, loaded only when a sandbox is asked for: ``server`` (HTTP, limits, OAuth)
and ``store`` (the company's records, seeded from the synthetic world)."""

from connectors.pipedrive.sandbox.server import SANDBOX_API_TOKEN, FakePipedrive

__all__ = ["SANDBOX_API_TOKEN", "FakePipedrive"]
