"""HubSpot connector: deals, companies, pipelines, owners, activities, stage history and
custom properties via CRM v3/v4."""

from __future__ import annotations

from connectors.base import Connector
from connectors.hubspot import settings
from connectors.hubspot.options import HubspotOptions
from connectors.registry import deferred

CONNECTOR = Connector(
    kind="hubspot",
    description="HubSpot CRM (private app or OAuth): deals, companies, pipelines, owners, "
    "activities, stage history, custom properties; writes deal properties back",
    options_model=HubspotOptions,
    build_source=deferred("connectors.hubspot.source:build_source"),
    default_stage_map=dict(settings.DEFAULT_STAGE_MAP),
    build_writer=deferred("connectors.hubspot.writer:build_writer"),
    sandbox="connectors.hubspot.sandbox:FakeHubspot",
)

__all__ = ["CONNECTOR", "HubspotOptions"]
