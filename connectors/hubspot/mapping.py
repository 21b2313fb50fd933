"""HubSpot payloads -> canonical rows. Pure functions, no I/O, so they test in isolation.

HubSpot sends every property value as a string ("1500.5", "true", ISO dates of varying
precision, sometimes epoch milliseconds), stage ids rather than labels, and stage
metadata (probability, isClosed) as strings too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.hubspot import settings
from connectors.hubspot.fields import FieldSet
from connectors.values import (
    BadValues,
    checked_value,
    lenient,
    parse_amount,
    parse_probability,
    quarantine_row,
    stage_probability,
)
from models.canonical import (
    Activity,
    Deal,
    Owner,
    Pipeline,
    Stage,
    StageChange,
    make_key,
)

CRM = "hubspot"
Row = dict[str, Any]


def parse_ts(value: Any) -> datetime | None:
    """ISO-8601 (``Z``, 0-9 fraction digits) or epoch milliseconds -> aware UTC."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python < 3.11 quirks aside, normalise the fraction to 6 digits
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits) :]
        text = f"{head}.{(digits + '000000')[:6]}{tz}"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_ts = checked_value(parse_ts, "timestamp (ISO-8601 or epoch milliseconds)")
_ts_or_none = lenient(parse_ts)


def to_ms(value: Any) -> int | None:
    """Epoch ms for cursors; an unreadable stamp is ``None`` (never a failed source)."""
    ts = _ts_or_none(value)
    return int(round(ts.timestamp() * 1000)) if ts else None


def lastmod_ms(raw: dict[str, Any]) -> int | None:
    """A record's ``hs_lastmodifieddate`` (else ``updatedAt``) in epoch ms, for cursors."""
    return to_ms((raw.get("properties") or {}).get(settings.LASTMOD)) or to_ms(raw.get("updatedAt"))


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    return str(value).lower() == "true"


@dataclass(frozen=True)
class StageInfo:
    pipeline_id: str
    stage_id: str
    label: str | None
    display_order: int | None
    probability: float | None
    is_closed: bool
    archived: bool

    @property
    def status(self) -> str:
        """Won detection: a closed stage at probability 1 is won, any other closed one lost."""
        if not self.is_closed:
            return "open"
        return "won" if (self.probability or 0) >= 1 else "lost"


@dataclass
class Catalog:
    """Pipelines and stages: what turns stage ids into meaning."""

    pipelines: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, StageInfo] = field(default_factory=dict)

    @classmethod
    def build(cls, pipelines: list[dict[str, Any]]) -> Catalog:
        stages: dict[str, StageInfo] = {}
        for pipeline in pipelines:
            for stage in pipeline.get("stages", []):
                meta = stage.get("metadata") or {}
                stages[str(stage["id"])] = StageInfo(
                    pipeline_id=str(pipeline["id"]),
                    stage_id=str(stage["id"]),
                    label=stage.get("label"),
                    display_order=stage.get("displayOrder"),
                    probability=stage_probability(meta.get("probability"), percent=False),
                    is_closed=bool(_bool(meta.get("isClosed"))),
                    archived=bool(stage.get("archived")),
                )
        return cls(pipelines=pipelines, stages=stages)

    def date_entered_properties(self) -> list[str]:
        return [settings.DATE_ENTERED_PREFIX + stage_id for stage_id in self.stages]


def checked(model: type[BaseModel], data: Row) -> Row:
    return model.model_validate(data).model_dump()


def quarantine(
    source: str,
    entity: str,
    record_id: str | None,
    location: str,
    reason: str,
    column: str | None = None,
    value: Any = None,
) -> Row:
    return quarantine_row(source, CRM, entity, record_id, location, reason, column, value)


# ----- metadata ---------------------------------------------------------------------------------


