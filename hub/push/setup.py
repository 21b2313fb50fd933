"""``hub push --setup``: create the hub's score fields where the CRM's API allows it.

HubSpot: a property group ``crm_sync_hub`` with the ``hub_score`` and ``hub_score_reason``
deal properties. Pipedrive: two custom deal fields (their 40-character keys are looked up
by name on every run). Salesforce: custom fields need the Metadata or Tooling API and
field-level security, so the hub checks ``describe`` and names the field and permission an
admin must create.
"""

from __future__ import annotations

from connectors.registry import get_connector
from hub.push.writers import scrub, writer_for
from models.config import HubConfig
from models.errors import AuthError, HubError


def setup_fields(config: HubConfig, sources: list[str] | None = None) -> dict[str, list[str]]:
    chosen = (
        [config.source(n) for n in sources] if sources else [s for s in config.sources if s.enabled]
    )
    out: dict[str, list[str]] = {}
    for source in chosen:
        if get_connector(source.kind).build_writer is None:
            continue
        ctx = None
        try:
            ctx, writer = writer_for(config, source)
            out[source.name] = writer.setup_fields()
        except AuthError:
            raise
        except HubError as exc:
            out[source.name] = [f"failed: {scrub(ctx, str(exc))}"]
    return out
