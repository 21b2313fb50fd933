"""What the connector asks Salesforce for, as data: objects, fields, stages.

Kept apart from the code so a reader sees the whole pull in one screen, and so the sandbox
and the tests can check they agree with it.
"""

from __future__ import annotations

API_VERSION = "60.0"
PIPELINE_ID = "default"
PIPELINE_LABEL = "Opportunity stages (all sales processes)"
MASTER_RECORD_TYPE = "012000000000000AAA"

# Stage history, activities and deals: every field the connector selects, per object.
OPPORTUNITY_FIELDS: tuple[str, ...] = (
    "Id",
    "Name",
    "StageName",
    "Amount",
    "Probability",
    "CloseDate",
    "IsClosed",
    "IsWon",
    "ForecastCategoryName",
    "OwnerId",
    "AccountId",
    "Account.Name",
    "CreatedDate",
    "LastStageChangeDate",
    "SystemModstamp",
    "IsDeleted",
)
ACCOUNT_FIELDS: tuple[str, ...] = (
    "Id",
    "Name",
    "Website",
    "Industry",
    "BillingCountry",
    "OwnerId",
    "CreatedDate",
    "SystemModstamp",
    "IsDeleted",
)
HISTORY_FIELDS: tuple[str, ...] = (
    "Id",
    "OpportunityId",
    "StageName",
    "Amount",
    "Probability",
    "CloseDate",
    "CreatedDate",
    "CreatedById",
    "IsDeleted",
)
STAGE_FIELDS: tuple[str, ...] = (
    "Id",
    "ApiName",
    "MasterLabel",
    "SortOrder",
    "IsActive",
    "IsClosed",
    "IsWon",
    "DefaultProbability",
    "ForecastCategoryName",
)
USER_FIELDS: tuple[str, ...] = ("Id", "Name", "Email", "IsActive", "Department", "SystemModstamp")
TASK_FIELDS: tuple[str, ...] = (
    "Id",
    "WhatId",
    "OwnerId",
    "Subject",
    "TaskSubtype",
    "Status",
    "IsClosed",
    "ActivityDate",
    "CompletedDateTime",
    "CallDurationInSeconds",
    "CallType",
    "CallDisposition",
    "CreatedDate",
    "SystemModstamp",
    "IsDeleted",
)
EVENT_FIELDS: tuple[str, ...] = (
    "Id",
    "WhatId",
    "OwnerId",
    "Subject",
    "EventSubtype",
    "StartDateTime",
    "EndDateTime",
    "DurationInMinutes",
    "CreatedDate",
    "SystemModstamp",
    "IsDeleted",
)
# Standard fields that carry the hub's shared custom-field vocabulary, so they land in
# custom_fields under the column every CRM uses (options.field_columns adds or drops some).
STANDARD_FIELD_COLUMNS: dict[str, str] = {
    "Opportunity.LeadSource": "lead_source",
    "Account.NumberOfEmployees": "employees",
}
# Which entity of field_definitions each object's custom fields belong to.
FIELD_ENTITIES: dict[str, str] = {"Opportunity": "deal", "Account": "account"}
# "SOQL statements: by default, 100,000 characters" (limits cheat sheet). A Bulk 2.0 query
# travels in a POST body, free of the URI limit, but not of this one.
MAX_SOQL_CHARS = 100_000

# Bulk 2.0 CSV carries every value as text; these come back as booleans.
BOOLEAN_FIELDS: frozenset[str] = frozenset({"IsDeleted", "IsClosed", "IsWon", "IsActive"})

# Salesforce's standard sales process, in its SortOrder, with the hub's default mapping.
# (ApiName, DefaultProbability %, IsClosed, IsWon, ForecastCategoryName, canonical stage)
STANDARD_STAGES: tuple[tuple[str, int, bool, bool, str, str], ...] = (
    ("Prospecting", 10, False, False, "Pipeline", "prospecting"),
    ("Qualification", 10, False, False, "Pipeline", "qualification"),
    ("Needs Analysis", 20, False, False, "Pipeline", "qualification"),
    ("Value Proposition", 50, False, False, "Pipeline", "meeting"),
    ("Id. Decision Makers", 60, False, False, "Pipeline", "meeting"),
    ("Perception Analysis", 70, False, False, "Pipeline", "proposal"),
    ("Proposal/Price Quote", 75, False, False, "Pipeline", "proposal"),
    ("Negotiation/Review", 90, False, False, "Pipeline", "negotiation"),
    ("Closed Won", 100, True, True, "Closed", "closed_won"),
    ("Closed Lost", 0, True, False, "Omitted", "closed_lost"),
)
DEFAULT_STAGE_MAP: dict[str, str] = {s[0]: s[5] for s in STANDARD_STAGES}

# Writer: hub field name -> option holding the Salesforce field it lands in.
HUB_WRITE_FIELDS: dict[str, str] = {
    "stage_id": "StageName",
    "hub_score": "score_field",
    "hub_score_reason": "score_reason_field",
}