def pipeline_rows(source: str, catalog: Catalog) -> tuple[list[Row], list[Row]]:
    pipelines, stages = [], []
    for p in catalog.pipelines:
        pid = str(p["id"])
        pipelines.append(
            checked(
                Pipeline,
                {
                    "source_name": source,
                    "crm": CRM,
                    "pipeline_key": make_key(source, pid),
                    "pipeline_id": pid,
                    "label": p.get("label"),
                    "display_order": p.get("displayOrder"),
                    "is_deleted": bool(p.get("archived")),
                },
            )
        )
    for info in catalog.stages.values():
        stages.append(
            checked(
                Stage,
                {
                    "source_name": source,
                    "crm": CRM,
                    "stage_key": make_key(source, info.stage_id),
                    "pipeline_id": info.pipeline_id,
                    "stage_id": info.stage_id,
                    "label": info.label,
                    "display_order": info.display_order,
                    "probability": info.probability,
                    "is_closed": info.is_closed,
                    "is_won": info.status == "won",
                    "is_deleted": info.archived,
                },
            )
        )
    return pipelines, stages


def owner_row(source: str, raw: dict[str, Any]) -> Row:
    name = " ".join(x for x in (raw.get("firstName"), raw.get("lastName")) if x) or None
    teams = raw.get("teams") or []
    primary = next((t for t in teams if t.get("primary")), teams[0] if teams else None)
    return checked(
        Owner,
        {
            "source_name": source,
            "crm": CRM,
            "owner_key": make_key(source, raw["id"]),
            "source_owner_id": str(raw["id"]),
            "name": name,
            "email": raw.get("email"),
            "team": primary.get("name") if primary else None,
            "is_active": not raw.get("archived", False),
        },
    )


# ----- deals ------------------------------------------------------------------------------------


def deal_row(
    source: str,
    raw: dict[str, Any],
    catalog: Catalog,
    fields: FieldSet,
    *,
    archived: bool,
    account_id: str | None = None,
) -> tuple[Row | None, list[Row]]:
    """One deal (or ``None`` when unusable) plus quarantine rows for bad values;
    ``account_id`` is its primary company (see ``companies.py``)."""
    props: dict[str, Any] = raw.get("properties") or {}
    deal_id = str(raw["id"])
    where = "/crm/v3/objects/deals"

    vals = BadValues(source, CRM, "deals", deal_id, where)
    amount: Decimal | None = vals.get("amount", props.get("amount"), parse_amount)
    stage_id = props.get("dealstage") or None
    info = catalog.stages.get(stage_id) if stage_id else None
    if info is not None:
        status = info.status
    elif _bool(props.get("hs_is_closed")):
        status = "won" if _bool(props.get("hs_is_closed_won")) else "lost"
    else:
        status = "open"
    # the deal's own forecast first, then its stage's; a bad one is dropped, not replaced
    prob_prop = next(
        (
            p
            for p in ("hs_forecast_probability", "hs_deal_stage_probability")
            if props.get(p) not in (None, "")
        ),
        None,
    )
    if prob_prop is not None:
        probability = vals.get(prob_prop, props[prob_prop], parse_probability)
    else:
        probability = info.probability if info is not None else None
    close = vals.get("closedate", props.get("closedate"), _ts)
    entered_prop = settings.DATE_ENTERED_PREFIX + stage_id if stage_id else None
    entered = vals.get(entered_prop, props.get(entered_prop), _ts) if entered_prop else None
    created = vals.get("createdate", props.get("createdate"), _ts)
    updated = vals.get(settings.LASTMOD, props.get(settings.LASTMOD), _ts)
    data = {
        "source_name": source,
        "crm": CRM,
        "deal_key": make_key(source, deal_id),
        "source_deal_id": deal_id,
        "name": props.get("dealname"),
        "pipeline_id": props.get("pipeline") or (info.pipeline_id if info else None),
        "stage_id": stage_id,
        "status": status,
        "amount": amount,
        "currency": props.get("deal_currency_code") or None,
        "probability": probability,
        "owner_id": props.get("hubspot_owner_id") or None,
        "account_id": account_id,
        "account_key": make_key(source, account_id) if account_id else None,
        "created_at": created or _ts_or_none(raw.get("createdAt")),
        "expected_close_date": close.date() if close else None,
        "closed_at": close if status != "open" else None,
        "lost_reason": (props.get("closed_lost_reason") or None) if status == "lost" else None,
        "updated_at": updated or _ts_or_none(raw.get("updatedAt")),
        "stage_changed_at": entered,
        "is_deleted": archived or bool(raw.get("archived")),
        "custom_fields": fields.values(props, vals),
    }
    try:
        return checked(Deal, data), vals.rows
    except ValidationError as exc:
        vals.add(None, None, str(exc))
        return None, vals.rows


