"""Pipedrive payloads -> canonical rows. Pure functions: no HTTP, no state.

Pipedrive keeps a won or lost deal in its last stage and records the outcome as the deal's
``status``; the history built here adds that outcome as a step into the pseudo stage
``won`` or ``lost`` (at ``won_time`` / ``lost_time``), and a reopen as a step back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from connectors.pipedrive.client import parse_time
from connectors.pipedrive.fields import CRM, HASH_KEY, CustomFields
from connectors.pipedrive.settings import ACTIVITY_TYPE_MAP, LOST_STAGE_ID, WON_STAGE_ID
from connectors.values import (
    BadValues,
    checked_value,
    lenient,
    parse_amount,
    parse_percent,
    stage_probability,
    to_date,
    web_domain,
)
from models.canonical import make_key

__all__ = ["CRM", "CustomFields"]

DEALS_LOCATION = "/api/v2/deals"
ORGANIZATIONS_LOCATION = "/api/v2/organizations"
ACTIVITIES_LOCATION = "/api/v2/activities"
NOTES_LOCATION = "/api/v1/notes"

_checked_time = checked_value(parse_time, "date/time (RFC 3339 or YYYY-MM-DD HH:MM:SS)")
_checked_date = checked_value(to_date(parse_time), "date (YYYY-MM-DD)")
# history entries and cursors: an unreadable stamp skips the entry, never the source
_time = lenient(parse_time)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):  # v1 sometimes expands references into objects
        value = value.get("id", value.get("value"))
    return None if value is None or value == "" else str(value)


# ----- deals ---------------------------------------------------------------------------------


def deal_row(
    src: str, d: Mapping[str, Any], fields: CustomFields, location: str = DEALS_LOCATION
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One deal plus quarantine rows for the optional values it was loaded without (a bad
    amount, probability, date or timestamp drops only that value and names the field)."""
    vals = BadValues(src, CRM, "deals", str(d["id"]), location)
    org = _id(d.get("org_id"))
    status = str(d.get("status") or "open")
    outcome_field = "won_time" if status == "won" else "lost_time"
    closed = (
        vals.get(outcome_field, d.get(outcome_field), _checked_time)
        if status in ("won", "lost")
        else None
    )
    added = vals.get("add_time", d.get("add_time"), _checked_time)
    row = {
        "source_name": src,
        "crm": CRM,
        "deal_key": make_key(src, d["id"]),
        "source_deal_id": str(d["id"]),
        "name": d.get("title"),
        "pipeline_id": _id(d.get("pipeline_id")),
        "stage_id": _id(d.get("stage_id")),
        "status": status if status in ("open", "won", "lost") else "open",
        "amount": vals.get("value", d.get("value"), parse_amount),
        "currency": d.get("currency"),
        "probability": vals.get("probability", d.get("probability"), parse_percent),
        "owner_id": _id(d.get("owner_id")),
        "account_id": org,
        "account_name": None,  # v2 deals carry only org_id; accounts.name has the name
        "account_key": make_key(src, org) if org else None,
        "created_at": added,
        "expected_close_date": vals.get(
            "expected_close_date", d.get("expected_close_date"), _checked_date
        ),
        "closed_at": closed or vals.get("close_time", d.get("close_time"), _checked_time),
        "lost_reason": d.get("lost_reason") if status == "lost" else None,
        "updated_at": vals.get("update_time", d.get("update_time"), _checked_time),
        "stage_changed_at": vals.get("stage_change_time", d.get("stage_change_time"), _checked_time)
        or added,
        "is_deleted": bool(d.get("is_deleted")),
        "custom_fields": fields.values(d.get("custom_fields"), vals),
    }
    return row, vals.rows


REMOVED = "removed"
"""The hard-delete column of ``deal_accounts`` (see ``deal_account_row``)."""


def deal_account_row(src: str, d: Mapping[str, Any]) -> dict[str, Any]:
    """The deal's one association: its organisation, primary. A deal without one yields a
    row marked ``removed`` (dlt's hard delete): its ``deal_key`` clears the association
    an earlier run loaded, and the row itself is not stored."""
    org = _id(d.get("org_id"))
    return {
        "source_name": src,
        "crm": CRM,
        "deal_key": make_key(src, d["id"]),
        "account_key": make_key(src, org if org else "-"),
        "is_primary": True,
        "label": None,
        REMOVED: org is None,
    }


