"""``kind: salesforce``: Opportunities, Accounts, stages, stage history, users, activities
and the custom fields of Opportunity and Account."""

from __future__ import annotations

from connectors.base import Connector
from connectors.registry import deferred
from connectors.salesforce.options import SalesforceOptions
from connectors.salesforce.settings import DEFAULT_STAGE_MAP

CONNECTOR = Connector(
    kind="salesforce",
    description="Salesforce Opportunities, Accounts, OpportunityStage, OpportunityHistory, "
    "Users, Tasks and Events",
    options_model=SalesforceOptions,
    build_source=deferred("connectors.salesforce.source:build_source"),
    default_stage_map=DEFAULT_STAGE_MAP,
    build_writer=deferred("connectors.salesforce.writer:build_writer"),
    sandbox="connectors.salesforce.sandbox:FakeSalesforce",
)

__all__ = ["CONNECTOR", "SalesforceOptions"]
