"""``kind: salesforce``: Opportunities, stages, stage history, users and activities."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.salesforce.options import SalesforceOptions
from connectors.salesforce.sandbox import FakeSalesforce
from connectors.salesforce.settings import DEFAULT_STAGE_MAP
from connectors.salesforce.source import build_source
from connectors.salesforce.writer import build_writer


def sandbox_source_config(
    name: str, base_url: str, sandbox: FakeSalesforce | None = None
) -> dict[str, Any]:
    """A hub.yml ``sources`` entry that reaches a FakeSalesforce at ``base_url``.

    The sandbox's default credentials are a function of its seed (42 unless told), so the
    entry works for a sandbox started with ``hub demo`` as well as an object in a test.
    """
    creds = (
        sandbox.credentials()
        if sandbox
        else {
            "client_id": "3MVG9sandbox0042.connectedapp",
            "client_secret": "sandbox-secret-0042",
            "refresh_token": "5Aep861sandbox0042refresh",
        }
    )
    return {
        "name": name,
        "kind": "salesforce",
        "credentials": creds,
        "options": {
            "login_url": base_url,
            "multi_currency": True,
            "lost_reason_field": "Loss_Reason__c",
        },
    }


CONNECTOR = Connector(
    kind="salesforce",
    description="Salesforce Opportunities, OpportunityStage, OpportunityHistory, Users, Tasks and Events",
    options_model=SalesforceOptions,
    build_source=build_source,
    default_stage_map=DEFAULT_STAGE_MAP,
    build_writer=build_writer,
    sandbox=FakeSalesforce,
    sandbox_source_config=sandbox_source_config,
)

__all__ = ["CONNECTOR", "FakeSalesforce", "SalesforceOptions", "sandbox_source_config"]
