"""HubSpot's names for things, as data: object types, association types, searchable text.

Any client may name an object type by its plural (``deals``), its singular (``deal``) or its
id (``0-3``); the sandbox answers all three alike, as HubSpot does.
"""

from __future__ import annotations

from connectors.hubspot import settings

# object type ids of HubSpot's standard objects
_TYPE_IDS = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "tasks": "0-27",
    "notes": "0-46",
    "meetings": "0-47",
    "calls": "0-48",
    "emails": "0-49",
}
_SINGULAR = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
    **settings.ACTIVITY_OBJECTS,
}
_ALIASES = {
    alias: plural for plural, singular in _SINGULAR.items() for alias in (plural, singular)
} | {type_id: plural for plural, type_id in _TYPE_IDS.items()}

# HUBSPOT_DEFINED association type ids, (from, to) -> typeId
ASSOCIATION_TYPE_IDS = {
    ("deals", "calls"): 205,
    ("calls", "deals"): 206,
    ("deals", "emails"): 209,
    ("emails", "deals"): 210,
    ("deals", "meetings"): 211,
    ("meetings", "deals"): 212,
    ("deals", "notes"): 213,
    ("notes", "deals"): 214,
    ("deals", "tasks"): 215,
    ("tasks", "deals"): 216,
}

# the properties a search's free-text ``query`` looks in, per object type
SEARCHABLE = {
    "deals": ("dealname", "pipeline", "dealstage", "description", "dealtype"),
    "companies": ("name", "domain", "website", "phone"),
    "calls": ("hs_call_title", "hs_call_body"),
    "emails": ("hs_email_subject", "hs_email_text"),
    "meetings": ("hs_meeting_title", "hs_meeting_body"),
    "notes": ("hs_note_body",),
    "tasks": ("hs_task_subject", "hs_task_body"),
}


def object_type(name: str) -> str | None:
    """The plural name of a standard object type, however the client spelled it."""
    return _ALIASES.get(name.lower())


def singular(plural: str) -> str:
    """``companies`` -> ``company``."""
    return _SINGULAR.get(plural, plural)


def association_label(from_type: str, to_type: str) -> str:
    """The v3 ``associations`` entry's ``type``, e.g. ``deal_to_call``."""
    return f"{_SINGULAR[from_type]}_to_{_SINGULAR[to_type]}"