def stage_change_rows(
    source: str,
    raw: dict[str, Any],
    history: list[dict[str, Any]] | None,
    catalog: Catalog,
    app_id: str | None,
) -> tuple[list[Row], list[str]]:
    """Every ``dealstage`` value HubSpot kept, oldest first, cross-checked against
    ``hs_v2_date_entered_<stage>``; returns rows and warnings.

    A history entry is ``hub_push`` when HubSpot says our own app wrote it
    (``sourceType`` INTEGRATION and ``sourceId`` = the hub's app id).
    """
    deal_id = str(raw["id"])
    deal_key = make_key(source, deal_id)
    entries = sorted(
        (e for e in history or [] if e.get("value")),
        key=lambda e: _ts_or_none(e.get("timestamp")) or datetime.min.replace(tzinfo=UTC),
    )
    rows: list[Row] = []
    previous: str | None = None
    for entry in entries:
        stage_id = str(entry["value"])
        changed_at = _ts_or_none(entry.get("timestamp"))
        if changed_at is None:
            continue
        source_type, source_id = entry.get("sourceType"), entry.get("sourceId")
        is_ours = bool(app_id) and source_type == "INTEGRATION" and str(source_id) == str(app_id)
        who = entry.get("updatedByUserId")
        info = catalog.stages.get(stage_id)
        rows.append(
            checked(
                StageChange,
                {
                    "source_name": source,
                    "crm": CRM,
                    "deal_key": deal_key,
                    "changed_at": changed_at,
                    "stage_id": stage_id,
                    "from_stage_id": previous,
                    "pipeline_id": info.pipeline_id if info else None,
                    "changed_by": f"user:{who}"
                    if who
                    else (f"{str(source_type).lower()}:{source_id}" if source_type else None),
                    "origin": "hub_push" if is_ours else "crm_history",
                },
            )
        )
        previous = stage_id
    warnings: list[str] = []
    props = raw.get("properties") or {}
    current = props.get("dealstage")
    entered = (
        _ts_or_none(props.get(settings.DATE_ENTERED_PREFIX + str(current))) if current else None
    )
    if current and entered is not None:
        latest = next((r for r in reversed(rows) if r["stage_id"] == current), None)
        if latest is None or abs((latest["changed_at"] - entered).total_seconds()) > 1:
            warnings.append(
                f"deal {deal_id}: dealstage history lacks the entry into {current} at "
                f"{entered.isoformat()} (hs_v2_date_entered); added it as derived"
            )
            info = catalog.stages.get(current)
            rows.append(
                checked(
                    StageChange,
                    {
                        "source_name": source,
                        "crm": CRM,
                        "deal_key": deal_key,
                        "changed_at": entered,
                        "stage_id": current,
                        "from_stage_id": previous,
                        "pipeline_id": info.pipeline_id if info else None,
                        "origin": "derived",
                    },
                )
            )
    return rows, warnings


# ----- activities -------------------------------------------------------------------------------

_DIRECTIONS = {
    "INBOUND": "inbound",
    "OUTBOUND": "outbound",
    "INCOMING_EMAIL": "inbound",
    "EMAIL": "outbound",
    "FORWARDED_EMAIL": "outbound",
}


