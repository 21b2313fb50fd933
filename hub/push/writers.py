"""The push engine's side of the :class:`~connectors.base.Writer` contract: a source's
writer, live reads through it, and its secrets kept out of any text the hub shows.

The engine knows no CRM: it acts on what a writer declares (``live_read``,
``rechecks_before_write``, ``guard_fields``). Live reads go through the writer's own API
client, so they share pacing, retries, request counts and token scrubbing with the
writes; here the raw values are normalized for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from connectors.base import LiveDeal, SourceContext, Writer
from connectors.registry import get_connector
from hub.push.normalize import norm
from models.config import HubConfig, SourceConfig
from models.errors import ConfigError


def writer_for(config: HubConfig, source: SourceConfig) -> tuple[SourceContext, Writer]:
    connector = get_connector(source.kind)
    if connector.build_writer is None:
        raise ConfigError(f"sources[{source.name}]: kind '{source.kind}' cannot be written back")
    ctx = connector.context(config, source, run_started_at=datetime.now(UTC))
    return ctx, connector.build_writer(ctx)


def read_live(
    writer: Writer, deal_ids: Sequence[str], fields: Sequence[str]
) -> dict[str, LiveDeal]:
    """What the CRM holds now (``Writer.read_current``, for a writer declaring
    ``live_read``), values normalized for comparison."""
    return {
        deal_id: LiveDeal({f: norm(f, live.values.get(f)) for f in fields}, live.modified_at)
        for deal_id, live in writer.read_current(list(deal_ids), list(fields)).items()
    }


def scrub(ctx: SourceContext | None, text: str) -> str:
    if ctx is not None:
        for secret in ctx.secrets.revealed:
            if secret:
                text = text.replace(secret, "***")
    return text
