"""Pipedrive's endpoints, costs and vocabularies as data.

Token costs are the ``x-token-cost`` values of the official OpenAPI files (v1.yaml,
v2.yaml): v2 lists 10 (pipelines, stages 5), v1 lists 20, v2 get-one 1, v1 get-one 2, v2
PATCH 5, v1 PUT 10, v2 search 20, v1 search and the v1 flow 40. The connector charges them
against the day's budget (its own count when the daily header is absent) and the sandbox
charges them against its fake company's budget, so both agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Paging = Literal["cursor", "offset", "none"]


@dataclass(frozen=True)
class Endpoint:
    path: str  # relative to the company host, e.g. /api/v2/deals
    cost: int  # tokens per request (x-token-cost)
    paging: Paging
    max_limit: int = 500


ENDPOINTS: dict[str, Endpoint] = {
    "deals": Endpoint("/api/v2/deals", 10, "cursor"),
    "deals_archived": Endpoint("/api/v2/deals/archived", 20, "cursor"),
    "deal": Endpoint("/api/v2/deals/{id}", 1, "none"),
    "deal_patch": Endpoint("/api/v2/deals/{id}", 5, "none"),
    "pipelines": Endpoint("/api/v2/pipelines", 5, "cursor"),
    "stages": Endpoint("/api/v2/stages", 5, "cursor"),
    "activities": Endpoint("/api/v2/activities", 10, "cursor"),
    "deal_fields_v2": Endpoint("/api/v2/dealFields", 10, "cursor"),
    "deal_field_create": Endpoint("/api/v2/dealFields", 5, "none"),
    "users": Endpoint("/api/v1/users", 20, "none"),
    "deal_fields": Endpoint("/api/v1/dealFields", 20, "offset"),
    "notes": Endpoint("/api/v1/notes", 20, "offset"),
    "flow": Endpoint("/api/v1/deals/{id}/flow", 40, "offset"),
    # read by the writer after each PATCH: what a field held just before the hub's write
    "changelog": Endpoint("/api/v1/deals/{id}/changelog", 20, "cursor"),
    "organizations": Endpoint("/api/v2/organizations", 10, "cursor"),
    "organization": Endpoint("/api/v2/organizations/{id}", 1, "none"),
    "organization_fields": Endpoint("/api/v1/organizationFields", 20, "offset"),
    # read only for deleted organisations (the v2 list has none); reaches back one month
    "recents": Endpoint("/api/v1/recents", 20, "offset"),
}

BURST_WINDOW_S = 2.0
BASE_DAILY_TOKENS = 30_000  # a company's daily tokens = base x plan multiplier x seats


@dataclass(frozen=True)
class PlanLimits:
    multiplier: int  # of BASE_DAILY_TOKENS per seat
    burst_api_token: int  # requests per 2-second window per api_token
    burst_oauth: int  # requests per 2-second window per OAuth access_token


# Pipedrive's plans, current names first (2025 on), then the older names still on existing
# accounts. Daily tokens: support.pipedrive.com "Usage limits in Pipedrive" (API tokens per
# company, 30,000 x seats for Lite/Essential up to 210,000 x seats for Ultimate/Enterprise);
# bursts: pipedrive.readme.io core-api-concepts-rate-limiting (older plan names). Growth and
# Premium multipliers, and the new plans' bursts, are those of the older plan with the same
# budget [verify]: the vendor pages found list them only for the older names.
PLANS: dict[str, PlanLimits] = {
    "lite": PlanLimits(1, 20, 80),
    "growth": PlanLimits(2, 40, 160),
    "premium": PlanLimits(5, 100, 400),
    "ultimate": PlanLimits(7, 120, 480),
    "essential": PlanLimits(1, 20, 80),
    "advanced": PlanLimits(2, 40, 160),
    "professional": PlanLimits(3, 80, 320),
    "power": PlanLimits(5, 100, 400),
    "enterprise": PlanLimits(7, 120, 480),
}


def burst_limit(plan: str, auth_kind: str) -> int:
    """Requests per 2-second window for ``auth_kind`` (``api_token`` or ``oauth``)."""
    limits = PLANS[plan]
    return limits.burst_oauth if auth_kind == "oauth" else limits.burst_api_token


def daily_tokens(plan: str, seats: int) -> int:
    """The company's daily token budget as Pipedrive computes it (top-ups not included)."""
    return BASE_DAILY_TOKENS * PLANS[plan].multiplier * seats


# Labels of Pipedrive's default pipeline -> canonical stages. Won and lost are deal
# statuses in Pipedrive, not stages: the connector emits them as the pseudo stages below.
DEFAULT_STAGE_MAP: dict[str, str] = {
    "Qualified": "prospecting",
    "Contact Made": "qualification",
    "Demo Scheduled": "meeting",
    "Proposal Made": "proposal",
    "Negotiations Started": "negotiation",
    "won": "closed_won",
    "lost": "closed_lost",
}
WON_STAGE_ID = "won"
LOST_STAGE_ID = "lost"

# Activity type keys (``key_string`` of /v1/activityTypes) -> canonical activity types.
# Custom types (keys such as ``video_call``) can be mapped through options.activity_type_map.
ACTIVITY_TYPE_MAP: dict[str, str] = {
    "call": "call",
    "email": "email",
    "meeting": "meeting",
    "lunch": "meeting",
    "task": "task",
    "deadline": "task",
}

DEAL_STATUSES = "open,won,lost,deleted"

# How far back /v1/recents answers (since 2024-12-01): deletions older than that are not seen.
RECENTS_REACH = timedelta(days=30)

# Field definitions are kept in the source state and fetched again after this long, or at
# once when a record carries a field key or option id the kept ones do not know.
FIELDS_MAX_AGE = timedelta(hours=24)

# Pipedrive field types -> the canonical FieldDefinition.data_type. ``set`` (multiple
# options) lands as a list of option labels; ``monetary`` and ``daterange`` keep their
# amount and start; user/org/person fields keep the referenced id as text.
FIELD_DATA_TYPES: dict[str, str] = {
    "enum": "enum",
    "set": "enum",
    "double": "number",
    "monetary": "number",
    "date": "date",
    "daterange": "date",
}
"""Every other type (varchar, varchar_auto, text, phone, address, time, timerange, user,
org, people) is ``text``."""
