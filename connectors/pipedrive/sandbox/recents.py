"""``GET /v1/recents``: the store's changes since a timestamp, as v1 ``{item, id, data}`` rows.

The store keeps deals, activities, organisations, pipelines and stages in v2 shape; v1
clients (the recents feed) see them with v1 names (``user_id``, ``active_flag``,
``deleted``) and v1 timestamps (``YYYY-MM-DD HH:MM:SS``). Deleted deals and organisations
stay in the feed (``deleted`` / ``active_flag`` false): it is the one place Pipedrive
reports a deleted organisation. Since 2024-12-01 the feed reaches back one month (three for the
mobile apps): an older ``since_timestamp`` is answered from one month ago, not refused
(the server's ``recents_reach_days``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.pipedrive.sandbox import organizations
from connectors.pipedrive.sandbox.store import PipedriveStore, v1time

V1_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
V2_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# item types the v1 spec's ``items`` enum allows; the ones the store holds are served
ITEM_TYPES = {
    "activity",
    "activityType",
    "deal",
    "file",
    "filter",
    "note",
    "person",
    "organization",
    "pipeline",
    "product",
    "stage",
    "user",
}


def _v1(row: dict[str, Any]) -> dict[str, Any]:
    """A copy with every v2 timestamp written the v1 way."""
    return {
        k: v.replace("T", " ").rstrip("Z") if isinstance(v, str) and V2_STAMP.match(v) else v
        for k, v in row.items()
    }


def _deal(d: dict[str, Any]) -> dict[str, Any]:
    v2_only = ("owner_id", "is_deleted", "custom_fields", "label_ids")
    row = _v1({k: v for k, v in d.items() if k not in v2_only})
    row |= d["custom_fields"]  # v1 keeps custom fields at the top level, keyed by hash
    return row | {
        "user_id": d["owner_id"],
        "deleted": d["is_deleted"],
        "active": not d["is_deleted"],
        "visible_to": str(d["visible_to"]),
        "label": ",".join(map(str, d["label_ids"])) or None,
    }


def _activity(a: dict[str, Any]) -> dict[str, Any]:
    row = _v1({k: v for k, v in a.items() if k not in ("owner_id", "is_deleted", "busy")})
    return row | {
        "user_id": a["owner_id"],
        "active_flag": not a["is_deleted"],
        "busy_flag": a["busy"],
    }


def _pipeline(p: dict[str, Any]) -> dict[str, Any]:
    """v1 says ``active`` and ``deal_probability`` where v2 says ``is_deleted`` and
    ``is_deal_probability_enabled``."""
    row = _v1(
        {k: v for k, v in p.items() if k not in ("is_deleted", "is_deal_probability_enabled")}
    )
    return row | {
        "active": not p["is_deleted"],
        "deal_probability": p["is_deal_probability_enabled"],
    }


def _stage(s: dict[str, Any]) -> dict[str, Any]:
    """v1 says ``active_flag``, ``rotten_flag`` and ``rotten_days``."""
    v2_only = ("is_deleted", "is_deal_rot_enabled", "days_to_rotten")
    row = _v1({k: v for k, v in s.items() if k not in v2_only})
    return row | {
        "active_flag": not s["is_deleted"],
        "rotten_flag": s["is_deal_rot_enabled"],
        "rotten_days": s["days_to_rotten"],
    }


def changes(store: PipedriveStore, types: set[str], since: datetime) -> list[dict[str, Any]]:
    """Every held item of ``types`` changed at or after ``since``, oldest change first."""
    org_types = {f["key"]: f["field_type"] for f in store.org_fields}

    def organization(o: dict[str, Any]) -> dict[str, Any]:
        return organizations.as_v1(o, store.users, org_types, v1time, _v2, store.seed)

    sources: list[tuple[str, Any, Any, str]] = [
        ("deal", store.deals, _deal, "update_time"),
        ("organization", store.organizations, organization, "update_time"),
        ("activity", store.activities, _activity, "update_time"),
        ("note", store.notes, dict, "update_time"),
        ("pipeline", store.pipelines, _pipeline, "update_time"),
        ("stage", store.stages, _stage, "update_time"),
        ("user", store.users, dict, "modified"),
    ]
    rows = []
    for item, table, shape, stamp in sources:
        if types and item not in types:
            continue
        for record in table.values():
            data = shape(record)
            changed = stamp_of(data[stamp])
            if changed is not None and changed >= since:
                rows.append((changed, item, {"item": item, "id": record["id"], "data": data}))
    rows.sort(key=lambda r: (r[0], r[1], r[2]["id"]))
    return [r[2] for r in rows]


def _v2(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stamp_of(text: Any) -> datetime | None:
    """A v1 timestamp as UTC; None for what does not parse."""
    if not isinstance(text, str) or not V1_STAMP.match(text):
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