def _first_line(text: Any, limit: int = 200) -> str | None:
    if not text:
        return None
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line[:limit] or None


def _seconds_from_ms(value: Any) -> int | None:
    return int(float(value) // 1000)


_duration = checked_value(_seconds_from_ms, "duration in milliseconds")


def activity_row(
    source: str,
    object_type: str,
    raw: dict[str, Any],
    deal_id: str | None,
    *,
    archived: bool = False,
) -> tuple[Row | None, list[Row]]:
    """One activity (``None`` without a usable id) plus quarantine rows for the optional
    values it was loaded without: a garbage ``hs_timestamp`` or ``hs_lastmodifieddate``
    costs that value, never the activity or the source (deals follow the same rule)."""
    p: dict[str, Any] = raw.get("properties") or {}
    kind = settings.ACTIVITY_OBJECTS[object_type]
    where = f"/crm/v3/objects/{object_type}"
    raw_id = raw.get("id")
    if raw_id in (None, ""):
        row = quarantine(source, "activities", None, where, f"{kind} without an id; skipped")
        return None, [row]
    activity_id = str(raw_id)
    vals = BadValues(source, CRM, "activities", activity_id, where)
    subject = duration = direction = outcome = None
    completed: bool | None = True
    if kind == "call":
        subject = p.get("hs_call_title")
        duration = vals.get("hs_call_duration", p.get("hs_call_duration"), _duration)
        direction = _DIRECTIONS.get(str(p.get("hs_call_direction") or ""))
        disposition = p.get("hs_call_disposition")
        outcome = settings.CALL_DISPOSITIONS.get(str(disposition), disposition or None)
        completed = (p.get("hs_call_status") or "COMPLETED") == "COMPLETED"
    elif kind == "email":
        subject = p.get("hs_email_subject")
        direction = _DIRECTIONS.get(str(p.get("hs_email_direction") or ""))
    elif kind == "meeting":
        subject = p.get("hs_meeting_title")
        start = vals.get("hs_meeting_start_time", p.get("hs_meeting_start_time"), _ts)
        end = vals.get("hs_meeting_end_time", p.get("hs_meeting_end_time"), _ts)
        duration = int((end - start).total_seconds()) if start and end else None
        raw_outcome = p.get("hs_meeting_outcome")
        outcome = str(raw_outcome).lower() if raw_outcome else None
        completed = raw_outcome == "COMPLETED"
    elif kind == "note":
        subject = _first_line(p.get("hs_note_body"))
    elif kind == "task":
        subject = p.get("hs_task_subject")
        completed = p.get("hs_task_status") == "COMPLETED"
    updated = vals.get(settings.LASTMOD, p.get(settings.LASTMOD), _ts)
    data = {
        "source_name": source,
        "crm": CRM,
        "activity_key": make_key(source, f"{kind}:{activity_id}"),
        "source_activity_id": activity_id,
        "type": kind,
        "subject": subject,
        "occurred_at": vals.get("hs_timestamp", p.get("hs_timestamp"), _ts),
        "completed": completed,
        "owner_id": p.get("hubspot_owner_id") or None,
        "deal_key": make_key(source, deal_id) if deal_id else None,
        "duration_s": duration,
        "direction": direction,
        "outcome": outcome,
        "updated_at": updated or _ts_or_none(raw.get("updatedAt")),
        "is_deleted": archived or bool(raw.get("archived")),
    }
    try:
        return checked(Activity, data), vals.rows
    except ValidationError as exc:
        vals.add(None, None, str(exc))
        return None, vals.rows


def pick_deal(deal_ids: list[str]) -> str | None:
    """An activity linked to several deals is attributed to the oldest (lowest id) one."""
    return min(deal_ids, key=lambda d: (len(d), d)) if deal_ids else None
