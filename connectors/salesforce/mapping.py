"""Salesforce records -> canonical rows (plain dicts shaped like models.canonical).

Pure functions over REST-shaped records (Bulk CSV rows are normalised to the same shape
first), so the mapping is testable without HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from connectors.salesforce.fields import FieldSpec
from connectors.salesforce.options import SalesforceOptions
from connectors.salesforce.settings import PIPELINE_ID
from connectors.values import (
    BadValues,
    checked_value,
    parse_amount,
    parse_percent,
    stage_probability,
    web_domain,
)
from models.canonical import field_key, make_key

Row = dict[str, Any]
CRM = "salesforce"


def parse_datetime(value: Any) -> datetime | None:
    """REST ``2024-09-24T03:26:07.000+0000`` and Bulk ``2024-09-24T03:26:07.000Z``."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text).astimezone(UTC)


def parse_date(value: Any) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value not in (None, "") else None


_datetime = checked_value(parse_datetime, "date/time (ISO-8601)")
_date = checked_value(parse_date, "date (YYYY-MM-DD)")


def _int(value: Any) -> int | None:
    return int(float(value)) if value not in (None, "") else None


def _bool(value: Any) -> bool:
    return value is True or value == "true"


def custom_values(rec: Row, fields: Sequence[FieldSpec], vals: BadValues) -> Row | None:
    """``custom_fields``: each taken field's typed value under its column; a value that
    does not fit its type is dropped and quarantined under the field's API name."""
    if not fields:
        return None
    out: Row = {}
    for spec in fields:
        value = vals.get(spec.api_name, rec.get(spec.api_name), spec.value)
        if value is not None:
            out[spec.column] = value
    return out


def deal_row(
    rec: Row,
    source: str,
    opts: SalesforceOptions,
    where: str = "Opportunity",
    fields: Sequence[FieldSpec] = (),
) -> tuple[Row, list[Row]]:
    """One deal plus quarantine rows for the optional values it was loaded without.

    A bad Amount, Probability, timestamp or custom value drops only that value (the row
    names the field); a record without an Id raises, and the caller quarantines it whole."""
    deal_id = rec["Id"]
    vals = BadValues(source, CRM, "deals", str(deal_id), where)
    closed, won = _bool(rec.get("IsClosed")), _bool(rec.get("IsWon"))
    stage_changed = vals.get("LastStageChangeDate", rec.get("LastStageChangeDate"), _datetime)
    account = rec.get("Account") or {}
    account_id = rec.get("AccountId") or None
    row = {
        "source_name": source,
        "crm": CRM,
        "deal_key": make_key(source, deal_id),
        "source_deal_id": deal_id,
        "name": rec.get("Name"),
        "pipeline_id": PIPELINE_ID,
        "stage_id": rec.get("StageName"),
        "status": ("won" if won else "lost") if closed else "open",
        "amount": vals.get("Amount", rec.get("Amount"), parse_amount),
        "currency": rec.get("CurrencyIsoCode") if opts.multi_currency else opts.default_currency,
        "probability": vals.get("Probability", rec.get("Probability"), parse_percent),
        "owner_id": rec.get("OwnerId"),
        "account_id": account_id,
        "account_name": account.get("Name") if isinstance(account, dict) else None,
        "account_key": make_key(source, account_id) if account_id else None,
        "created_at": vals.get("CreatedDate", rec.get("CreatedDate"), _datetime),
        "expected_close_date": vals.get("CloseDate", rec.get("CloseDate"), _date),
        "closed_at": stage_changed if closed else None,
        "lost_reason": rec.get(opts.lost_reason_field)
        if opts.lost_reason_field and closed and not won
        else None,
        "updated_at": vals.get("SystemModstamp", rec.get("SystemModstamp"), _datetime),
        "stage_changed_at": stage_changed,
        "is_deleted": _bool(rec.get("IsDeleted")),
        "custom_fields": custom_values(rec, fields, vals),
    }
    return row, vals.rows


