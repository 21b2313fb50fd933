"""HubSpot companies and deal-to-company associations -> canonical rows. Pure functions.

A deal may be associated with several companies; one of them is the primary company
(HUBSPOT_DEFINED association type 5, next to the plain type 341 every association has).
``deals.account_key`` is the primary one; ``deal_accounts`` holds them all, primary first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from connectors.hubspot import settings
from connectors.hubspot.fields import FieldSet
from connectors.hubspot.mapping import CRM, _ts, _ts_or_none, checked
from connectors.values import BadValues, web_domain
from models.canonical import Account, DealAccount, make_key

Row = dict[str, Any]
# dlt's hard-delete column on deal_accounts: a row carrying it removes every association of
# its deal (merge key deal_key) and is not stored itself
REMOVED = "hub_removed"


@dataclass(frozen=True)
class CompanyLink:
    """One company a deal is associated with."""

    company_id: str
    is_primary: bool
    label: str | None


def company_links(to: list[dict[str, Any]]) -> list[CompanyLink]:
    """The ``to`` list of one v4 batch-read result, primary first, then by id. The label is
    what people named the association (USER_DEFINED labels); the primary type's own label
    is HubSpot's wording and is carried by ``is_primary`` instead."""
    links: dict[str, CompanyLink] = {}
    for target in to:
        company_id = str(target.get("toObjectId"))
        types = target.get("associationTypes") or []
        primary = any(t.get("typeId") == settings.PRIMARY_COMPANY_TYPE_ID for t in types)
        labels = [
            str(t["label"])
            for t in types
            if t.get("label") and t.get("typeId") != settings.PRIMARY_COMPANY_TYPE_ID
        ]
        known = links.get(company_id)
        if known is not None:  # one company listed twice: merge what both entries say
            primary = primary or known.is_primary
            labels = [*(known.label.split("; ") if known.label else []), *labels]
        links[company_id] = CompanyLink(
            company_id, primary, "; ".join(dict.fromkeys(labels)) or None
        )
    ordered = sorted(
        links.values(), key=lambda k: (not k.is_primary, len(k.company_id), k.company_id)
    )
    # HubSpot allows one primary company; should two arrive, the first keeps the mark
    return [
        CompanyLink(link.company_id, link.is_primary and k == 0, link.label)
        for k, link in enumerate(ordered)
    ]


def primary_company(links: list[CompanyLink] | None) -> str | None:
    return links[0].company_id if links and links[0].is_primary else None


def deal_account_rows(source: str, deal_id: str, links: list[CompanyLink]) -> list[Row]:
    """Every association of one deal; none at all is one row that removes those loaded
    before (the table merges on ``deal_key``, so the rows sent replace the deal's set)."""
    deal_key = make_key(source, deal_id)
    if not links:
        return [
            {"source_name": source, "crm": CRM, "deal_key": deal_key, "account_key": "-",
             REMOVED: True}
        ]  # fmt: skip
    return [
        checked(
            DealAccount,
            {
                "source_name": source,
                "crm": CRM,
                "deal_key": deal_key,
                "account_key": make_key(source, link.company_id),
                "is_primary": link.is_primary,
                "label": link.label,
            },
        )
        for link in links
    ]


def account_row(
    source: str,
    raw: dict[str, Any],
    labels: dict[str, dict[str, str]],
    fields: FieldSet,
    *,
    archived: bool,
) -> tuple[Row | None, list[Row]]:
    """One company (``None`` when unusable) plus quarantine rows for bad values. ``domain``
    is HubSpot's company domain (a bare host), else the website's host."""
    props: dict[str, Any] = raw.get("properties") or {}
    company_id = str(raw["id"])
    vals = BadValues(source, CRM, "accounts", company_id, "/crm/v3/objects/companies")
    industry = props.get("industry") or None
    data = {
        "source_name": source,
        "crm": CRM,
        "account_key": make_key(source, company_id),
        "source_account_id": company_id,
        "name": props.get("name") or None,
        "website": props.get("website") or None,
        "domain": web_domain(props.get("domain")) or web_domain(props.get("website")),
        "industry": labels.get("industry", {}).get(industry, industry) if industry else None,
        "country": props.get("country") or None,
        "owner_id": props.get("hubspot_owner_id") or None,
        "created_at": vals.get("createdate", props.get("createdate"), _ts)
        or _ts_or_none(raw.get("createdAt")),
        "updated_at": vals.get(settings.LASTMOD, props.get(settings.LASTMOD), _ts)
        or _ts_or_none(raw.get("updatedAt")),
        "is_deleted": archived or bool(raw.get("archived")),
        "custom_fields": fields.values(props, vals),
    }
    try:
        return checked(Account, data), vals.rows
    except ValidationError as exc:
        vals.add(None, None, str(exc))
        return None, vals.rows
