"""HubSpot connector: deals, pipelines, owners, activities and stage history via CRM v3/v4."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.hubspot import settings
from connectors.hubspot.options import HubspotOptions
from connectors.hubspot.sandbox import RENEWALS, RENEWALS_STAGE_MAP, FakeHubspot
from connectors.hubspot.source import build_source
from connectors.hubspot.writer import build_writer


def sandbox_source_config(name: str, base_url: str) -> dict[str, Any]:
    """A hub.yml ``sources`` entry that reaches a running FakeHubspot."""
    return {
        "name": name,
        "kind": "hubspot",
        "credentials": {"token": FakeHubspot.TOKEN},
        "options": {
            "base_url": base_url,
            "app_id": FakeHubspot.APP_ID,
            "deal_properties": ["dealtype", "region"],
        },
        "stage_map": {RENEWALS: dict(RENEWALS_STAGE_MAP)},
    }


CONNECTOR = Connector(
    kind="hubspot",
    description="HubSpot CRM (private app or OAuth): deals, pipelines, owners, activities, "
    "stage history; writes deal properties back",
    options_model=HubspotOptions,
    build_source=build_source,
    default_stage_map=dict(settings.DEFAULT_STAGE_MAP),
    build_writer=build_writer,
    sandbox=FakeHubspot,
    sandbox_source_config=sandbox_source_config,
)

__all__ = ["CONNECTOR", "FakeHubspot", "HubspotOptions"]