def deal_account_rows(deals: Iterable[Row]) -> list[Row]:
    """An Opportunity has one account, its AccountId: the primary association."""
    return [
        {
            "source_name": d["source_name"],
            "crm": CRM,
            "deal_key": d["deal_key"],
            "account_key": d["account_key"],
            "is_primary": True,
            "label": None,
        }
        for d in deals
        if d.get("account_key")
    ]


def account_row(
    rec: Row,
    source: str,
    fields: Sequence[FieldSpec] = (),
    industries: Mapping[str, str] | None = None,
    where: str = "Account",
) -> tuple[Row, list[Row]]:
    """One account plus quarantine rows, as :func:`deal_row`. ``industries`` maps the
    Industry picklist's API values to their labels (from describe)."""
    account_id = rec["Id"]
    if account_id in (None, ""):
        raise KeyError("Id")
    vals = BadValues(source, CRM, "accounts", str(account_id), where)
    website = rec.get("Website") or None
    industry = rec.get("Industry") or None
    row = {
        "source_name": source,
        "crm": CRM,
        "account_key": make_key(source, account_id),
        "source_account_id": account_id,
        "name": rec.get("Name"),
        "website": website,
        "domain": web_domain(website),
        "industry": (industries or {}).get(industry, industry) if industry else None,
        "country": rec.get("BillingCountry") or None,
        "owner_id": rec.get("OwnerId"),
        "created_at": vals.get("CreatedDate", rec.get("CreatedDate"), _datetime),
        "updated_at": vals.get("SystemModstamp", rec.get("SystemModstamp"), _datetime),
        "is_deleted": _bool(rec.get("IsDeleted")),
        "custom_fields": custom_values(rec, fields, vals),
    }
    return row, vals.rows


def field_definition_rows(fields: Iterable[FieldSpec], source: str, entity: str) -> list[Row]:
    """One FieldDefinition per field taken into ``custom_fields``."""
    return [
        {
            "source_name": source,
            "crm": CRM,
            "field_key": field_key(source, entity, spec.column),
            "entity": entity,
            "column_name": spec.column,
            "source_field": spec.api_name,
            "label": spec.label,
            "data_type": spec.data_type,
        }
        for spec in fields
    ]


def stage_rows(records: Iterable[Row], source: str) -> list[Row]:
    return [
        {
            "source_name": source,
            "crm": CRM,
            "stage_key": make_key(source, rec["ApiName"]),
            "pipeline_id": PIPELINE_ID,
            "stage_id": rec["ApiName"],
            "label": rec.get("MasterLabel"),
            "display_order": _int(rec.get("SortOrder")),
            "probability": stage_probability(rec.get("DefaultProbability"), percent=True),
            "is_closed": _bool(rec.get("IsClosed")),
            "is_won": _bool(rec.get("IsWon")),
            "is_deleted": False,
        }
        for rec in records
    ]


def stage_change_rows(history: Iterable[Row], source: str, hub_user_id: str | None) -> list[Row]:
    """OpportunityHistory has a row per change of stage, amount, probability or close date;
    only rows whose StageName differs from the deal's previous row are stage changes.
    Rows created by the integration user are the hub's own pushes (origin ``hub_push``)."""
    by_deal: dict[str, list[Row]] = {}
    for rec in history:
        by_deal.setdefault(rec["OpportunityId"], []).append(rec)
    out: list[Row] = []
    for deal_id, rows in by_deal.items():
        rows.sort(key=lambda r: (parse_datetime(r["CreatedDate"]), r["Id"]))
        previous: str | None = None
        for rec in rows:
            stage = rec.get("StageName")
            if stage is None or stage == previous:
                continue
            out.append(
                {
                    "source_name": source,
                    "crm": CRM,
                    "deal_key": make_key(source, deal_id),
                    "changed_at": parse_datetime(rec["CreatedDate"]),
                    "stage_id": stage,
                    "from_stage_id": previous,
                    "pipeline_id": PIPELINE_ID,
                    "changed_by": rec.get("CreatedById"),
                    "origin": "hub_push"
                    if hub_user_id and rec.get("CreatedById") == hub_user_id
                    else "crm_history",
                }
            )
            previous = stage
    return out


