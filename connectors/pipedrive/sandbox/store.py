"""The sandbox's in-memory Pipedrive company: seeded from the synthetic world, changed by
``mutate``, and able to say what a perfect sync must have produced (``expected``).

Records are kept in the vendor's own v2 shapes (ids are integers, timestamps strings of
second precision) so the HTTP layer only filters, pages and serialises them. Deals are the
source's share of the world (``World.iter_source_deals``: migrated copies included, with
their ``Legacy ID``); organisations are the companies those deals belong to, as this source
writes them (``organizations.py``). The
canonical history is recorded independently as changes happen, so tests compare the
connector's reading of the flow against the truth, not against the same code.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.pipedrive.sandbox import organizations as orgs
from connectors.synthetic import SyntheticDeal, World, WorldSpec
from connectors.synthetic.companies import account_view
from connectors.synthetic.world import LEAD_SOURCES as WORLD_LEAD_SOURCES
from connectors.synthetic.world import Account
from models.canonical import make_key

# The default pipeline's stages: (id, name, canonical stage, deal probability %).
DEFAULT_STAGES: tuple[tuple[int, str, str, int], ...] = (
    (1, "Qualified", "prospecting", 10),
    (2, "Contact Made", "qualification", 20),
    (3, "Demo Scheduled", "meeting", 40),
    (4, "Proposal Made", "proposal", 60),
    (5, "Negotiations Started", "negotiation", 80),
)
RENEWAL_STAGES: tuple[tuple[int, str, int], ...] = (
    (6, "Renewal due", 50),
    (7, "Renewal negotiation", 70),
    (8, "Renewal signed", 90),
)
STAGE_OF: dict[str, int] = {canonical: sid for sid, _, canonical, _ in DEFAULT_STAGES}
STAGE_NAME: dict[int, str] = {sid: name for sid, name, _, _ in DEFAULT_STAGES} | {
    sid: name for sid, name, _ in RENEWAL_STAGES
}
TOKEN_USER_ID = 999_999
# A field definition: (name, field type, option labels, custom, fixed key or None for a hash).
FieldSpec = tuple[str, str, list[str] | None, bool, str | None]
LEAD_SOURCES = tuple(name for name, _ in WORLD_LEAD_SOURCES)
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")  # the deal field "Segments" (multiple options)
ORG_ID_BASE = 100  # organisation id = ORG_ID_BASE + the world account's index
# What ``include_fields`` may ask of /v2/deals (the enum of the official v2 spec).
DEAL_INCLUDE_FIELDS = frozenset(
    [
        "next_activity_id",
        "last_activity_id",
        "first_won_time",
        "products_count",
        "files_count",
        "notes_count",
        "followers_count",
        "email_messages_count",
        "activities_count",
        "done_activities_count",
        "undone_activities_count",
        "participants_count",
        "last_incoming_mail_time",
        "last_outgoing_mail_time",
        "smart_bcc_email",
        "source_lead_id",
    ]
)


def v2time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def field_key(seed: int, name: str) -> str:
    """A 40-hex key like Pipedrive's, different for every fake company (seed)."""
    return hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()


@dataclass
class Step:
    """One step of a deal's canonical history, as the truth (not as read from the API)."""

    at: datetime
    stage_id: str
    from_stage_id: str | None


