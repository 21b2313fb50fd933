"""Live reads of what each CRM holds now, in the cheapest batch each API offers.

The plan compares every row with the CRM's value at this moment, so a rep's edit made
after the last pull shows up as a conflict before anything is written:

* HubSpot: ``POST /crm/v3/objects/deals/batch/read``, 100 deals a call.
* Pipedrive: ``GET /api/v2/deals?ids=``, 100 deals a call (hub fields by their hash keys).
* Salesforce: one SOQL ``WHERE Id IN (...)`` per 200 deals, with ``LastModifiedDate``,
  which then guards stage writes with ``If-Unmodified-Since``.

A kind without a reader here is written without a live check (its writer may do its own).
These readers use the writers' own API clients, so they share pacing, retries, request
counts and token scrubbing with the writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.push.values import norm


@dataclass(frozen=True)
class Current:
    values: dict[str, str | None] = field(default_factory=dict)
    modified_at: datetime | None = None


Reader = Callable[[Any, Sequence[str], Sequence[str]], dict[str, Current]]


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_hubspot(writer: Any, deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, Current]:
    from connectors.hubspot import settings
    from connectors.hubspot.mapping import parse_ts
    from connectors.hubspot.writer import READ

    names = {f: settings.WRITABLE_FIELDS.get(f, f) for f in fields}
    out: dict[str, Current] = {}
    for chunk in _chunks(list(deal_ids), settings.BATCH_READ_MAX):
        payload = writer.api.post(
            READ,
            endpoint=READ,
            body={"inputs": [{"id": i} for i in chunk], "properties": sorted(set(names.values()))},
        )
        for item in payload.get("results", []) or []:
            props = item.get("properties") or {}
            out[str(item["id"])] = Current(
                {f: norm(f, props.get(p)) for f, p in names.items()},
                parse_ts(item.get("updatedAt")),
            )
    return out


def read_pipedrive(
    writer: Any, deal_ids: Sequence[str], fields: Sequence[str]
) -> dict[str, Current]:
    from connectors.pipedrive.client import get_payload, parse_time

    keys = writer.field_keys()
    out: dict[str, Current] = {}
    for chunk in _chunks(list(deal_ids), writer.max_batch):
        params: dict[str, Any] = {"ids": ",".join(chunk), "limit": 500}
        wanted = [keys[f] for f in fields if f in keys]
        if wanted:
            params["custom_fields"] = ",".join(wanted[:15])
        payload = get_payload(writer.client, "deals", params=params)
        for deal in payload.get("data") or []:
            if deal.get("is_deleted") or deal.get("status") == "deleted":
                continue
            custom = deal.get("custom_fields") or {}
            values = {
                f: norm(f, deal.get("stage_id") if f == "stage_id" else custom.get(keys.get(f, "")))
                for f in fields
            }
            out[str(deal["id"])] = Current(values, parse_time(deal.get("update_time")))
    return out


def read_salesforce(
    writer: Any, deal_ids: Sequence[str], fields: Sequence[str]
) -> dict[str, Current]:
    from connectors.salesforce.mapping import parse_datetime
    from connectors.salesforce.queries import build_soql
    from connectors.salesforce.writer import COLLECTION_MAX

    names = {f: writer.field_for(f) for f in fields}
    out: dict[str, Current] = {}
    for chunk in _chunks(list(deal_ids), COLLECTION_MAX):
        ids = ", ".join("'" + i.replace("'", "") + "'" for i in chunk)
        soql = build_soql(
            ["Id", "LastModifiedDate", *sorted(set(names.values()))],
            "Opportunity",
            f"Id IN ({ids})",
        )
        for page in writer.client.query(soql):
            for rec in page:
                stamp = parse_datetime(rec.get("LastModifiedDate"))
                out[str(rec["Id"])] = Current(
                    {f: norm(f, rec.get(n)) for f, n in names.items()},
                    stamp.astimezone(UTC) if stamp else None,
                )
    return out


READERS: dict[str, Reader] = {
    "hubspot": read_hubspot,
    "pipedrive": read_pipedrive,
    "salesforce": read_salesforce,
}
