"""FakeHubspot's companies: the world's accounts as this portal holds them, their
properties, and how deals are associated with them.

Each company is seeded from one world account (``World.source_accounts``), named and with
the website as this source writes them (``companies.account_view``); ``domain`` holds the
bare host, as HubSpot keeps it next to the website. A deal's primary company is its world
account; some deals also have a second company (every 7th), labelled "Reseller" on every
14th, so deals with several companies exist. Associations carry HubSpot's type ids:
341/342 for any deal-company link, 5/6 for the primary one, a USER_DEFINED id for a label.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.synthetic import World
from connectors.synthetic.companies import account_view
from connectors.synthetic.world import Account

# (from, to) -> (any link, primary link, the "Reseller" label's USER_DEFINED id)
COMPANY_TYPE_IDS = {("deals", "companies"): (341, 5, 17), ("companies", "deals"): (342, 6, 18)}
PRIMARY_LABEL = "Primary"  # the primary type's label in v4 answers (HubSpot: key on the id)
RESELLER = "Reseller"
SEGMENTS = (("enterprise", "Enterprise"), ("mid_market", "Mid-Market"), ("smb", "SMB"))
LEAD_SOURCES = (
    ("inbound", "Inbound"),
    ("outbound", "Outbound"),
    ("referral", "Referral"),
    ("partner", "Partner"),
    ("event", "Event"),
)
_COMPANY_STANDARD = (  # name, type, fieldType: HubSpot-defined on every portal
    ("name", "string", "text"),
    ("domain", "string", "text"),
    ("website", "string", "text"),
    ("industry", "enumeration", "select"),
    ("country", "string", "text"),
    ("city", "string", "text"),
    ("phone", "string", "phonenumber"),
    ("numberofemployees", "number", "number"),
    ("hubspot_owner_id", "enumeration", "select"),
    ("createdate", "datetime", "date"),
    ("hs_lastmodifieddate", "datetime", "date"),
    ("hs_object_id", "number", "number"),
)
_COMPANY_CUSTOM = (  # the portal's own: an enumeration, a checkbox and a date
    ("segment", "enumeration", "select"),
    ("key_account", "bool", "booleancheckbox"),
    ("renewal_date", "date", "date"),
)
_LABELS = {
    "name": "Company name",
    "domain": "Company Domain Name",
    "numberofemployees": "Number of Employees",
    "hubspot_owner_id": "Company owner",
    "createdate": "Create Date",
    "hs_lastmodifieddate": "Last Modified Date",
    "hs_object_id": "Record ID",
    "key_account": "Key account",
    "renewal_date": "Renewal date",
}


def enum_value(label: str) -> str:
    """An option's internal value as HubSpot's own enumerations spell them
    (``Food & Beverage`` -> ``FOOD_BEVERAGE``)."""
    return "_".join("".join(c if c.isalnum() else " " for c in label).upper().split())


def segment_of(employees: int) -> str:
    """The segment option a company of that size is filed under."""
    return "enterprise" if employees >= 1000 else "mid_market" if employees >= 100 else "smb"


def _options(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"label": label, "value": value, "displayOrder": k, "hidden": False, "description": ""}
        for k, (value, label) in enumerate(pairs)
    ]


def company_properties(world: World, created: str) -> list[dict[str, Any]]:
    """``GET /crm/v3/properties/companies``: HubSpot's standard properties the sandbox's
    companies carry, then the portal's custom ones."""
    industries = sorted({a.industry for a in world.accounts if a.industry})
    options = {
        "industry": _options([(enum_value(i), i) for i in industries]),
        "segment": _options(list(SEGMENTS)),
        "key_account": _options([("true", "Yes"), ("false", "No")]),
    }
    out = []
    for specs, defined in ((_COMPANY_STANDARD, True), (_COMPANY_CUSTOM, False)):
        for name, ptype, field_type in specs:
            out.append(
                {
                    "name": name,
                    "label": _LABELS.get(name, name.replace("_", " ").title()),
                    "type": ptype,
                    "fieldType": field_type,
                    "groupName": "companyinformation",
                    "options": options.get(name, []),
                    "hubspotDefined": defined,
                    "calculated": False,
                    "hasUniqueValue": name == "hs_object_id",
                    "hidden": False,
                    "formField": name not in ("hs_object_id", "createdate"),
                    "description": "",
                    "displayOrder": -1,
                    "createdAt": created,
                    "updatedAt": created,
                    "archived": False,
                }
            )
    return out


def company_values(account: Account, source_index: int, seed: int) -> dict[str, str | None]:
    """A world account's property values as this portal holds them (owner filled later)."""
    view = account_view(account, source_index, seed)
    employees = account.employees or 0
    renewal = (account.created_at or datetime(2024, 1, 1, tzinfo=UTC)) + timedelta(days=730)
    return {
        "name": view.name,
        "website": view.website,
        "domain": account.domain if view.website else None,
        "industry": enum_value(account.industry) if account.industry else None,
        "country": account.country,
        "numberofemployees": str(employees) if account.employees is not None else None,
        "segment": segment_of(employees) if account.employees is not None else None,
        "key_account": "true" if account.index % 5 == 0 else "false",
        "renewal_date": renewal.date().isoformat(),
    }


def second_company(deal_index: int, own: str, choices: list[str], seed: int) -> str | None:
    """Another company of the portal for every 7th deal (the same for any run)."""
    others = [c for c in choices if c != own]
    if deal_index % 7 != 3 or not others:
        return None
    return random.Random(seed * 1_000_003 + deal_index).choice(others)


def v4_types(from_type: str, to_type: str, primary: bool, label: str | None) -> list[Any]:
    """``associationTypes`` of one deal-company link in a v4 answer."""
    plain, primary_id, label_id = COMPANY_TYPE_IDS[(from_type, to_type)]
    types: list[dict[str, Any]] = [{"category": "HUBSPOT_DEFINED", "typeId": plain, "label": None}]
    if primary:
        types.append({"category": "HUBSPOT_DEFINED", "typeId": primary_id, "label": PRIMARY_LABEL})
    if label:
        types.append({"category": "USER_DEFINED", "typeId": label_id, "label": label})
    return types


def v3_types(from_type: str, to_type: str, primary: bool) -> list[str]:
    """A v3 ``associations`` listing names a primary link twice: ``deal_to_company`` and
    ``deal_to_company_unlabeled``; any other link once, unlabeled."""
    name = "deal_to_company" if from_type == "deals" else "company_to_deal"
    return [name, f"{name}_unlabeled"] if primary else [f"{name}_unlabeled"]
