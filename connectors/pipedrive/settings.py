"""Pipedrive's endpoints, costs and vocabularies as data.

Token costs are the ``x-token-cost`` values of the official OpenAPI files (v1.yaml,
v2.yaml); the connector charges them against the run's share of the daily budget and the
sandbox charges them against its fake company's budget, so both agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
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
}

# Burst limit per 2-second window by plan (Pipedrive's rate-limiting docs).
BURST_WINDOW_S = 2.0
BURST_BY_PLAN: dict[str, dict[str, int]] = {
    "api_token": {"essential": 20, "advanced": 40, "professional": 80, "enterprise": 120},
    "oauth": {"essential": 80, "advanced": 160, "professional": 320, "enterprise": 480},
}
Plan = Literal["essential", "advanced", "professional", "enterprise"]

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
