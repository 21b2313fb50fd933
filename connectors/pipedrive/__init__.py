"""Pipedrive (API v2, v1 where v2 has no equivalent): pull, write back, sandbox."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.sandbox import SANDBOX_API_TOKEN, FakePipedrive
from connectors.pipedrive.settings import DEFAULT_STAGE_MAP
from connectors.pipedrive.source import build_source
from connectors.pipedrive.writer import build_writer


def sandbox_source_config(name: str, base_url: str) -> dict[str, Any]:
    """A hub.yml source entry for a running FakePipedrive (its fixed, fake API token)."""
    return {
        "name": name,
        "kind": "pipedrive",
        "credentials": {"api_token": SANDBOX_API_TOKEN},
        "options": {"base_url": base_url, "oauth_token_url": f"{base_url}/oauth/token"},
    }


CONNECTOR = Connector(
    kind="pipedrive",
    description="Pipedrive deals, stage history (deal flow), activities and notes via API v2",
    options_model=PipedriveOptions,
    build_source=build_source,
    default_stage_map=DEFAULT_STAGE_MAP,
    build_writer=build_writer,
    sandbox=FakePipedrive,
    sandbox_source_config=sandbox_source_config,
)
