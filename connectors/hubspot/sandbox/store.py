"""FakeHubspot's data: the portal's records and how HubSpot changes them.

Seeded from the synthetic world; every change goes through the same few methods
(:meth:`HubspotStore._move` for a stage change) so history entries, the calculated
``hs_v2_date_entered_<stage>`` properties, closed flags and ``hs_lastmodifieddate`` move
together the way HubSpot moves them. :meth:`HubspotStore.expected_canonical` is what a
test compares the warehouse with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from connectors.hubspot import settings
from connectors.hubspot.sandbox.companies import (
    LEAD_SOURCES,
    RESELLER,
    company_properties,
    company_values,
    second_company,
)
from connectors.synthetic import CANONICAL_STAGES, World
from models.canonical import make_key

RENEWALS = "17893452"
_DEFAULT_STAGES = (  # id, label, probability, closed
    ("appointmentscheduled", "Appointment Scheduled", "0.2", "false"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", "false"),
    ("presentationscheduled", "Presentation Scheduled", "0.6", "false"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", "false"),
    ("contractsent", "Contract Sent", "0.9", "false"),
    ("closedwon", "Closed Won", "1.0", "true"),
    ("closedlost", "Closed Lost", "0.0", "true"),
)
_RENEWAL_STAGES = (
    ("4010001", "Renewal Identified", "0.1", "false"),
    ("4010002", "Discovery", "0.25", "false"),
    ("4010003", "Review Meeting", "0.5", "false"),
    ("4010004", "Quote Sent", "0.7", "false"),
    ("4010005", "Renewal Negotiation", "0.85", "false"),
    ("4010006", "Renewed", "1.0", "true"),
    ("4010007", "Churned", "0.0", "true"),
)
_CANONICAL = CANONICAL_STAGES
NATIVE_STAGE: dict[str, dict[str, str]] = {
    settings.DEFAULT_PIPELINE_ID: {
        c: s[0] for c, s in zip(_CANONICAL, _DEFAULT_STAGES, strict=True)
    },
    RENEWALS: {c: s[0] for c, s in zip(_CANONICAL, _RENEWAL_STAGES, strict=True)},
}
RENEWALS_STAGE_MAP = {s[0]: c for c, s in zip(_CANONICAL, _RENEWAL_STAGES, strict=True)}
_DISPOSITION = {v: k for k, v in settings.CALL_DISPOSITIONS.items()}
_OBJECT_OF = {v: k for k, v in settings.ACTIVITY_OBJECTS.items()}
_DATE_PROPS = {
    "createdate",
    "closedate",
    settings.LASTMOD,
    "hs_timestamp",
    "hs_createdate",
    "hs_meeting_start_time",
    "hs_meeting_end_time",
}
_DEFAULT_PROPS = {
    "deals": (
        "dealname",
        "amount",
        "closedate",
        "createdate",
        "dealstage",
        settings.LASTMOD,
        "hs_object_id",
        "pipeline",
    ),
    "companies": ("createdate", "domain", settings.LASTMOD, "hs_object_id", "name"),
}
_ENUMS = {
    "dealtype": (("newbusiness", "New Business"), ("existingbusiness", "Existing Business")),
    "region": (("emea", "EMEA"), ("na", "North America"), ("apac", "APAC")),
    "lead_source": LEAD_SOURCES,
}
# deal properties the portal defined itself (hubspotDefined false); the others are HubSpot's
CUSTOM_DEAL_PROPERTIES = ("region", "lead_source", "legacy_id")
_LEAD_SOURCE_VALUE = {label: value for value, label in LEAD_SOURCES}


def iso(ms: int) -> str:
    """HubSpot's v3 timestamps: milliseconds when non-zero, none otherwise."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ms % 1000:03d}Z" if ms % 1000 else f"{base}Z"


