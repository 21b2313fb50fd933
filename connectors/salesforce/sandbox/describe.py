"""Salesforce's metadata answers as data: describe fields and sObjects with every key a real
describe carries (checked against the vendor's OpenAPI document and recorded describes),
release names of API versions, and the org limits the sandbox does not meter."""

from __future__ import annotations

from typing import Any

from connectors.salesforce.sandbox.soql import UNGROUPABLE
from connectors.salesforce.sandbox.store import RELATIONS, UPDATEABLE

Rec = dict[str, Any]

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "textarea": "xsd:string",
    "url": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
# Lookups whose target the sandbox has no RELATIONS entry for (polymorphic ones list all).
REFERENCE_TO = {
    "CreatedById": ["User"],
    "LastModifiedById": ["User"],
    "OwnerId": ["User"],
    "AccountId": ["Account"],
    "OpportunityId": ["Opportunity"],
    "WhatId": ["Account", "Opportunity"],
    "WhoId": ["Contact", "Lead"],
}
SYSTEM_FIELDS = {
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
}
# What a plain standard field says; describe_field overrides the keys that vary.
FIELD_DEFAULTS: Rec = {
    "aggregatable": True,
    "aiPredictionField": False,
    "autoNumber": False,
    "byteLength": 0,
    "calculated": False,
    "calculatedFormula": None,
    "cascadeDelete": False,
    "caseSensitive": False,
    "compoundFieldName": None,
    "controllerName": None,
    "createable": False,
    "custom": False,
    "defaultValue": None,
    "defaultValueFormula": None,
    "defaultedOnCreate": False,
    "dependentPicklist": False,
    "deprecatedAndHidden": False,
    "digits": 0,
    "displayLocationInDecimal": False,
    "encrypted": False,
    "externalId": False,
    "extraTypeInfo": None,
    "filterable": True,
    "filteredLookupInfo": None,
    "formulaTreatNullNumberAsZero": False,
    "groupable": True,
    "highScaleNumber": False,
    "htmlFormatted": False,
    "idLookup": False,
    "inlineHelpText": None,
    "length": 0,
    "mask": None,
    "maskType": None,
    "nameField": False,
    "namePointing": False,
    "nillable": True,
    "permissionable": False,
    "picklistValues": [],
    "polymorphicForeignKey": False,
    "precision": 0,
    "queryByDistance": False,
    "referenceTargetField": None,
    "referenceTo": [],
    "relationshipName": None,
    "relationshipOrder": None,
    "restrictedDelete": False,
    "restrictedPicklist": False,
    "scale": 0,
    "searchPrefilterable": False,
    "soapType": "xsd:string",
    "sortable": True,
    "unique": False,
    "updateable": False,
    "writeRequiresMasterRead": False,
}
REQUIRED = {"Id", "Name", "StageName", "CloseDate"}

SOBJECT_DEFAULTS: Rec = {
    "activateable": False,
    "associateEntityType": None,
    "associateParentEntity": None,
    "createable": False,
    "custom": False,
    "customSetting": False,
    "deepCloneable": False,
    "deletable": False,
    "deprecatedAndHidden": False,
    "feedEnabled": False,
    "hasSubtypes": False,
    "isInterface": False,
    "isSubtype": False,
    "layoutable": True,
    "listviewable": None,
    "lookupLayoutable": None,
    "mergeable": False,
    "mruEnabled": True,
    "queryable": True,
    "replicateable": True,
    "retrieveable": True,
    "searchable": True,
    "searchLayoutable": True,
    "triggerable": True,
    "undeletable": False,
    "updateable": False,
}

# /limits entries the sandbox reports at full allowance (it meters only the daily API
# requests and Bulk 2.0 query jobs).
OTHER_LIMITS = {
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentSyncReportRuns": 20,
    "DailyAsyncApexExecutions": 250_000,
    "DailyBulkApiBatches": 15_000,
    "DailyBulkV2QueryFileStorageMB": 976_562,
    "DataStorageMB": 1_024,
    "FileStorageMB": 2_048,
    "HourlyTimeBasedWorkflow": 1_000,
    "SingleEmail": 5_000,
}


def release_label(major: int) -> str:
    """``59`` -> ``Winter '24``: three releases a year since v20.0 (Winter '11)."""
    n = major - 20
    return f"{('Winter', 'Spring', 'Summer')[n % 3]} '{11 + n // 3:02d}"


# Text lengths as a real org describes them (a long text area is 32,768; a phone 40).
TEXT_LENGTHS = {
    "string": 255,
    "picklist": 255,
    "multipicklist": 4099,
    "textarea": 32768,
    "url": 255,
    "email": 80,
    "phone": 40,
}


def describe_field(obj: str, name: str, ftype: str, picklist: list[Rec], label: str) -> Rec:
    """One entry of ``fields``: every key a real describe carries (the sandbox's writes
    are Opportunity updates only, so only those fields say ``updateable``)."""
    writable = obj == "Opportunity" and name in UPDATEABLE
    text = ftype in TEXT_LENGTHS
    length = 18 if ftype in ("id", "reference") else TEXT_LENGTHS.get(ftype, 0)
    relation = next(
        (rel for rel, (lookup, _) in RELATIONS.get(obj, {}).items() if lookup == name), None
    )
    field = {
        **FIELD_DEFAULTS,
        "name": name,
        "label": label,
        "type": ftype,
        "soapType": SOAP_TYPES[ftype],
        "custom": name.endswith("__c"),
        "createable": writable,
        "updateable": writable,
        "nillable": name not in REQUIRED,
        "defaultedOnCreate": name in SYSTEM_FIELDS,
        "length": length,
        "byteLength": length * 3 if text else length,
        "nameField": name == "Name",
        "idLookup": name == "Id",
        "groupable": ftype not in UNGROUPABLE,
        "filterable": ftype != "textarea",  # long text areas cannot be filtered
        "sortable": ftype not in ("textarea", "multipicklist"),
        "picklistValues": picklist,
        "restrictedPicklist": name == "StageName",
    }
    if ftype in ("double", "currency", "percent"):
        field.update(precision=18, scale=2)
    if ftype == "int":
        field["digits"] = 9
    if ftype == "reference":
        field.update(
            referenceTo=REFERENCE_TO.get(name, []),
            relationshipName=relation or name.removesuffix("Id"),
            polymorphicForeignKey=name in ("WhatId", "WhoId"),
        )
    return field
