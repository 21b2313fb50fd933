"""Pipedrive (API v2, v1 where v2 has no equivalent): pull, write back, sandbox."""

from __future__ import annotations

from connectors.base import Connector
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.settings import DEFAULT_STAGE_MAP
from connectors.registry import deferred

CONNECTOR = Connector(
    kind="pipedrive",
    description="Pipedrive deals, stage history (deal flow), activities, notes and "
    "organisations via API v2",
    options_model=PipedriveOptions,
    build_source=deferred("connectors.pipedrive.source:build_source"),
    default_stage_map=DEFAULT_STAGE_MAP,
    build_writer=deferred("connectors.pipedrive.writer:build_writer"),
    sandbox="connectors.pipedrive.sandbox:FakePipedrive",
)