def _ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def parse_ms(value: str) -> int:
    if value.lstrip("-").isdigit():
        return int(value)
    return _ms(datetime.fromisoformat(value.replace("Z", "+00:00")))


@dataclass
class Obj:
    object_type: str
    id: str
    props: dict[str, str | None]
    created_ms: int
    lastmod_ms: int
    archived: bool = False
    archived_ms: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # dealstage, oldest first
    # other properties changed through the API, oldest first (the seeded value leads)
    prop_history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def set(self, name: str, value: str | None) -> None:
        self.props[name] = value

    def record(self, name: str, value: str | None, ms: int, source: tuple[str, str]) -> None:
        """Set a property and keep the change in its history, as a write through the API
        does (``propertiesWithHistory`` then lists it)."""
        entries = self.prop_history.setdefault(name, [])
        if not entries and self.props.get(name) is not None:
            entries.append(_entry(self.props[name], self.created_ms, ("CRM_UI", "")))
        entries.append(_entry(value, ms, source))
        self.props[name] = value

    def touch(self, ms: int) -> None:
        self.lastmod_ms = ms
        self.props[settings.LASTMOD] = iso(ms)

    def history_of(self, name: str) -> list[dict[str, Any]]:
        """A property's history, newest first (one entry for a value never changed since)."""
        if name == "dealstage":
            return list(reversed(self.history))
        entries = self.prop_history.get(name)
        if entries:
            return list(reversed(entries))
        value = self.props.get(name)
        return [] if value is None else [_entry(value, self.created_ms, ("CRM_UI", ""))]

    def to_json(
        self, names: Iterable[str] | None, with_history: bool | Iterable[str] = False
    ) -> dict[str, Any]:
        """``with_history``: True for dealstage's history, or the properties to give it for."""
        wanted = (
            list(names)
            if names is not None
            else list(
                _DEFAULT_PROPS.get(
                    self.object_type, ("hs_createdate", settings.LASTMOD, "hs_object_id")
                )
            )
        )
        out: dict[str, Any] = {
            "id": self.id,
            "properties": {n: self.props.get(n) for n in wanted},
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.lastmod_ms),
            "archived": self.archived,
        }
        if self.archived and self.archived_ms is not None:
            out["archivedAt"] = iso(self.archived_ms)
        if with_history:
            listed = ["dealstage"] if with_history is True else list(with_history)
            out["propertiesWithHistory"] = {n: self.history_of(n) for n in listed}
        return out


def _entry(value: str | None, ms: int, source: tuple[str, str]) -> dict[str, Any]:
    return {"value": value, "timestamp": iso(ms), "sourceType": source[0], "sourceId": source[1]}


