"""HubSpot API facts as data: endpoints, page sizes, property names, default stages.

Kept apart from the code so a reader checks the numbers against HubSpot's reference in
one place (see README.md for the sources).
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.hubapi.com"

# Page and batch ceilings HubSpot enforces.
LIST_PAGE_MAX = 100
LIST_WITH_HISTORY_MAX = 50
SEARCH_PAGE_MAX = 200
SEARCH_RESULT_CAP = 10_000
BATCH_READ_MAX = 100
BATCH_READ_WITH_HISTORY_MAX = 50
BATCH_UPDATE_MAX = 100
ASSOCIATIONS_BATCH_MAX = 1_000
OWNERS_PAGE_MAX = 500
# HubSpot refuses request lines past about 16,300 characters with a 414 (undocumented; found
# by Airbyte's source by experiment). A GET carries at most this many characters of encoded
# property names; the rest of a list request's line is under 200, so every line stays under
# 15,000, the peers' margin. Properties past it are read by POST batch/read (see source.py).
URL_PROPERTIES_MAX = 14_800

DEALS = "deals"
COMPANIES = "companies"
ACTIVITY_OBJECTS: dict[str, str] = {
    "calls": "call",
    "emails": "email",
    "meetings": "meeting",
    "notes": "note",
    "tasks": "task",
}
LASTMOD = "hs_lastmodifieddate"
# The legacy engagements feed covers every activity type in one call; the hub uses it only
# as a cheap "did anything change?" probe (30 days back, 10,000 records at most).
RECENT_ENGAGEMENTS = "/engagements/v1/engagements/recent/modified"
RECENT_ENGAGEMENTS_DAYS = 30
RECENT_ENGAGEMENTS_PAGE_MAX = 100
ENGAGEMENT_TYPES: dict[str, str] = {
    "CALL": "calls",
    "EMAIL": "emails",
    "INCOMING_EMAIL": "emails",
    "FORWARDED_EMAIL": "emails",
    "MEETING": "meetings",
    "NOTE": "notes",
    "TASK": "tasks",
}
DATE_ENTERED_PREFIX = "hs_v2_date_entered_"

DEAL_PROPERTIES: tuple[str, ...] = (
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    LASTMOD,
    "hubspot_owner_id",
    "hs_object_id",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_deal_stage_probability",
    "hs_forecast_probability",
    "closed_lost_reason",
)

# Company properties every account row is built from (HubSpot-defined on every portal).
COMPANY_PROPERTIES: tuple[str, ...] = (
    "name",
    "domain",
    "website",
    "industry",
    "country",
    "hubspot_owner_id",
    "createdate",
    LASTMOD,
    "hs_object_id",
)
# HubSpot-defined properties the hub keeps in custom_fields under the column name every CRM
# shares (Salesforce's NumberOfEmployees lands as `employees` too), whatever the options say.
SHARED_STANDARD_FIELDS: dict[str, dict[str, str]] = {
    DEALS: {},
    COMPANIES: {"numberofemployees": "employees"},
}
# The deal-to-company association: HUBSPOT_DEFINED type 5 marks the primary company (its
# label has changed over the years; HubSpot says to key on the type id), 341 any company.
PRIMARY_COMPANY_TYPE_ID = 5
DEAL_COMPANY_TYPE_ID = 341

COMMON_ACTIVITY_PROPERTIES: tuple[str, ...] = (
    "hs_timestamp",
    "hubspot_owner_id",
    "hs_createdate",
    LASTMOD,
    "hs_object_id",
)
ACTIVITY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "calls": (
        "hs_call_title",
        "hs_call_direction",
        "hs_call_disposition",
        "hs_call_duration",
        "hs_call_status",
    ),
    "emails": ("hs_email_subject", "hs_email_direction", "hs_email_status"),
    "meetings": (
        "hs_meeting_title",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_meeting_outcome",
    ),
    "notes": ("hs_note_body",),
    "tasks": ("hs_task_subject", "hs_task_status"),
}

# HubSpot's default call dispositions (portal-independent GUIDs) -> canonical outcome.
CALL_DISPOSITIONS: dict[str, str] = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "connected",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "no_answer",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "left_voicemail",
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "busy",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "left_live_message",
    "17b47fee-58de-441e-a44c-c6300d46f273": "wrong_number",
}

# HubSpot's default deal pipeline (id 'default') -> the hub's default canonical stages.
DEFAULT_PIPELINE_ID = "default"
DEFAULT_STAGE_MAP: dict[str, str] = {
    "appointmentscheduled": "prospecting",
    "qualifiedtobuy": "qualification",
    "presentationscheduled": "meeting",
    "decisionmakerboughtin": "proposal",
    "contractsent": "negotiation",
    "closedwon": "closed_won",
    "closedlost": "closed_lost",
}

# Hub field name -> HubSpot deal property, for the writer.
WRITABLE_FIELDS: dict[str, str] = {
    "stage_id": "dealstage",
    "pipeline_id": "pipeline",
    "amount": "amount",
    "owner_id": "hubspot_owner_id",
    "expected_close_date": "closedate",
    "hub_score": "hub_score",
    "hub_score_reason": "hub_score_reason",
}
HUB_PROPERTY_GROUP = {"name": "crm_sync_hub", "label": "CRM sync hub", "displayOrder": -1}
HUB_PROPERTIES: tuple[dict[str, str], ...] = (
    {
        "name": "hub_score",
        "label": "Hub win score",
        "type": "number",
        "fieldType": "number",
        "description": "Win likelihood 0-1 computed by the CRM sync hub.",
    },
    {
        "name": "hub_score_reason",
        "label": "Hub score reason",
        "type": "string",
        "fieldType": "textarea",
        "description": "Why the CRM sync hub scored the deal as it did.",
    },
)

REQUIRED_SCOPES: tuple[str, ...] = (
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
    "crm.objects.owners.read",
    "crm.objects.companies.read",
    "crm.schemas.companies.read",
    "crm.objects.contacts.read",
    "sales-email-read",
)
