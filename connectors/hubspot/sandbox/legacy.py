"""HubSpot's legacy endpoints that other clients still call, as views of the v3 data.

Airbyte's source reads every object type's schema from the Properties API v2
(``GET /properties/v2/{object}/properties``: a bare JSON array) and deal pipelines from
CRM Pipelines v1 (``GET /crm-pipelines/v1/pipelines/deals``: ``{"results": [...]}``). Both
answer with the same definitions as v3, with epoch-millisecond timestamps instead of ISO.
"""

from __future__ import annotations

from typing import Any

from connectors.hubspot import settings
from connectors.hubspot.sandbox.store import parse_ms

# Object types a portal has whether or not it holds records of them; the sandbox holds
# none, so their listings are empty and their schemas are the properties every CRM object
# carries.
UNHELD_TYPES = {
    "contacts": ("contact",),
    "tickets": ("ticket",),
    "line_items": ("line_item",),
    "products": ("product",),
    "forms": ("form",),
    "deal_splits": ("deal_split",),
    "feedback_submissions": (),
    "goal_targets": ("goal_target",),
    "leads": ("lead",),
}
UNHELD_ALIASES = {a: plural for plural, more in UNHELD_TYPES.items() for a in (plural, *more)}
_BASE_PROPERTIES = ("hs_object_id", "createdate", settings.LASTMOD)
_DATETIMES = ("date", "time", "timestamp")
_NUMBERS = ("hs_object_id", "hs_call_duration", "amount")


def property_v2(prop: dict[str, Any]) -> dict[str, Any]:
    """A v3 property definition as v2 spells it."""
    v2 = {k: v for k, v in prop.items() if k not in ("archived", "modificationMetadata")}
    hubspot_defined = bool(prop.get("hubspotDefined"))
    return {
        **v2,
        "createdAt": parse_ms(prop["createdAt"]),
        "updatedAt": parse_ms(prop["updatedAt"]),
        "deleted": bool(prop.get("archived")),
        "readOnlyValue": bool(prop.get("calculated")),
        "readOnlyDefinition": hubspot_defined,
        "mutableDefinitionNotDeletable": hubspot_defined,
        "externalOptions": False,
        "favorited": False,
        "favoritedOrder": -1,
        "displayMode": "current_value",
    }


def default_properties(object_type: str, created: str) -> list[dict[str, Any]]:
    """The HubSpot-defined properties the sandbox's records of ``object_type`` carry."""
    names = (
        (*settings.COMMON_ACTIVITY_PROPERTIES, *settings.ACTIVITY_PROPERTIES[object_type])
        if object_type in settings.ACTIVITY_PROPERTIES
        else _BASE_PROPERTIES
    )
    return [
        {
            "name": name,
            "label": name.replace("_", " ").title(),
            "description": "",
            "groupName": f"{_singular(object_type)}information",
            "type": _type_of(name),
            "fieldType": "date" if _type_of(name) == "datetime" else "text",
            "options": [],
            "displayOrder": -1,
            "formField": False,
            "hidden": False,
            "calculated": False,
            "hubspotDefined": True,
            "hasUniqueValue": name == "hs_object_id",
            "createdAt": created,
            "updatedAt": created,
            "archived": False,
        }
        for name in names
    ]


def _singular(object_type: str) -> str:
    more = UNHELD_TYPES.get(object_type) or (settings.ACTIVITY_OBJECTS.get(object_type),)
    return more[0] or object_type


def _type_of(name: str) -> str:
    if name in _NUMBERS:
        return "number"
    return "datetime" if any(w in name for w in _DATETIMES) else "string"


def pipeline_v1(pipeline: dict[str, Any]) -> dict[str, Any]:
    """A v3 deal pipeline as CRM Pipelines v1 spells it."""
    return {
        "pipelineId": pipeline["id"],
        "objectType": "DEAL",
        "label": pipeline["label"],
        "displayOrder": pipeline["displayOrder"],
        "active": not pipeline["archived"],
        "createdAt": parse_ms(pipeline["createdAt"]),
        "updatedAt": parse_ms(pipeline["updatedAt"]),
        "default": pipeline["id"] == settings.DEFAULT_PIPELINE_ID,
        "stages": [
            {
                "stageId": s["id"],
                "label": s["label"],
                "displayOrder": s["displayOrder"],
                "active": not s["archived"],
                "createdAt": parse_ms(s["createdAt"]),
                "updatedAt": parse_ms(s["updatedAt"]),
                "metadata": s["metadata"],
            }
            for s in pipeline["stages"]
        ],
    }
