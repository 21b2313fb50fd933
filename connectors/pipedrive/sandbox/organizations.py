"""The sandbox company's organisations, in Pipedrive's shapes.

Seeded from the world's companies as this source writes them (``companies.account_view``:
the name and website as typed here), with the world's owner, country, industry, segment
and size. Where Pipedrive puts each:

* ``website``: a standard v2 field; ``industry``: a standard field holding an option id of
  ``/v1/organizationFields`` ``industry``; the country: ``address.country``, the country's
  English name as Pipedrive's address autocomplete writes it ("Germany", not "DE");
* ``Segment`` (single option) and ``Employees`` (number): custom fields, 40-character keys.

Deleted organisations are not in the v2 list or get-one (only deals have a ``status``
filter that reaches deleted records); ``/v1/recents`` reports them (``active_flag``
false) for 30 days. v1 clients see organisations with v1 names (``owner_id`` an object,
flat ``address_*`` parts, custom fields at the top level; option ids as text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

# ISO code (the world's) -> the name Pipedrive's address field holds.
COUNTRY_NAMES: dict[str, str] = {
    "BR": "Brazil",
    "CA": "Canada",
    "DE": "Germany",
    "DK": "Denmark",
    "FR": "France",
    "GB": "United Kingdom",
    "JP": "Japan",
    "NL": "Netherlands",
    "PL": "Poland",
    "SE": "Sweden",
    "US": "United States",
}
SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
ORG_ADDRESS_PARTS = (
    "subpremise",
    "street_number",
    "route",
    "sublocality",
    "locality",
    "admin_area_level_1",
    "admin_area_level_2",
    "postal_code",
)
# What ``include_fields`` may ask of /v2/organizations (the enum of the official v2 spec).
ORG_INCLUDE_FIELDS = frozenset(
    [
        "next_activity_id",
        "last_activity_id",
        "open_deals_count",
        "related_open_deals_count",
        "closed_deals_count",
        "related_closed_deals_count",
        "email_messages_count",
        "people_count",
        "activities_count",
        "done_activities_count",
        "undone_activities_count",
        "files_count",
        "notes_count",
        "followers_count",
        "won_deals_count",
        "related_won_deals_count",
        "lost_deals_count",
        "related_lost_deals_count",
        "smart_bcc_email",
    ]
)
ORG_SORTS = ("id", "update_time", "add_time")


def address(country_name: str | None) -> dict[str, Any] | None:
    if not country_name:
        return None
    return {"value": country_name, "country": country_name} | dict.fromkeys(ORG_ADDRESS_PARTS)


def organization(
    org_id: int,
    name: str,
    owner_id: int,
    created: str,
    updated: str,
    *,
    website: str | None,
    country: str | None,
    industry: int | None,
    custom: dict[str, Any],
) -> dict[str, Any]:
    """One organisation in the v2 shape (``GET /api/v2/organizations``)."""
    return {
        "id": org_id,
        "name": name,
        "owner_id": owner_id,
        "add_time": created,
        "update_time": updated,
        "is_deleted": False,
        "visible_to": 3,
        "address": address(COUNTRY_NAMES.get(country or "", country)),
        "label_ids": [],
        "website": website,
        "linkedin": None,
        "industry": industry,
        "annual_revenue": None,
        "employee_count": None,
        "custom_fields": custom,
    }


def included(
    orgs: Iterable[dict[str, Any]], names: list[str], deals: Iterable[dict[str, Any]], seed: int
) -> list[dict[str, Any]]:
    """Copies of ``orgs`` with the optional fields ``names`` added: deal counts from the
    company's deals (live ones); people, mail, files and notes are not modelled (0)."""
    counts: dict[int, dict[str, int]] = {}
    for d in deals:
        if d["is_deleted"] or d.get("org_id") is None:
            continue
        c = counts.setdefault(d["org_id"], {"open": 0, "won": 0, "lost": 0})
        c[d["status"]] += 1
    out = []
    for org in orgs:
        c = counts.get(org["id"], {"open": 0, "won": 0, "lost": 0})
        values: dict[str, Any] = {
            "next_activity_id": None,
            "last_activity_id": None,
            "open_deals_count": c["open"],
            "related_open_deals_count": c["open"],
            "closed_deals_count": c["won"] + c["lost"],
            "related_closed_deals_count": c["won"] + c["lost"],
            "won_deals_count": c["won"],
            "related_won_deals_count": c["won"],
            "lost_deals_count": c["lost"],
            "related_lost_deals_count": c["lost"],
            "email_messages_count": 0,
            "people_count": 0,
            "activities_count": 0,
            "done_activities_count": 0,
            "undone_activities_count": 0,
            "files_count": 0,
            "notes_count": 0,
            "followers_count": 1,
            "smart_bcc_email": f"company{seed}+org{org['id']}@pipedrivemail.com",
        }
        out.append(org | {name: values[name] for name in names})
    return out


def with_option_labels(
    org: dict[str, Any], option_fields: dict[str, dict[int, str]]
) -> dict[str, Any]:
    """``include_option_labels=true``: option values as ``{id, label}`` objects."""
    custom = dict(org["custom_fields"])
    for key, labels in option_fields.items():
        value = custom.get(key)
        if isinstance(value, list):
            custom[key] = [{"id": v, "label": labels.get(v)} for v in value]
        elif value is not None:
            custom[key] = {"id": value, "label": labels.get(value)}
    return org | {"custom_fields": custom}


def as_v1(
    org: dict[str, Any],
    users: dict[int, dict[str, Any]],
    field_types: dict[str, str],
    v1time: Callable[[datetime], str],
    parse: Callable[[str], datetime],
    seed: int,
) -> dict[str, Any]:
    """The organisation as v1 (and the recents feed) writes it."""
    owner = users.get(org["owner_id"]) or {}
    addr = org.get("address") or {}
    row: dict[str, Any] = {
        "id": org["id"],
        "company_id": 7_000_001,
        "owner_id": {
            "id": org["owner_id"],
            "name": owner.get("name"),
            "email": owner.get("email"),
            "has_pic": 0,
            "pic_hash": None,
            "active_flag": bool(owner.get("active_flag", True)),
            "value": org["owner_id"],
        },
        "name": org["name"],
        "active_flag": not org["is_deleted"],
        "country_code": None,
        "first_char": (org["name"] or " ")[0].lower(),
        "add_time": v1time(parse(org["add_time"])),
        "update_time": v1time(parse(org["update_time"])),
        "visible_to": str(org["visible_to"]),
        "label": None,
        "label_ids": org["label_ids"],
        "owner_name": owner.get("name"),
        "cc_email": f"company{seed}@pipedrivemail.com",
        "address": addr.get("value"),
        "address_formatted_address": addr.get("value"),
        "address_country": addr.get("country"),
        "website": org["website"],
        "industry": org["industry"],
    }
    row |= {f"address_{part}": addr.get(part) for part in ORG_ADDRESS_PARTS}
    for key, value in org["custom_fields"].items():  # v1: top level, option ids as text
        kind = field_types.get(key)
        if kind == "set" and isinstance(value, list):
            value = ",".join(map(str, value)) or None
        elif kind == "enum" and value is not None:
            value = str(value)
        row[key] = value
    return row