def _deal_key(source: str, what_id: Any) -> str | None:
    """Activities link to deals through the polymorphic WhatId; 006 is Opportunity's prefix."""
    return (
        make_key(source, what_id)
        if isinstance(what_id, str) and what_id.startswith("006")
        else None
    )


_TASK_TYPES = {
    "Call": "call",
    "Email": "email",
    "ListEmail": "email",
    "Task": "task",
    "Cadence": "task",
}


_whole = checked_value(_int, "whole number")


def _activity_values(rec: Row, source: str, where: str) -> BadValues:
    """Raises ``KeyError`` for a record without an Id (the caller quarantines it whole)."""
    if rec.get("Id") in (None, ""):
        raise KeyError("Id")
    return BadValues(source, CRM, "activities", str(rec["Id"]), where)


def task_row(rec: Row, source: str, where: str = "Task") -> tuple[Row, list[Row]]:
    """A Task plus quarantine rows for the optional values it was loaded without: a
    garbage CompletedDateTime, ActivityDate or SystemModstamp costs only that value."""
    vals = _activity_values(rec, source, where)
    occurred = vals.get("CompletedDateTime", rec.get("CompletedDateTime"), _datetime)
    day = vals.get("ActivityDate", rec.get("ActivityDate"), _date)
    if occurred is None and day is not None:
        occurred = datetime(day.year, day.month, day.day, tzinfo=UTC)
    call_type = str(rec.get("CallType") or "").lower()
    row = {
        "source_name": source,
        "crm": CRM,
        "activity_key": make_key(source, rec["Id"]),
        "source_activity_id": rec["Id"],
        "type": _TASK_TYPES.get(rec.get("TaskSubtype") or "Task", "other"),
        "subject": rec.get("Subject"),
        "occurred_at": occurred or vals.get("CreatedDate", rec.get("CreatedDate"), _datetime),
        "completed": _bool(rec.get("IsClosed")),
        "owner_id": rec.get("OwnerId"),
        "deal_key": _deal_key(source, rec.get("WhatId")),
        "duration_s": vals.get("CallDurationInSeconds", rec.get("CallDurationInSeconds"), _whole),
        "direction": call_type if call_type in ("inbound", "outbound") else None,
        "outcome": rec.get("CallDisposition"),
        "updated_at": vals.get("SystemModstamp", rec.get("SystemModstamp"), _datetime),
        "is_deleted": _bool(rec.get("IsDeleted")),
    }
    return row, vals.rows


def event_row(rec: Row, source: str, where: str = "Event") -> tuple[Row, list[Row]]:
    """An Event plus quarantine rows, as :func:`task_row`."""
    vals = _activity_values(rec, source, where)
    minutes = vals.get("DurationInMinutes", rec.get("DurationInMinutes"), _whole)
    row = {
        "source_name": source,
        "crm": CRM,
        "activity_key": make_key(source, rec["Id"]),
        "source_activity_id": rec["Id"],
        "type": "email" if rec.get("EventSubtype") == "Email" else "meeting",
        "subject": rec.get("Subject"),
        "occurred_at": vals.get("StartDateTime", rec.get("StartDateTime"), _datetime),
        "completed": None,  # Events carry no completion flag
        "owner_id": rec.get("OwnerId"),
        "deal_key": _deal_key(source, rec.get("WhatId")),
        "duration_s": minutes * 60 if minutes is not None else None,
        "direction": None,
        "outcome": None,
        "updated_at": vals.get("SystemModstamp", rec.get("SystemModstamp"), _datetime),
        "is_deleted": _bool(rec.get("IsDeleted")),
    }
    return row, vals.rows


def owner_row(rec: Row, source: str) -> Row:
    """Raises ``KeyError`` for a User without an Id (the caller quarantines it whole)."""
    if rec.get("Id") in (None, ""):
        raise KeyError("Id")
    return {
        "source_name": source,
        "crm": CRM,
        "owner_key": make_key(source, rec["Id"]),
        "source_owner_id": rec["Id"],
        "name": rec.get("Name"),
        "email": rec.get("Email"),
        "team": rec.get("Department"),
        "is_active": _bool(rec.get("IsActive")),
    }
