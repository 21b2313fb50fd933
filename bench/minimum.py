"""The page-size minimum of a full sync: the fewest requests each vendor's page sizes allow.

Computed from what a sandbox holds (``sandbox_counts``), with the same formulas as the
connectors' own cost tests (tests/*/test_costs.py, test_sync.py). Salesforce's minimum is
the REST one (2,000 records a page); its Bulk API 2.0 path, used on large first syncs,
can go below it.
"""

from __future__ import annotations

from math import ceil
from typing import Any

PIPEDRIVE_METADATA = 4  # users, dealFields, pipelines, stages
SALESFORCE_OBJECTS = (
    "Opportunity",
    "OpportunityHistory",
    "Task",
    "Event",
    "User",
    "OpportunityStage",
)


def sandbox_counts(kind: str, server: Any) -> dict[str, int]:
    """Record counts of a seeded sandbox that the minimum depends on."""
    if kind == "hubspot":
        return dict(server.counts())
    if kind == "pipedrive":
        store = server.store
        live = sum(1 for d in store.deals.values() if not d["is_archived"])
        return {
            "deals_live": live,
            "deals_archived": len(store.deals) - live,
            "activities": len(store.activities),
            "notes": len(store.notes),
            "moved_deals": sum(1 for d in store.deals.values() if d["stage_change_time"]),
        }
    if kind == "salesforce":
        return {obj: len(server.org.tables[obj]) for obj in SALESFORCE_OBJECTS}
    raise ValueError(kind)


def page_minimum(kind: str, c: dict[str, int]) -> int:
    if kind == "hubspot":
        from connectors.hubspot import settings

        n = 2  # pipelines, deal properties
        n += max(1, ceil(c["owners_live"] / settings.OWNERS_PAGE_MAX))
        n += max(1, ceil(c["owners_archived"] / settings.OWNERS_PAGE_MAX))
        n += max(1, ceil(c["deals_archived"] / settings.LIST_WITH_HISTORY_MAX))
        n += ceil(c["deals_live"] / settings.LIST_WITH_HISTORY_MAX)
        for t in settings.ACTIVITY_OBJECTS:
            n += ceil(c[f"{t}_live"] / settings.LIST_PAGE_MAX)
            n += ceil(c[f"{t}_live"] / settings.ASSOCIATIONS_BATCH_MAX)
        return n
    if kind == "pipedrive":
        pages = lambda n: max(1, ceil(n / 500))  # noqa: E731
        return (
            pages(c["deals_live"])
            + pages(c["deals_archived"])
            + pages(c["activities"])
            + pages(c["notes"])
            + PIPEDRIVE_METADATA
            + c["moved_deals"]
        )
    if kind == "salesforce":
        return 1 + sum(ceil(c[obj] / 2000) for obj in SALESFORCE_OBJECTS)  # + the token request
    raise ValueError(kind)


def activity_count(kind: str, c: dict[str, int]) -> int:
    if kind == "hubspot":
        from connectors.hubspot import settings

        return sum(c[f"{t}_live"] for t in settings.ACTIVITY_OBJECTS)
    if kind == "pipedrive":
        return c["activities"] + c["notes"]
    return c["Task"] + c["Event"]


def deal_count(kind: str, c: dict[str, int]) -> int:
    if kind == "hubspot":
        return c["deals_live"] + c["deals_archived"]
    if kind == "pipedrive":
        return c["deals_live"] + c["deals_archived"]
    return c["Opportunity"]
