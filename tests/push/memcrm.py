"""A CRM kind as a third-party package would plug it in (entry point ``hub.connectors``),
for the push tests: an in-memory CRM and writers that only declare their capabilities.

The writers do nothing safe on their own (no re-check inside ``write``, no conditional
write), so whatever protects a rep's edit here comes from the push engine acting on the
declarations in :class:`connectors.base.Writer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from connectors.base import Connector, DealUpdate, LiveDeal, SourceContext, WriteResult

KIND = "memcrm"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class MemoryCrm:
    deals: dict[str, dict[str, Any]]  # deal id -> hub field -> value
    modified: dict[str, datetime] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # "read" / "write", in the order made
    updates: list[DealUpdate] = field(default_factory=list)  # every update written

    def rep_edit(self, deal_id: str, hub_field: str, value: Any) -> None:
        self.deals[deal_id][hub_field] = value
        self.modified[deal_id] = max(self.modified.values(), default=T0) + timedelta(minutes=1)


CRMS: dict[str, MemoryCrm] = {}  # by source name; a test puts its CRM here


class MemOptions(BaseModel):
    live_read: bool = True


class LiveWriter:
    """Reads live in one batch; writes blindly."""

    max_batch = 2
    live_read = True
    rechecks_before_write = False
    guard_fields: frozenset[str] | None = frozenset({"stage_id"})

    def __init__(self, crm: MemoryCrm) -> None:
        self.crm = crm

    def read_current(self, deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, LiveDeal]:
        self.crm.calls.append("read")
        return {
            d: LiveDeal({f: self.crm.deals[d].get(f) for f in fields}, self.crm.modified.get(d, T0))
            for d in deal_ids
            if d in self.crm.deals
        }

    def write(self, updates: Sequence[DealUpdate]) -> list[WriteResult]:
        self.crm.calls.append("write")
        self.crm.updates.extend(updates)
        for u in updates:
            self.crm.deals[u.deal_id].update(u.fields)
        return [WriteResult(u.deal_id, "written") for u in updates]

    def setup_fields(self) -> list[str]:
        return []


class BlindWriter(LiveWriter):
    """Declares no live read: the engine must never call ``read_current``."""

    live_read = False

    def read_current(self, deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, LiveDeal]:
        raise AssertionError("read_current called on a writer that declares no live read")


def build_writer(ctx: SourceContext) -> LiveWriter:
    assert isinstance(ctx.options, MemOptions)
    writer = LiveWriter if ctx.options.live_read else BlindWriter
    return writer(CRMS[ctx.name])


def build_source(ctx: SourceContext) -> Any:
    raise NotImplementedError("the push tests never pull from memcrm")


CONNECTOR = Connector(
    kind=KIND,
    description="in-memory CRM for the push tests",
    options_model=MemOptions,
    build_source=build_source,
    build_writer=build_writer,
)