@dataclass
class PipedriveStore:
    seed: int
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[int, dict[str, Any]] = field(default_factory=dict)
    stages: dict[int, dict[str, Any]] = field(default_factory=dict)
    deals: dict[int, dict[str, Any]] = field(default_factory=dict)
    flows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    history: dict[int, list[Step]] = field(default_factory=dict)
    deleted_at: dict[int, datetime] = field(default_factory=dict)
    activities: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)
    fields: list[dict[str, Any]] = field(default_factory=list)  # deal fields
    org_fields: list[dict[str, Any]] = field(default_factory=list)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    org_deleted_at: dict[int, datetime] = field(default_factory=dict)
    world_deals: dict[int, str] = field(default_factory=dict)  # deal id -> world deal_id
    world_accounts: dict[int, str] = field(default_factory=dict)  # org id -> world account_id
    _next: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str, start: int = 1) -> int:
        value = self._next.get(kind, start)
        self._next[kind] = value + 1
        return value

    # ----- seeding ---------------------------------------------------------------------------
    def seed_from(self, world: World, source_index: int, n_sources: int) -> None:
        """This source's deals (migrated copies included: ``World.iter_source_deals``) and
        the organisations they belong to, which is ``World.source_accounts`` gathered in the
        same pass (a second pass would build every deal twice)."""
        created = world.spec.as_of - timedelta(days=world.spec.history_days + 30)
        self._seed_users(world, created)
        self._seed_pipelines(created)
        self._seed_fields(created)
        self._seed_org_fields(world, created)
        companies: dict[int, Account] = {}
        for synthetic in world.iter_source_deals(source_index, n_sources):
            self._seed_deal(synthetic, world.spec.as_of)
            companies.setdefault(synthetic.account.index, synthetic.account)
        for index in sorted(companies):
            self._seed_organization(companies[index], source_index, world.spec.seed)

    def user_id(self, rep_id: str) -> int:
        return 1_000_000 + int(rep_id.split("-")[1])

    def _seed_users(self, world: World, created: datetime) -> None:
        people = [(self.user_id(r.rep_id), r.name, r.email, r.is_active) for r in world.reps]
        people.append((TOKEN_USER_ID, "Hub Integration", "hub-integration@example.com", True))
        for uid, name, email, active in people:
            self.users[uid] = {
                "id": uid,
                "name": name,
                "default_currency": "USD",
                "locale": "en_US",
                "lang": 1,
                "email": email,
                "phone": None,
                "activated": True,
                "last_login": v1time(created),
                "created": v1time(created),
                "modified": v1time(created),
                "has_created_company": uid == TOKEN_USER_ID,
                "access": [
                    {"app": "sales", "admin": uid == TOKEN_USER_ID, "permission_set_id": "1"}
                ],
                "active_flag": active,
                "timezone_name": "Europe/Berlin",
                "timezone_offset": "+01:00",
                "role_id": 1,
                "icon_url": None,
                "is_you": uid == TOKEN_USER_ID,
                "is_deleted": False,
            }

    def _seed_pipelines(self, created: datetime) -> None:
        for pid, name in ((1, "Pipeline"), (2, "Renewals")):
            self.pipelines[pid] = {
                "id": pid,
                "name": name,
                "order_nr": pid - 1,
                "is_deleted": False,
                "is_deal_probability_enabled": True,
                "add_time": v2time(created),
                "update_time": v2time(created),
            }
        rows = [(sid, name, 1, prob) for sid, name, _, prob in DEFAULT_STAGES]
        rows += [(sid, name, 2, prob) for sid, name, prob in RENEWAL_STAGES]
        for order, (sid, name, pid, prob) in enumerate(rows):
            self.stages[sid] = {
                "id": sid,
                "order_nr": order,
                "name": name,
                "is_deleted": False,
                "deal_probability": prob,
                "pipeline_id": pid,
                "is_deal_rot_enabled": False,
                "days_to_rotten": None,
                "add_time": v2time(created),
                "update_time": v2time(created),
            }

    def _seed_fields(self, created: datetime) -> None:
        """The standard deal fields the connector reads and four custom ones."""
        specs: list[FieldSpec] = [
            ("Title", "varchar", None, False, "title"),
            ("Value", "monetary", None, False, "value"),
            ("Expected close date", "date", None, False, "expected_close_date"),
            ("Lead source", "enum", list(LEAD_SOURCES), True, None),
            ("Segments", "set", list(SEGMENTS), True, None),
            ("Contract months", "double", None, True, None),
            ("Legacy ID", "varchar", None, True, None),
        ]
        self.fields = self._field_definitions(specs, created, offsets=(0, 0), scope="")

    def _seed_org_fields(self, world: World, created: datetime) -> None:
        """Standard organisation fields (industry holds option ids) and two custom ones."""
        industries = sorted({a.industry for a in world.accounts if a.industry})
        specs: list[FieldSpec] = [
            ("Name", "varchar", None, False, "name"),
            ("Owner", "user", None, False, "owner_id"),
            ("Address", "address", None, False, "address"),
            ("Website", "varchar", None, False, "website"),
            ("Industry", "enum", industries, False, "industry"),
            ("Employee count", "double", None, False, "employee_count"),
            ("Segment", "enum", list(orgs.SEGMENTS), True, None),
            ("Employees", "double", None, True, None),
        ]
        self.org_fields = self._field_definitions(
            specs, created, offsets=(4000, 1000), scope="organization:"
        )

    def _field_definitions(
        self, specs: list[FieldSpec], created: datetime, *, offsets: tuple[int, int], scope: str
    ) -> list[dict[str, Any]]:
        """One entity's field list in the vendor's shape. Field ``n`` (from 1) has id
        ``offsets[0] + n`` and option ids ``offsets[1] + 10 * n + 1, + 2, ...``, so deal and
        organisation fields never share an id; a field without a fixed key gets a hashed one
        of this company (``scope`` keeps a deal and an organisation field of one name apart)."""
        field_offset, option_offset = offsets
        rows = []
        for n, (name, field_type, options, custom, key) in enumerate(specs, start=1):
            option_base = option_offset + 10 * n
            rows.append(
                {
                    "id": field_offset + n,
                    "key": key or field_key(self.seed, scope + name),
                    "name": name,
                    "field_type": field_type,
                    "edit_flag": custom,
                    "options": [
                        {"id": option_base + i + 1, "label": label}
                        for i, label in enumerate(options)
                    ]
                    if options
                    else None,
                    "add_time": v2time(created),
                }
            )
        return rows

    def field_by_name(self, name: str, entity: str = "deal") -> dict[str, Any] | None:
        fields = self.fields if entity == "deal" else self.org_fields
        return next((f for f in fields if f["name"] == name), None)

    def option_id(self, name: str, label: str, entity: str = "deal") -> int:
        f = self.field_by_name(name, entity)
        assert f is not None and f["options"]
        return next(o["id"] for o in f["options"] if o["label"] == label)

    def org_option_labels(self) -> dict[str, dict[int, str]]:
        """Custom option fields of organisations: key -> option id -> label."""
        return {
            f["key"]: {o["id"]: o["label"] for o in f["options"]}
            for f in self.org_fields
            if f["edit_flag"] and f["options"]
        }

    def _seed_organization(self, account: Account, source_index: int, seed: int) -> None:
        view = account_view(account, source_index, seed)
        org_id = ORG_ID_BASE + account.index
        assert account.created_at and account.updated_at and account.owner
        self.organizations[org_id] = orgs.organization(
            org_id,
            view.name,
            self.user_id(account.owner),
            v2time(account.created_at),
            v2time(max(account.created_at, account.updated_at)),
            website=view.website,
            country=account.country,
            industry=self.option_id("Industry", account.industry, "organization")
            if account.industry
            else None,
            custom=self._org_custom(account.segment, account.employees),
        )
        self.world_accounts[org_id] = account.account_id

    def _org_custom(self, segment: str | None, employees: float | None) -> dict[str, Any]:
        seg = self.field_by_name("Segment", "organization")
        size = self.field_by_name("Employees", "organization")
        assert seg and size
        return {
            seg["key"]: self.option_id("Segment", segment, "organization") if segment else None,
            size["key"]: None if employees is None else float(employees),
        }

    def _seed_deal(self, s: SyntheticDeal, as_of: datetime) -> None:
        deal_id = self.next_id("deal")
        self.world_deals[deal_id] = s.deal_id
        owner = self.user_id(s.owner)
        rng = random.Random(self.seed * 7919 + deal_id)
        # a migrated copy may arrive already won or lost: entered in the first stage, closed
        closed_on_arrival = s.path[0].stage not in STAGE_OF
        first = STAGE_OF["prospecting" if closed_on_arrival else s.path[0].stage]
        deal = self._add_deal(
            deal_id,
            title=s.name,
            owner=owner,
            org_id=ORG_ID_BASE + s.account.index,
            stage_id=first,
            value=float(s.amount),
            currency=s.currency,
            at=s.created_at,
            probability=None if s.probability is None else round(s.probability * 100),
            expected_close_date=s.expected_close_date,
            custom_fields=self._custom_values(rng, s.lead_source, s.legacy_id),
        )
        for visit in s.path if closed_on_arrival else s.path[1:]:
            if visit.stage == "closed_won":
                self.set_status(deal, "won", visit.entered_at, owner, "app")
            elif visit.stage == "closed_lost":
                self.set_status(
                    deal, "lost", visit.entered_at, owner, "app", s.lost_reason or "Lost"
                )
            else:
                self.move(deal, STAGE_OF[visit.stage], visit.entered_at, owner, "app")
                if deal["status"] != "open":
                    self.set_status(deal, "open", visit.entered_at, owner, "app")
        deal["update_time"] = v2time(max(s.updated_at or s.created_at, _parse(deal["update_time"])))
        closed = deal["won_time"] or deal["lost_time"]
        if closed and deal_id % 5 == 0 and _parse(closed) < as_of - timedelta(days=120):
            deal["is_archived"] = True
            deal["archive_time"] = v2time(_parse(closed) + timedelta(days=90))
            deal["update_time"] = deal["archive_time"]
        for act in s.activities:
            self._seed_activity(deal_id, act)

    def _custom_values(
        self, rng: random.Random, lead_source: str | None, legacy_id: str | None = None
    ) -> dict[str, Any]:
        """The world's lead source and legacy id (migrated copies), plus two fields only
        this company has: "Segments" (multiple options) and "Contract months"."""
        values: dict[str, Any] = {}
        lead = self.field_by_name("Lead source")
        segs = self.field_by_name("Segments")
        months = self.field_by_name("Contract months")
        legacy = self.field_by_name("Legacy ID")
        assert lead and segs and months and legacy
        if lead_source:
            values[lead["key"]] = self.option_id("Lead source", lead_source)
        if legacy_id:
            values[legacy["key"]] = legacy_id
        if rng.random() < 0.5:
            values[segs["key"]] = sorted(o["id"] for o in rng.sample(segs["options"], 2))
        if rng.random() < 0.6:
            values[months["key"]] = float(rng.choice((12, 24, 36)))
        return values

    def _seed_activity(self, deal_id: int, a: Any) -> None:
        at: datetime = a.occurred_at
        owner = self.user_id(a.owner)
        if a.type == "note":
            nid = self.next_id("note")
            self.notes[nid] = {
                "id": nid,
                "active_flag": True,
                "add_time": v1time(at),
                "content": a.subject,
                "deal_id": deal_id,
                "last_update_user_id": owner,
                "user_id": owner,
                "pinned_to_deal_flag": False,
                "pinned_to_organization_flag": False,
                "pinned_to_person_flag": False,
                "update_time": v1time(at),
            }
            return
        self.add_activity(deal_id, a.type, a.subject, at, owner, a.completed, a.duration_s)

    def add_activity(
        self,
        deal_id: int,
        kind: str,
        subject: str,
        at: datetime,
        owner: int,
        done: bool,
        duration_s: int | None,
    ) -> int:
        aid = self.next_id("activity")
        duration = None
        if duration_s:
            minutes = max(1, duration_s // 60)
            duration = f"{minutes // 60:02d}:{minutes % 60:02d}"
        self.activities[aid] = {
            "id": aid,
            "subject": subject,
            "type": kind,
            "owner_id": owner,
            "creator_user_id": owner,
            "is_deleted": False,
            "add_time": v2time(at),
            "update_time": v2time(at),
            "deal_id": deal_id,
            "org_id": None,
            "person_id": None,
            "due_date": at.strftime("%Y-%m-%d"),
            "due_time": at.strftime("%H:%M"),
            "duration": duration,
            "busy": False,
            "done": done,
            "marked_as_done_time": v2time(at) if done else None,
            "participants": [],
            "attendees": [],
            "public_description": None,
            "priority": None,
            "note": None,
        }
        return aid

    # ----- derived fields (``include_fields`` on /v2/deals) ----------------------------------
    def included_fields(self, deals: list[dict[str, Any]], names: list[str]) -> list[dict]:
        """Copies of ``deals`` with the optional fields ``names`` added, computed from the
        company's activities and notes as Pipedrive does (no products, files or mail here)."""
        ids = {d["id"] for d in deals}
        acts: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for a in self.activities.values():
            if a["deal_id"] in ids and not a["is_deleted"]:
                acts[a["deal_id"]].append(a)
        notes = {i: 0 for i in ids}
        for n in self.notes.values():
            if n["deal_id"] in ids:
                notes[n["deal_id"]] += 1
        out = []
        for deal in deals:
            mine = acts[deal["id"]]
            done = [a["id"] for a in mine if a["done"]]
            undone = [a["id"] for a in mine if not a["done"]]
            values: dict[str, Any] = {
                "next_activity_id": min(undone, default=None),
                "last_activity_id": max(done, default=None),
                "first_won_time": deal["won_time"],
                "products_count": 0,
                "files_count": 0,
                "notes_count": notes[deal["id"]],
                "followers_count": 1,
                "email_messages_count": 0,
                "activities_count": len(mine),
                "done_activities_count": len(done),
                "undone_activities_count": len(undone),
                "participants_count": 0,
                "last_incoming_mail_time": None,
                "last_outgoing_mail_time": None,
                "smart_bcc_email": f"company{self.seed}+deal{deal['id']}@pipedrivemail.com",
                "source_lead_id": None,
            }
            out.append(deal | {name: values[name] for name in names})
        return out

    # ----- changes (shared by seeding, mutate and PATCH) -------------------------------------
    def record_change(
        self,
        deal: dict[str, Any],
        at: datetime,
        key: str,
        old: Any,
        new: Any,
        user: int,
        source: str,
    ) -> None:
        change_id = self.next_id("change", 1000)
        extra: Any = []
        if key == "stage_id":
            extra = {
                "old_value_formatted": STAGE_NAME.get(int(old)),
                "new_value_formatted": STAGE_NAME.get(int(new)),
            }
        self.flows[deal["id"]].append(
            {
                "object": "dealChange",
                "timestamp": v1time(at),
                "data": {
                    "id": change_id,
                    "item_id": deal["id"],
                    "user_id": user,
                    "field_key": key,
                    "old_value": None if old is None else str(old),
                    "new_value": None if new is None else str(new),
                    "is_bulk_update_flag": None,
                    "log_time": v1time(at),
                    "change_source": source,
                    "change_source_user_agent": "hub" if source == "api" else "Mozilla/5.0",
                    "additional_data": extra,
                },
            }
        )

    def touch(self, deal: dict[str, Any], at: datetime) -> None:
        deal["update_time"] = v2time(at)

    def move(
        self, deal: dict[str, Any], stage_id: int, at: datetime, user: int, source: str
    ) -> None:
        old = deal["stage_id"]
        if old == stage_id:
            return
        self.record_change(deal, at, "stage_id", old, stage_id, user, source)
        deal["stage_id"] = stage_id
        deal["stage_change_time"] = v2time(at)
        deal["probability"] = deal["probability"]
        self.touch(deal, at)
        if deal["status"] == "open":
            self.history[deal["id"]].append(Step(at, str(stage_id), str(old)))

    def set_status(
        self,
        deal: dict[str, Any],
        status: str,
        at: datetime,
        user: int,
        source: str,
        lost_reason: str | None = None,
    ) -> None:
        old = deal["status"]
        if old == status:
            return
        self.record_change(deal, at, "status", old, status, user, source)
        deal["status"] = status
        self.touch(deal, at)
        steps = self.history[deal["id"]]
        if status in ("won", "lost"):
            deal["close_time"] = v2time(at)
            deal[f"{status}_time"] = v2time(at)
            deal["lost_reason"] = lost_reason if status == "lost" else None
            steps.append(Step(at, status, str(deal["stage_id"])))
        else:  # reopened: back into the stage it sits in
            deal.update(close_time=None, won_time=None, lost_time=None, lost_reason=None)
            steps.append(Step(at, str(deal["stage_id"]), old))

    def set_value(
        self, deal: dict[str, Any], key: str, value: Any, at: datetime, user: int, source: str
    ) -> None:
        old = deal.get(key)
        self.record_change(deal, at, key, old, value, user, source)
        deal[key] = value
        self.touch(deal, at)

    def delete(self, deal: dict[str, Any], at: datetime, user: int) -> None:
        deal["is_deleted"] = True
        self.deleted_at[deal["id"]] = at
        self.record_change(deal, at, "deleted", None, "1", user, "app")
        self.touch(deal, at)

    # ----- mutate ----------------------------------------------------------------------------
    def mutate(self, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
        rng = random.Random(
            int(spec.get("seed", 0)) * 1_000_003 + len(self._next) + self._next.get("change", 0)
        )
        live = [
            d["id"]
            for d in self.deals.values()
            if not d["is_deleted"] and not d["is_archived"] and d["pipeline_id"] == 1
        ]
        open_ids = [i for i in live if self.deals[i]["status"] == "open"]
        rng.shuffle(live)
        rng.shuffle(open_ids)
        used: set[int] = set()

        def take(n: int, only_open: bool = True) -> list[dict[str, Any]]:
            """Distinct deals: open ones for moves and outcomes, any live one for edits."""
            out: list[dict[str, Any]] = []
            for deal_id in open_ids if only_open else live:
                if len(out) >= n:
                    break
                if deal_id not in used:
                    used.add(deal_id)
                    out.append(self.deals[deal_id])
            return out

        changed: set[int] = set()
        moved: list[int] = []
        for deal in take(int(spec.get("stage_moves", 5))):
            if deal["stage_id"] < 5:
                self.move(deal, deal["stage_id"] + 1, now, deal["owner_id"], "app")
                moved.append(deal["id"])
        for deal in take(int(spec.get("backward_moves", 1))):
            if deal["stage_id"] > 1:
                self.move(deal, deal["stage_id"] - 1, now, deal["owner_id"], "app")
                moved.append(deal["id"])
        changed.update(moved)
        for deal in take(int(spec.get("amount_edits", 2)), only_open=False):
            self.set_value(
                deal,
                "value",
                round(deal["value"] * rng.uniform(0.7, 1.4), 2),
                now,
                deal["owner_id"],
                "app",
            )
            changed.add(deal["id"])
        for status in ("won", "lost"):
            for deal in take(int(spec.get(status, 1))):
                self.set_status(
                    deal,
                    status,
                    now,
                    deal["owner_id"],
                    "app",
                    "Chose competitor" if status == "lost" else None,
                )
                changed.add(deal["id"])
        deleted = [d["id"] for d in take(int(spec.get("deletes", 1)), only_open=False)]
        for deal_id in deleted:
            self.delete(self.deals[deal_id], now, self.deals[deal_id]["owner_id"])
        for deal in take(int(spec.get("association_changes", 1)), only_open=False):
            others = [o for o in self.live_org_ids() if o != deal["org_id"]]
            self.set_value(deal, "org_id", rng.choice(others), now, deal["owner_id"], "app")
            changed.add(deal["id"])
        new_ids = [self.new_deal(rng, now) for _ in range(int(spec.get("new_deals", 2)))]
        live = [d for d in self.deals.values() if not d["is_deleted"]]
        new_activities = []
        for _ in range(int(spec.get("new_activities", 3))):
            deal = rng.choice(live)
            if rng.random() < 0.25:
                nid = self.next_id("note")
                self.notes[nid] = {
                    "id": nid,
                    "active_flag": True,
                    "add_time": v1time(now),
                    "content": "Call notes",
                    "deal_id": deal["id"],
                    "user_id": deal["owner_id"],
                    "last_update_user_id": deal["owner_id"],
                    "update_time": v1time(now),
                    "pinned_to_deal_flag": False,
                    "pinned_to_organization_flag": False,
                    "pinned_to_person_flag": False,
                }
                new_activities.append(f"note-{nid}")
            else:
                kind = rng.choice(("call", "email", "meeting", "task", "lunch"))
                aid = self.add_activity(
                    deal["id"],
                    kind,
                    f"{kind.title()} follow-up",
                    now,
                    deal["owner_id"],
                    rng.random() < 0.5,
                    1800,
                )
                new_activities.append(str(aid))
        return {
            "changed_deal_ids": sorted(changed),
            "stage_moved_deal_ids": sorted(moved),
            "deleted_deal_ids": sorted(deleted),
            "new_deal_ids": new_ids,
            "new_activity_ids": new_activities,
            **self.mutate_organizations(spec, rng, now),
        }

    # ----- organisations ---------------------------------------------------------------------
    def live_org_ids(self) -> list[int]:
        return [i for i, o in self.organizations.items() if not o["is_deleted"]]

    def mutate_organizations(
        self, spec: dict[str, Any], rng: random.Random, now: datetime
    ) -> dict[str, list[int]]:
        """``org_edits`` (another segment, a new head count, a retyped website),
        ``org_deletes`` and ``new_orgs``; none unless asked for."""
        live = self.live_org_ids()
        rng.shuffle(live)
        n_edits, n_deletes = int(spec.get("org_edits", 0)), int(spec.get("org_deletes", 0))
        edited, deleted = live[:n_edits], live[n_edits : n_edits + n_deletes]
        segment = self.field_by_name("Segment", "organization")
        size = self.field_by_name("Employees", "organization")
        assert segment and size and segment["options"]
        for org_id in edited:
            org = self.organizations[org_id]
            custom = org["custom_fields"]
            others = [o["id"] for o in segment["options"] if o["id"] != custom[segment["key"]]]
            custom[segment["key"]] = rng.choice(others)
            custom[size["key"]] = float(int((custom[size["key"]] or 10) * 1.5) + 1)
            if org["website"]:
                org["website"] = org["website"].lower().rstrip("/") + "/"
            org["update_time"] = v2time(now)
        for org_id in deleted:
            self.delete_organization(org_id, now)
        new = [self.new_organization(rng, now) for _ in range(int(spec.get("new_orgs", 0)))]
        return {
            "changed_org_ids": sorted(edited),
            "deleted_org_ids": sorted(deleted),
            "new_org_ids": new,
        }

    def delete_organization(self, org_id: int, at: datetime) -> None:
        """Marked deleted (purged after 30 days); its deals keep their ``org_id``."""
        org = self.organizations[org_id]
        org["is_deleted"] = True
        org["update_time"] = v2time(at)
        self.org_deleted_at[org_id] = at

    def new_organization(self, rng: random.Random, now: datetime) -> int:
        org_id = self.next_id("org", ORG_ID_BASE + 100_000)
        owner = rng.choice(
            [u for u in self.users if u != TOKEN_USER_ID and self.users[u]["active_flag"]]
        )
        self.organizations[org_id] = orgs.organization(
            org_id,
            f"Newco {org_id} GmbH",
            owner,
            v2time(now),
            v2time(now),
            website=f"https://www.newco{org_id}.example",
            country="DE",
            industry=None,
            custom=self._org_custom("SMB", 12),
        )
        return org_id

    def new_deal(self, rng: random.Random, now: datetime) -> int:
        deal_id = self.next_id("deal")
        owner = rng.choice(
            [u for u in self.users if u != TOKEN_USER_ID and self.users[u]["active_flag"]]
        )
        self._add_deal(
            deal_id,
            title=f"New opportunity {deal_id}",
            owner=owner,
            org_id=rng.choice(self.live_org_ids()),
            stage_id=1,
            value=float(rng.randrange(5_000, 90_000)),
            currency="USD",
            at=now,
            probability=None,
            expected_close_date=(now + timedelta(days=45)).date(),
            custom_fields=self._custom_values(rng, rng.choice(LEAD_SOURCES)),
        )
        return deal_id

    def _add_deal(
        self,
        deal_id: int,
        *,
        title: str,
        owner: int,
        org_id: int,
        stage_id: int,
        value: float,
        currency: str,
        at: datetime,
        probability: int | None,
        expected_close_date: date,
        custom_fields: dict[str, Any],
    ) -> dict[str, Any]:
        """A deal as Pipedrive holds one just created (open, in ``stage_id``, by its owner),
        with an empty changelog and its first step of the truth: the one place both seeding
        and ``mutate``'s new deals make a deal, so the two cannot drift apart."""
        deal: dict[str, Any] = {
            "id": deal_id,
            "title": title,
            "creator_user_id": owner,
            "owner_id": owner,
            "person_id": None,
            "org_id": org_id,
            "pipeline_id": 1,
            "stage_id": stage_id,
            "value": value,
            "currency": currency,
            "add_time": v2time(at),
            "update_time": v2time(at),
            "stage_change_time": None,
            "is_deleted": False,
            "is_archived": False,
            "archive_time": None,
            "status": "open",
            "probability": probability,
            "lost_reason": None,
            "visible_to": 3,
            "close_time": None,
            "won_time": None,
            "lost_time": None,
            "expected_close_date": expected_close_date.isoformat(),
            "label_ids": [],
            "origin": "ManuallyCreated",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "arr": None,
            "mrr": None,
            "acv": None,
            "custom_fields": custom_fields,
        }
        self.deals[deal_id] = deal
        self.flows[deal_id] = []
        self.history[deal_id] = [Step(at, str(stage_id), None)]
        return deal

    # ----- the truth -------------------------------------------------------------------------
    def expected(self, source_name: str, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """What the canonical tables must hold after a complete sync, for comparison."""
        visible = [
            d
            for d in self.deals.values()
            if not d["is_deleted"] or now - self.deleted_at[d["id"]] <= timedelta(days=30)
        ]
        deals = [
            {
                "deal_key": make_key(source_name, d["id"]),
                "stage_id": str(d["stage_id"]),
                "pipeline_id": str(d["pipeline_id"]),
                "status": d["status"],
                "amount": Decimal(str(d["value"])).quantize(Decimal("0.01")),
                "owner_id": str(d["owner_id"]),
                "account_id": None if d["org_id"] is None else str(d["org_id"]),
                "account_key": None if d["org_id"] is None else make_key(source_name, d["org_id"]),
                "is_deleted": d["is_deleted"],
            }
            for d in visible
        ]
        # deleted organisations as a sync that saw them before the deletion holds them
        accounts = [
            {
                "account_key": make_key(source_name, o["id"]),
                "name": o["name"],
                "website": o["website"],
                "owner_id": str(o["owner_id"]),
                "is_deleted": o["is_deleted"],
            }
            for o in self.organizations.values()
            if not o["is_deleted"] or now - self.org_deleted_at[o["id"]] <= timedelta(days=30)
        ]
        changes = [
            {
                "deal_key": make_key(source_name, d["id"]),
                "changed_at": step.at.replace(microsecond=0),
                "stage_id": step.stage_id,
                "from_stage_id": step.from_stage_id,
            }
            for d in visible
            for step in self.history[d["id"]]
        ]
        activities = [
            {
                "activity_key": make_key(source_name, a["id"]),
                "deal_key": make_key(source_name, a["deal_id"]),
            }
            for a in self.activities.values()
        ] + [
            {
                "activity_key": make_key(source_name, f"note-{n['id']}"),
                "deal_key": make_key(source_name, n["deal_id"]),
            }
            for n in self.notes.values()
        ]
        return {
            "deals": deals,
            "accounts": accounts,
            "deal_accounts": [
                {
                    "deal_key": make_key(source_name, d["id"]),
                    "account_key": make_key(source_name, d["org_id"]),
                }
                for d in visible
                if d["org_id"] is not None
            ],
            "stage_changes": changes,
            "activities": activities,
            "owners": [{"owner_key": make_key(source_name, u)} for u in self.users],
            "stages": [{"stage_key": make_key(source_name, s)} for s in self.stages]
            + [
                {"stage_key": make_key(source_name, "won")},
                {"stage_key": make_key(source_name, "lost")},
            ],
            "pipelines": [{"pipeline_key": make_key(source_name, p)} for p in self.pipelines],
        }


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def build_store(
    seed: int,
    n_deals: int,
    source_index: int,
    n_sources: int,
    activities_per_deal: float = 3.0,
    duplicate_share: float = 0.0,
    signal: float | None = None,
) -> PipedriveStore:
    store = PipedriveStore(seed=seed)
    # n_deals is this sandbox's share: the world holds every source's slice.
    store.seed_from(
        World(
            WorldSpec(
                seed=seed,
                n_deals=n_deals * n_sources,
                activities_per_deal=activities_per_deal,
                duplicate_share=duplicate_share,
                signal=signal,
            )
        ),
        source_index,
        n_sources,
    )
    return store
