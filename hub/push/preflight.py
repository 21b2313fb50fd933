"""Live reads of what each CRM holds now, before anything is written.

The plan compares every row with the CRM's value at this moment, so a rep's edit made
after the last pull shows up as a conflict before anything is written. Each writer reads
in the cheapest batch its API offers (``Writer.read_current`` in its connector:
HubSpot ``batch/read``, Pipedrive ``deals?ids=``, Salesforce SOQL ``Id IN``), through its
own API client, so the reads share pacing, retries, request counts and token scrubbing
with the writes. Here the raw values are normalized for comparison.

A writer without ``read_current`` is pushed without a live check (it may do its own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors.base import LiveDeal, Writer
from hub.push.values import norm

Reader = Callable[[Sequence[str], Sequence[str]], dict[str, LiveDeal]]


def live_reader(writer: Writer) -> Reader | None:
    """``read(deal_ids, fields)`` with values normalized for comparison (``norm``), or None
    if the writer has no ``read_current``."""
    read: Reader | None = getattr(writer, "read_current", None)
    if read is None:
        return None

    def current(deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, LiveDeal]:
        return {
            deal_id: LiveDeal({f: norm(f, live.values.get(f)) for f in fields}, live.modified_at)
            for deal_id, live in read(list(deal_ids), list(fields)).items()
        }

    return current