# ----- organisations -------------------------------------------------------------------------


def organization_row(
    src: str,
    o: Mapping[str, Any],
    fields: CustomFields,
    location: str = ORGANIZATIONS_LOCATION,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One organisation as an account, plus quarantine rows for the optional values it was
    loaded without (a bad timestamp, an unknown industry or custom option, a custom value
    that does not fit its field). ``domain`` is the website's host (``values.web_domain``);
    ``country`` is the address's country as Pipedrive holds it."""
    vals = BadValues(src, CRM, "accounts", str(o["id"]), location)
    website = o.get("website")
    if website is not None and not isinstance(website, str):
        vals.add("website", website, "not a text; the organisation was loaded without it")
        website = None
    address = o.get("address")
    country = address.get("country") if isinstance(address, Mapping) else None
    row = {
        "source_name": src,
        "crm": CRM,
        "account_key": make_key(src, o["id"]),
        "source_account_id": str(o["id"]),
        "name": o.get("name"),
        "website": website or None,
        "domain": web_domain(website),
        "industry": fields.standard_label("industry", o.get("industry"), vals),
        "country": country or None,
        "owner_id": _id(o.get("owner_id")),
        "created_at": vals.get("add_time", o.get("add_time"), _checked_time),
        "updated_at": vals.get("update_time", o.get("update_time"), _checked_time),
        "is_deleted": bool(o.get("is_deleted")),
        "custom_fields": fields.values(o.get("custom_fields"), vals),
    }
    return row, vals.rows


_V1_ADDRESS = (
    "subpremise",
    "street_number",
    "route",
    "sublocality",
    "locality",
    "admin_area_level_1",
    "admin_area_level_2",
    "country",
    "postal_code",
)


def organization_from_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 organisation (``/v1/recents``: ``owner_id`` an object, ``active_flag``, flat
    ``address_*`` parts, custom fields at the top level) in the v2 shape ``organization_row``
    reads."""
    address = {"value": data.get("address")} | {
        part: data.get(f"address_{part}") for part in _V1_ADDRESS
    }
    return {
        "id": data["id"],
        "name": data.get("name"),
        "owner_id": _id(data.get("owner_id")),
        "add_time": data.get("add_time"),
        "update_time": data.get("update_time"),
        "is_deleted": data.get("active_flag") is False,
        "address": address,
        "website": data.get("website"),
        "industry": data.get("industry"),
        "custom_fields": {k: v for k, v in data.items() if HASH_KEY.match(str(k))},
    }


# ----- stage history -------------------------------------------------------------------------


@dataclass(frozen=True)
class HubIdentity:
    """How the hub recognises its own writes in the flow: the API, as the token's user."""

    user_id: str | None

    def origin(self, change: Mapping[str, Any]) -> str:
        by_hub = (
            self.user_id is not None
            and str(change.get("change_source") or "") == "api"
            and _id(change.get("user_id")) == self.user_id
        )
        return "hub_push" if by_hub else "crm_history"


def _change_row(
    src: str,
    deal: Mapping[str, Any],
    at: datetime,
    stage: str,
    prev: str | None,
    by: str | None,
    origin: str,
) -> dict[str, Any]:
    return {
        "source_name": src,
        "crm": CRM,
        "deal_key": make_key(src, deal["id"]),
        "changed_at": at,
        "stage_id": stage,
        "from_stage_id": prev,
        "pipeline_id": _id(deal.get("pipeline_id")),
        "changed_by": by,
        "origin": origin,
    }


def initial_entry(src: str, deal: Mapping[str, Any]) -> dict[str, Any] | None:
    """A deal that never moved entered its stage when it was added."""
    added = _time(deal.get("add_time"))
    stage = _id(deal.get("stage_id"))
    if added is None or stage is None:
        return None
    return _change_row(src, deal, added, stage, None, None, "crm_history")


def terminal_entry(src: str, deal: Mapping[str, Any]) -> dict[str, Any] | None:
    """The won/lost step taken from the deal itself (when no flow was read for it)."""
    status = deal.get("status")
    if status not in ("won", "lost"):
        return None
    at = _time(deal.get("won_time") if status == "won" else deal.get("lost_time"))
    if at is None:
        return None
    stage = WON_STAGE_ID if status == "won" else LOST_STAGE_ID
    return _change_row(src, deal, at, stage, _id(deal.get("stage_id")), None, "crm_history")


def history_rows(
    src: str, deal: Mapping[str, Any], flow: Iterable[Mapping[str, Any]], me: HubIdentity
) -> list[dict[str, Any]]:
    """A deal's whole stage history from its ``dealChange`` flow items (any order)."""
    changes = []
    for item in flow:
        if not item or item.get("object") != "dealChange":
            continue
        data = item.get("data") or {}
        if data.get("field_key") not in ("stage_id", "status"):
            continue
        at = _time(data.get("log_time") or item.get("timestamp"))
        if at is not None:
            changes.append((at, int(data.get("id") or 0), data))
    changes.sort(key=lambda c: (c[0], c[1]))
    stage_moves = [c for c in changes if c[2].get("field_key") == "stage_id"]
    first = _id(stage_moves[0][2].get("old_value")) if stage_moves else _id(deal.get("stage_id"))
    rows: list[dict[str, Any]] = []
    added = _time(deal.get("add_time"))
    if added is not None and first is not None:
        rows.append(_change_row(src, deal, added, first, None, None, "crm_history"))
    stage, position = first, first  # position: the stage, or won/lost while closed
    for at, _, data in changes:
        by, origin = _id(data.get("user_id")), me.origin(data)
        new = _id(data.get("new_value"))
        if data.get("field_key") == "stage_id":
            stage = new
            if position in (WON_STAGE_ID, LOST_STAGE_ID) or new == position or new is None:
                continue  # a closed deal moved silently; the reopen step will land there
            rows.append(_change_row(src, deal, at, new, position, by, origin))
            position = new
        elif new in ("won", "lost"):
            target = WON_STAGE_ID if new == "won" else LOST_STAGE_ID
            if target != position:
                rows.append(_change_row(src, deal, at, target, position, by, origin))
                position = target
        elif new == "open" and position in (WON_STAGE_ID, LOST_STAGE_ID) and stage is not None:
            rows.append(_change_row(src, deal, at, stage, position, by, origin))
            position = stage
    if not any(r["stage_id"] in (WON_STAGE_ID, LOST_STAGE_ID) for r in rows):
        terminal = terminal_entry(src, deal)
        if terminal is not None:
            rows.append(terminal)
    return rows


# ----- the small tables ----------------------------------------------------------------------


def pipeline_row(src: str, p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "source_name": src,
        "crm": CRM,
        "pipeline_key": make_key(src, p["id"]),
        "pipeline_id": str(p["id"]),
        "label": p.get("name"),
        "display_order": p.get("order_nr"),
        "is_deleted": bool(p.get("is_deleted")),
    }


def stage_row(src: str, s: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "source_name": src,
        "crm": CRM,
        "stage_key": make_key(src, s["id"]),
        "pipeline_id": _id(s.get("pipeline_id")),
        "stage_id": str(s["id"]),
        "label": s.get("name"),
        "display_order": s.get("order_nr"),
        "probability": stage_probability(s.get("deal_probability"), percent=True),
        "is_closed": False,
        "is_won": False,
        "is_deleted": bool(s.get("is_deleted")),
    }


def outcome_stage_rows(src: str) -> list[dict[str, Any]]:
    """The pseudo stages ``won`` and ``lost`` that carry Pipedrive's deal outcomes."""
    return [
        {
            "source_name": src,
            "crm": CRM,
            "stage_key": make_key(src, sid),
            "pipeline_id": None,
            "stage_id": sid,
            "label": label,
            "display_order": order,
            "probability": prob,
            "is_closed": True,
            "is_won": sid == WON_STAGE_ID,
            "is_deleted": False,
        }
        for sid, label, order, prob in (
            (WON_STAGE_ID, "Won", 1000, 1.0),
            (LOST_STAGE_ID, "Lost", 1001, 0.0),
        )
    ]


def owner_row(src: str, u: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "source_name": src,
        "crm": CRM,
        "owner_key": make_key(src, u["id"]),
        "source_owner_id": str(u["id"]),
        "name": u.get("name"),
        "email": u.get("email"),
        "team": None,
        "is_active": bool(u.get("active_flag", True)) and not u.get("is_deleted", False),
    }


def _duration_s(value: Any) -> int | None:
    """``HH:MM`` or ``HH:MM:SS`` -> seconds; anything else raises ``ValueError``."""
    parts = [int(p) for p in str(value).split(":")]
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
        raise ValueError(value)
    while len(parts) < 3:
        parts.append(0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


_checked_duration = checked_value(_duration_s, "duration (HH:MM)")


def _clock(value: Any) -> time:
    return time.fromisoformat(str(value).strip())


_checked_clock = checked_value(_clock, "time of day (HH:MM)")


def _occurred(a: Mapping[str, Any], vals: BadValues) -> datetime | None:
    """Its due date at its due time (UTC, midnight when absent), else when it was done,
    else when it was added; a bad value is quarantined and the next one used."""
    day = vals.get("due_date", a.get("due_date"), _checked_date)
    if day is not None:
        clock = vals.get("due_time", a.get("due_time"), _checked_clock) or time()
        return datetime.combine(day, clock.replace(tzinfo=None), tzinfo=UTC)
    done = vals.get("marked_as_done_time", a.get("marked_as_done_time"), _checked_time)
    return done or vals.get("add_time", a.get("add_time"), _checked_time)


def activity_row(
    src: str,
    a: Mapping[str, Any],
    type_map: Mapping[str, str],
    location: str = ACTIVITIES_LOCATION,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One activity (``None`` without an id) plus quarantine rows for the optional values
    it was loaded without: a garbage due date or ``update_time`` costs only that value."""
    activity_id = _id(a.get("id"))
    vals = BadValues(src, CRM, "activities", activity_id, location)
    if activity_id is None:
        vals.add("id", None, "activity without an id; skipped")
        return None, vals.rows
    key = str(a.get("type") or "")
    deal_id = _id(a.get("deal_id"))
    row = {
        "source_name": src,
        "crm": CRM,
        "activity_key": make_key(src, activity_id),
        "source_activity_id": activity_id,
        "type": type_map.get(key) or ACTIVITY_TYPE_MAP.get(key) or "other",
        "subject": a.get("subject"),
        "occurred_at": _occurred(a, vals),
        "completed": a.get("done"),
        "owner_id": _id(a.get("owner_id")),
        "deal_key": make_key(src, deal_id) if deal_id else None,
        "duration_s": vals.get("duration", a.get("duration"), _checked_duration),
        "direction": None,
        "outcome": None,
        "updated_at": vals.get("update_time", a.get("update_time"), _checked_time),
        "is_deleted": bool(a.get("is_deleted")),
    }
    return row, vals.rows


def note_row(
    src: str, n: Mapping[str, Any], location: str = NOTES_LOCATION
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Notes are activities of type ``note``; their ids get a prefix so they never collide.
    Bad timestamps are quarantined like an activity's."""
    note_id = _id(n.get("id"))
    native = None if note_id is None else f"note-{note_id}"
    vals = BadValues(src, CRM, "activities", native, location)
    if native is None:
        vals.add("id", None, "note without an id; skipped")
        return None, vals.rows
    deal_id = _id(n.get("deal_id"))
    content = n.get("content")
    row = {
        "source_name": src,
        "crm": CRM,
        "activity_key": make_key(src, native),
        "source_activity_id": native,
        "type": "note",
        "subject": content[:500] if isinstance(content, str) else content,
        "occurred_at": vals.get("add_time", n.get("add_time"), _checked_time),
        "completed": True,
        "owner_id": _id(n.get("user_id")),
        "deal_key": make_key(src, deal_id) if deal_id else None,
        "duration_s": None,
        "direction": None,
        "outcome": None,
        "updated_at": vals.get("update_time", n.get("update_time"), _checked_time),
        "is_deleted": n.get("active_flag") is False,
    }
    return row, vals.rows