class HubspotStore:
    """Records, pipelines, owners and properties of one fake portal."""

    time_offset_s: float
    lock: threading.RLock
    world: World
    source_index: int
    n_sources: int
    objects: dict[str, dict[str, Obj]]
    links: dict[str, dict[str, set[str]]]
    _last_ms: int
    _next_id: dict[str, int]
    # deal id -> {company id: its association label}, and each deal's primary company
    company_links: dict[str, dict[str, str | None]]
    primary_company: dict[str, str]
    _world_deal_ids: dict[str, str]
    _world_account_ids: dict[str, str]

    def _seed_metadata(self) -> None:
        created = iso(_ms(datetime(2023, 1, 2, tzinfo=UTC)))

        def stages(rows: tuple[tuple[str, str, str, str], ...]) -> list[dict[str, Any]]:
            return [
                {
                    "id": sid,
                    "label": label,
                    "displayOrder": k,
                    "archived": False,
                    "metadata": {"isClosed": closed, "probability": prob},
                    "createdAt": created,
                    "updatedAt": created,
                    "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                }
                for k, (sid, label, prob, closed) in enumerate(rows)
            ]

        self.pipelines: list[dict[str, Any]] = [
            {
                "id": settings.DEFAULT_PIPELINE_ID,
                "label": "Sales Pipeline",
                "displayOrder": 0,
                "archived": False,
                "createdAt": created,
                "updatedAt": created,
                "stages": stages(_DEFAULT_STAGES),
            },
            {
                "id": RENEWALS,
                "label": "Renewals",
                "displayOrder": 1,
                "archived": False,
                "createdAt": created,
                "updatedAt": created,
                "stages": stages(_RENEWAL_STAGES),
            },
        ]
        self.owners: list[dict[str, Any]] = []
        self.owner_of_rep: dict[str, str] = {}
        self.user_of_owner: dict[str, int] = {}
        for rep in self.world.reps:
            first, _, last = rep.name.partition(" ")
            owner_id = str(61_000_000 + rep.index)
            self.owner_of_rep[rep.rep_id] = owner_id
            self.user_of_owner[owner_id] = 9_100_000 + rep.index
            self.owners.append(
                {
                    "id": owner_id,
                    "email": rep.email,
                    "firstName": first,
                    "lastName": last,
                    "userId": 9_100_000 + rep.index,
                    "userIdIncludingInactive": 9_100_000 + rep.index,
                    "createdAt": created,
                    "updatedAt": created,
                    "archived": not rep.is_active,
                    "type": "PERSON",
                    "teams": [
                        {"id": str(3_000 + len(rep.team)), "name": rep.team, "primary": True}
                    ],
                }
            )
        self.groups: list[dict[str, Any]] = [
            {
                "name": "dealinformation",
                "label": "Deal information",
                "displayOrder": -1,
                "archived": False,
            }
        ]
        self.properties: list[dict[str, Any]] = []
        for name in (
            *settings.DEAL_PROPERTIES,
            "dealtype",
            "notes_last_updated",
            *CUSTOM_DEAL_PROPERTIES,
        ):
            options = [
                {"label": lab, "value": val, "displayOrder": k, "hidden": False}
                for k, (val, lab) in enumerate(_ENUMS.get(name, ()))
            ]
            ptype = (
                "enumeration"
                if options
                else "datetime"
                if name in _DATE_PROPS
                else "number"
                if name in ("amount", "hs_object_id")
                else "string"
            )
            self.properties.append(
                {
                    "name": name,
                    "label": name.replace("_", " ").title(),
                    "type": ptype,
                    "fieldType": "select" if options else "text",
                    "groupName": "dealinformation",
                    "options": options,
                    "hubspotDefined": name not in CUSTOM_DEAL_PROPERTIES,
                    "calculated": False,
                    "hasUniqueValue": name == "hs_object_id",
                    "hidden": False,
                    "formField": False,
                    "description": "",
                    "displayOrder": -1,
                    "createdAt": created,
                    "updatedAt": created,
                    "archived": False,
                }
            )
        self.company_properties: list[dict[str, Any]] = company_properties(self.world, created)

    def _stage(self, stage_id: str) -> tuple[str, dict[str, Any]] | None:
        for p in self.pipelines:
            for s in p["stages"]:
                if s["id"] == stage_id:
                    return p["id"], s
        return None

    def _seed_companies(self) -> dict[str, str]:
        """Every company this source holds; returns world account id -> company id."""
        company_of: dict[str, str] = {}
        for account in self.world.source_accounts(self.source_index, self.n_sources):
            created = account.created_at or self.world.spec.as_of
            company = self._new_company(
                company_values(account, self.source_index, self.world.spec.seed),
                owner=self.owner_of_rep.get(account.owner or ""),
                created_ms=_ms(created),
                lastmod_ms=_ms(account.updated_at or created),
            )
            company_of[account.account_id] = company.id
            self._world_account_ids[company.id] = account.account_id
        return company_of

    def _seed_world(self) -> None:
        self.company_links, self.primary_company = {}, {}
        self._world_deal_ids, self._world_account_ids = {}, {}
        company_of = self._seed_companies()
        company_ids = sorted(company_of.values(), key=int)
        for deal in self.world.iter_source_deals(self.source_index, self.n_sources):
            pipeline = RENEWALS if deal.index % 8 == 7 else settings.DEFAULT_PIPELINE_ID
            owner = self.owner_of_rep[deal.owner]
            user = self.user_of_owner[owner]
            obj = self._new_deal(
                name=deal.name,
                amount=str(deal.amount),
                currency=deal.currency,
                pipeline=pipeline,
                owner=owner,
                created_ms=_ms(deal.created_at),
                dealtype="existingbusiness" if deal.index % 3 == 0 else "newbusiness",
                region=("emea", "na", "apac")[deal.index % 3],
                lead_source=_LEAD_SOURCE_VALUE.get(deal.lead_source or ""),
                company=company_of[deal.account.account_id],
            )
            self._world_deal_ids[obj.id] = deal.deal_id
            if deal.legacy_id:
                obj.set("legacy_id", deal.legacy_id)
            other = second_company(
                deal.index, company_of[deal.account.account_id], company_ids, self.world.spec.seed
            )
            if other is not None:
                self.link_company(obj.id, other, label=RESELLER if deal.index % 14 == 3 else None)
            close = deal.closed_at or datetime.combine(deal.expected_close_date, dtime(), UTC)
            obj.set("closedate", iso(_ms(close)))
            if deal.probability is not None:
                obj.set("hs_forecast_probability", str(deal.probability))
            for visit in deal.path:
                self._move(
                    obj,
                    NATIVE_STAGE[pipeline][visit.stage],
                    _ms(visit.entered_at),
                    source=("CRM_UI", f"userId:{user}", user),
                )
            if deal.lost_reason:
                obj.set("closed_lost_reason", deal.lost_reason)
            obj.touch(max(_ms(deal.updated_at or deal.created_at), obj.lastmod_ms))
            for act in deal.activities:
                self._new_activity(
                    _OBJECT_OF[act.type],
                    obj.id,
                    act.occurred_at,
                    act.subject,
                    self.owner_of_rep[act.owner],
                    act.completed,
                    act.duration_s,
                    act.direction,
                    act.outcome,
                )

    def _new_deal(
        self,
        *,
        name: str,
        amount: str,
        currency: str,
        pipeline: str,
        owner: str,
        created_ms: int,
        dealtype: str = "newbusiness",
        region: str = "emea",
        lead_source: str | None = None,
        company: str | None = None,
    ) -> Obj:
        self._next_id["deals"] += 1
        deal_id = str(self._next_id["deals"])
        props: dict[str, str | None] = {n: None for n in settings.DEAL_PROPERTIES}
        props.update(
            {
                "dealname": name,
                "amount": amount,
                "deal_currency_code": currency,
                "pipeline": pipeline,
                "hubspot_owner_id": owner,
                "createdate": iso(created_ms),
                "hs_object_id": deal_id,
                "dealtype": dealtype,
                "region": region,
                "lead_source": lead_source,
            }
        )
        obj = Obj("deals", deal_id, props, created_ms, created_ms)
        obj.touch(created_ms)
        self.objects["deals"][deal_id] = obj
        if company is not None:
            self.link_company(deal_id, company, primary=True)
        return obj

    def _new_company(
        self, values: dict[str, str | None], *, owner: str | None, created_ms: int, lastmod_ms: int
    ) -> Obj:
        self._next_id["companies"] += 1
        company_id = str(self._next_id["companies"])
        props: dict[str, str | None] = {
            **values,
            "hubspot_owner_id": owner,
            "createdate": iso(created_ms),
            "hs_object_id": company_id,
        }
        obj = Obj("companies", company_id, props, created_ms, lastmod_ms)
        obj.touch(lastmod_ms)
        self.objects["companies"][company_id] = obj
        return obj

    def link_company(
        self, deal_id: str, company_id: str, *, primary: bool = False, label: str | None = None
    ) -> None:
        """Associate a deal with a company; a new primary company takes the mark from the
        old one (HubSpot keeps one), which stays associated. Neither record's
        ``hs_lastmodifieddate`` moves."""
        self.company_links.setdefault(deal_id, {})[company_id] = label
        if primary:
            self.primary_company[deal_id] = company_id

    def unlink_company(self, deal_id: str, company_id: str) -> None:
        self.company_links.get(deal_id, {}).pop(company_id, None)
        if self.primary_company.get(deal_id) == company_id:
            del self.primary_company[deal_id]

    def deal_companies(self, deal_id: str) -> list[tuple[str, bool, str | None]]:
        """(company id, primary, label) of a deal's live companies, by id."""
        live = self.objects["companies"]
        primary = self.primary_company.get(deal_id)
        return [
            (c, c == primary, label)
            for c, label in sorted(
                self.company_links.get(deal_id, {}).items(), key=lambda i: int(i[0])
            )
            if c in live and not live[c].archived
        ]

    def company_deals(self, company_id: str) -> list[tuple[str, bool, str | None]]:
        """(deal id, primary, label) of a company's live deals, by id."""
        deals = self.objects["deals"]
        return [
            (d, self.primary_company.get(d) == company_id, links[company_id])
            for d, links in sorted(self.company_links.items(), key=lambda i: int(i[0]))
            if company_id in links and d in deals and not deals[d].archived
        ]

    def world_deal_ids(self) -> dict[str, str]:
        """Native deal id -> the world deal it was seeded from (deals made later have none)."""
        with self.lock:
            return dict(self._world_deal_ids)

    def world_account_ids(self) -> dict[str, str]:
        """Native company id -> the world account it was seeded from."""
        with self.lock:
            return dict(self._world_account_ids)

    def _move(
        self, obj: Obj, stage_id: str, ms: int, *, source: tuple[str, str, int | None]
    ) -> None:
        """Put a deal in a stage the way HubSpot does: history entry, calculated
        date-entered/exited properties, closed flags, probability, modification time."""
        found = self._stage(stage_id)
        assert found is not None, stage_id
        pipeline, stage = found
        old = obj.props.get("dealstage")
        if old:
            obj.set(f"hs_v2_date_exited_{old}", iso(ms))
        source_type, source_id, user = source
        entry: dict[str, Any] = {
            "value": stage_id,
            "timestamp": iso(ms),
            "sourceType": source_type,
            "sourceId": source_id,
        }
        if source_type == "INTEGRATION":
            entry["sourceLabel"] = "CRM sync hub"
        if user is not None:
            entry["updatedByUserId"] = user
        obj.history.append(entry)
        closed = stage["metadata"]["isClosed"] == "true"
        won = closed and float(stage["metadata"]["probability"]) >= 1
        obj.props.update(
            {
                "dealstage": stage_id,
                "pipeline": pipeline,
                f"{settings.DATE_ENTERED_PREFIX}{stage_id}": iso(ms),
                "hs_is_closed": "true" if closed else "false",
                "hs_is_closed_won": "true" if won else "false",
                "hs_deal_stage_probability": stage["metadata"]["probability"],
            }
        )
        if closed:
            obj.set("closedate", iso(ms))
        if not closed or won:
            obj.set("closed_lost_reason", None)
        obj.touch(max(ms, obj.lastmod_ms))

    def _new_activity(
        self,
        object_type: str,
        deal_id: str | None,
        at: datetime,
        subject: str,
        owner: str,
        completed: bool,
        duration_s: int | None,
        direction: str | None,
        outcome: str | None,
        *,
        ms: int | None = None,
    ) -> Obj:
        self._next_id["activity"] += 1
        act_id = str(self._next_id["activity"])
        at_ms = _ms(at)
        stamp = ms if ms is not None else at_ms
        p: dict[str, str | None] = {
            "hs_timestamp": iso(at_ms),
            "hubspot_owner_id": owner,
            "hs_createdate": iso(stamp),
            "hs_object_id": act_id,
        }
        if object_type == "calls":
            p.update(
                hs_call_title=subject,
                hs_call_status="COMPLETED",
                hs_call_direction=(direction or "outbound").upper(),
                hs_call_disposition=_DISPOSITION.get(outcome or ""),
                hs_call_duration=str((duration_s or 0) * 1000),
            )
        elif object_type == "emails":
            p.update(
                hs_email_subject=subject,
                hs_email_status="SENT",
                hs_email_direction="INCOMING_EMAIL" if direction == "inbound" else "EMAIL",
            )
        elif object_type == "meetings":
            p.update(
                hs_meeting_title=subject,
                hs_meeting_start_time=iso(at_ms),
                hs_meeting_end_time=iso(at_ms + (duration_s or 0) * 1000),
                hs_meeting_outcome=(outcome or "scheduled").upper(),
            )
        elif object_type == "notes":
            p.update(hs_note_body=f"{subject}\nLogged by the sales team.")
        else:
            p.update(
                hs_task_subject=subject, hs_task_status="COMPLETED" if completed else "NOT_STARTED"
            )
        obj = Obj(object_type, act_id, p, stamp, stamp)
        obj.touch(stamp)
        self.objects[object_type][act_id] = obj
        self.links[object_type][act_id] = {deal_id} if deal_id else set()
        return obj

    def now_s(self) -> float:
        return time.time() + self.time_offset_s

    def tick(self) -> int:
        """A strictly increasing 'now' in ms, so every change has its own timestamp."""
        self._last_ms = max(int(self.now_s() * 1000), self._last_ms + 1)
        return self._last_ms

    def _live_deals(self) -> list[Obj]:
        return [d for d in self.objects["deals"].values() if not d.archived]

    def _rep_source(self, obj: Obj) -> tuple[str, str, int | None]:
        user = self.user_of_owner.get(str(obj.props.get("hubspot_owner_id")), 9_100_000)
        return "CRM_UI", f"userId:{user}", user

    def _value(self, obj: Obj, name: str) -> Any:
        if name == settings.LASTMOD:
            return obj.lastmod_ms
        raw = obj.props.get(name)
        if raw is None:
            return None
        if name in _DATE_PROPS or name.startswith("hs_v2_date_"):
            return parse_ms(raw)
        try:
            return float(raw)
        except ValueError:
            return raw

    @staticmethod
    def _operand(sample: Any, value: Any) -> Any:
        if isinstance(sample, int | float) and not isinstance(sample, bool):
            try:
                return float(value) if "." in str(value) else int(value)
            except (TypeError, ValueError):
                pass
            try:
                return parse_ms(str(value))
            except ValueError:  # a word against a numeric-looking value matches nothing
                return value
        return value

    def _matches(self, obj: Obj, flt: dict[str, Any]) -> bool:
        name, op = flt.get("propertyName", ""), flt.get("operator", "EQ")
        current = self._value(obj, name)
        if op == "HAS_PROPERTY":
            return current is not None
        if op == "NOT_HAS_PROPERTY":
            return current is None
        if current is None:
            return False
        if op in ("IN", "NOT_IN"):
            values = [self._operand(current, v) for v in flt.get("values", [])]
            return (current in values) == (op == "IN")
        value = self._operand(current, flt.get("value"))
        if op == "BETWEEN":
            high = self._operand(current, flt.get("highValue"))
            return bool(value <= current <= high)
        checks = {"EQ": current == value, "NEQ": current != value}
        if op in checks:
            return checks[op]
        try:
            return bool(
                {
                    "GT": current > value,
                    "GTE": current >= value,
                    "LT": current < value,
                    "LTE": current <= value,
                }[op]
            )
        except (KeyError, TypeError):
            return False

    def expected_canonical(self, source_name: str) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            deals, changes, activities = [], [], []
            for d in self.objects["deals"].values():
                key = make_key(source_name, d.id)
                primary = None if d.archived else self.primary_company.get(d.id)
                if primary is not None and self.objects["companies"][primary].archived:
                    primary = None
                won, closed = (
                    d.props.get("hs_is_closed_won") == "true",
                    d.props.get("hs_is_closed") == "true",
                )
                deals.append(
                    {
                        "deal_key": key,
                        "source_deal_id": d.id,
                        "name": d.props.get("dealname"),
                        "pipeline_id": d.props.get("pipeline"),
                        "stage_id": d.props.get("dealstage"),
                        "status": "won" if won else "lost" if closed else "open",
                        "amount": Decimal(str(d.props["amount"]))
                        if d.props.get("amount")
                        else None,
                        "owner_id": d.props.get("hubspot_owner_id"),
                        "account_key": make_key(source_name, primary) if primary else None,
                        "is_deleted": d.archived,
                    }
                )
                for entry in d.history:
                    changes.append(
                        {
                            "deal_key": key,
                            "stage_id": entry["value"],
                            "changed_at": datetime.fromtimestamp(
                                parse_ms(entry["timestamp"]) / 1000, UTC
                            ),
                        }
                    )
            for object_type, kind in settings.ACTIVITY_OBJECTS.items():
                for a in self.objects[object_type].values():
                    linked = sorted(
                        (
                            x
                            for x in self.links[object_type].get(a.id, set())
                            if not self.objects["deals"][x].archived
                        ),
                        key=int,
                    )
                    activities.append(
                        {
                            "activity_key": make_key(source_name, f"{kind}:{a.id}"),
                            "type": kind,
                            "deal_key": make_key(source_name, linked[0])
                            if linked and not a.archived
                            else None,
                            "owner_id": a.props.get("hubspot_owner_id"),
                            "is_deleted": a.archived,
                        }
                    )
            owners = [
                {
                    "owner_key": make_key(source_name, o["id"]),
                    "email": o["email"],
                    "is_active": not o["archived"],
                }
                for o in self.owners
            ]
            stages = [
                {
                    "stage_key": make_key(source_name, s["id"]),
                    "label": s["label"],
                    "pipeline_id": p["id"],
                }
                for p in self.pipelines
                for s in p["stages"]
            ]
            accounts = [
                {
                    "account_key": make_key(source_name, c.id),
                    "name": c.props.get("name"),
                    "website": c.props.get("website"),
                    "country": c.props.get("country"),
                    "owner_id": c.props.get("hubspot_owner_id"),
                    "is_deleted": c.archived,
                }
                for c in self.objects["companies"].values()
            ]
            deal_accounts = [
                {
                    "deal_key": make_key(source_name, d.id),
                    "account_key": make_key(source_name, company),
                    "is_primary": primary,
                    "label": label,
                }
                for d in self.objects["deals"].values()
                if not d.archived
                for company, primary, label in self.deal_companies(d.id)
            ]
            return {
                "deals": deals,
                "stage_changes": changes,
                "activities": activities,
                "owners": owners,
                "stages": stages,
                "accounts": accounts,
                "deal_accounts": deal_accounts,
            }

    def counts(self) -> dict[str, int]:
        """Object counts a test uses to compute the fewest requests a full sync needs."""
        with self.lock:
            out = {
                f"{t}_live": sum(1 for o in objs.values() if not o.archived)
                for t, objs in self.objects.items()
            }
            out.update(
                {
                    f"{t}_archived": sum(1 for o in objs.values() if o.archived)
                    for t, objs in self.objects.items()
                }
            )
            out["owners_live"] = sum(1 for o in self.owners if not o["archived"])
            out["owners_archived"] = sum(1 for o in self.owners if o["archived"])
            return out
