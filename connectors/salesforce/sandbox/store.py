"""The sandbox org's data: sObjects seeded from the synthetic world, and how they change.

Records hold Python values (aware datetimes at second precision, dates, floats, bools);
the HTTP layer renders them the way REST (``2024-09-24T03:26:07.000+0000``) or Bulk 2.0
CSV (``...000Z``) does. Every change moves ``SystemModstamp`` and ``LastModifiedDate`` and,
for stage, amount, probability or close-date changes, adds an OpportunityHistory row, as
Salesforce does.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.salesforce.settings import DEFAULT_STAGE_MAP, STANDARD_STAGES
from connectors.synthetic import SyntheticDeal, World, WorldSpec
from connectors.synthetic.companies import account_view
from connectors.synthetic.world import LEAD_SOURCES
from connectors.synthetic.world import Account as WorldAccount

Rec = dict[str, Any]

# Field name -> SOQL type, per sObject (the subset the sandbox org has).
SCHEMA: dict[str, dict[str, str]] = {
    "Opportunity": {
        "Id": "id",
        "IsDeleted": "boolean",
        "AccountId": "reference",
        "Name": "string",
        "StageName": "picklist",
        "Amount": "double",
        "Probability": "double",
        "ExpectedRevenue": "double",
        "CloseDate": "date",
        "Type": "picklist",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "ForecastCategory": "picklist",
        "ForecastCategoryName": "picklist",
        "CurrencyIsoCode": "picklist",
        "OwnerId": "reference",
        "CreatedDate": "datetime",
        "CreatedById": "reference",
        "LastModifiedDate": "datetime",
        "LastModifiedById": "reference",
        "SystemModstamp": "datetime",
        "LastStageChangeDate": "datetime",
        "LeadSource": "picklist",
        "Loss_Reason__c": "string",
        "Legacy_Id__c": "string",
        "Hub_Score__c": "double",
        "Hub_Score_Reason__c": "string",
    },
    "OpportunityHistory": {
        "Id": "id",
        "OpportunityId": "reference",
        "CreatedById": "reference",
        "CreatedDate": "datetime",
        "StageName": "picklist",
        "Amount": "double",
        "ExpectedRevenue": "double",
        "CloseDate": "date",
        "Probability": "double",
        "ForecastCategory": "picklist",
        "PrevAmount": "double",
        "PrevCloseDate": "date",
        "CurrencyIsoCode": "picklist",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "OpportunityStage": {
        "Id": "id",
        "MasterLabel": "string",
        "ApiName": "string",
        "IsActive": "boolean",
        "SortOrder": "int",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "ForecastCategory": "picklist",
        "ForecastCategoryName": "picklist",
        "DefaultProbability": "double",
        "Description": "string",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "User": {
        "Id": "id",
        "Username": "string",
        "Name": "string",
        "Email": "string",
        "IsActive": "boolean",
        "Department": "string",
        "UserType": "picklist",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "Account": {
        "Id": "id",
        "IsDeleted": "boolean",
        "Name": "string",
        "Type": "picklist",
        "BillingCountry": "string",
        "Website": "url",
        "Industry": "picklist",
        "NumberOfEmployees": "int",
        "OwnerId": "reference",
        "CreatedDate": "datetime",
        "CreatedById": "reference",
        "LastModifiedDate": "datetime",
        "LastModifiedById": "reference",
        "SystemModstamp": "datetime",
        "Segment__c": "picklist",
    },
    "Task": {
        "Id": "id",
        "WhatId": "reference",
        "WhoId": "reference",
        "Subject": "string",
        "ActivityDate": "date",
        "Status": "picklist",
        "Priority": "picklist",
        "OwnerId": "reference",
        "Type": "picklist",
        "IsDeleted": "boolean",
        "IsClosed": "boolean",
        "CreatedDate": "datetime",
        "CreatedById": "reference",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
        "CallDurationInSeconds": "int",
        "CallType": "picklist",
        "CallDisposition": "string",
        "TaskSubtype": "picklist",
        "CompletedDateTime": "datetime",
    },
    "Event": {
        "Id": "id",
        "WhatId": "reference",
        "WhoId": "reference",
        "Subject": "string",
        "ActivityDateTime": "datetime",
        "ActivityDate": "date",
        "DurationInMinutes": "int",
        "StartDateTime": "datetime",
        "EndDateTime": "datetime",
        "OwnerId": "reference",
        "Type": "picklist",
        "IsDeleted": "boolean",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
        "EventSubtype": "picklist",
    },
}
# Parent relationships: object -> relationship name -> (lookup field, parent object).
RELATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "Opportunity": {"Account": ("AccountId", "Account"), "Owner": ("OwnerId", "User")},
    "Account": {"Owner": ("OwnerId", "User")},
    "Task": {"Owner": ("OwnerId", "User")},
    "Event": {"Owner": ("OwnerId", "User")},
    "OpportunityHistory": {"Opportunity": ("OpportunityId", "Opportunity")},
}
KEY_PREFIX = {
    "Opportunity": "006",
    "Account": "001",
    "User": "005",
    "Task": "00T",
    "Event": "00U",
    "OpportunityHistory": "008",
    "OpportunityStage": "01J",
}
# Fields a client may write on Opportunity (the rest are system or formula fields).
UPDATEABLE = {
    "Name",
    "StageName",
    "Amount",
    "Probability",
    "CloseDate",
    "Type",
    "OwnerId",
    "AccountId",
    "CurrencyIsoCode",
    "LeadSource",
    "Loss_Reason__c",
    "Legacy_Id__c",
    "Hub_Score__c",
    "Hub_Score_Reason__c",
    "ForecastCategoryName",
}
# Field labels: "Object.Field" for a label that differs per object, else "Field".
LABELS = {
    "Opportunity.Name": "Opportunity Name",
    "Account.Name": "Account Name",
    "Account.Type": "Account Type",
    "AccountId": "Account ID",
    "BillingCountry": "Billing Country",
    "IsDeleted": "Deleted",
    "CreatedDate": "Created Date",
    "CreatedById": "Created By ID",
    "LastModifiedDate": "Last Modified Date",
    "LastModifiedById": "Last Modified By ID",
    "SystemModstamp": "System Modstamp",
    "LeadSource": "Lead Source",
    "NumberOfEmployees": "Employees",
    "OwnerId": "Owner ID",
    "Loss_Reason__c": "Loss Reason",
    "Legacy_Id__c": "Legacy ID",
    "Segment__c": "Segment",
    "Hub_Score__c": "Hub Score",
    "Hub_Score_Reason__c": "Hub Score Reason",
}
# Picklists other than StageName (which lists the org's OpportunityStage rows): (API value,
# label) pairs. This org's admin customised the standard ones; Segment__c's middle value
# keeps the API name it was created with after its label was changed, so a query returns
# ``Mid_Market`` and only describe says it reads "Mid-Market".
PICKLISTS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("Opportunity", "LeadSource"): tuple((name, name) for name, _ in LEAD_SOURCES),
    ("Opportunity", "Type"): (
        ("New Business", "New Business"),
        ("Existing Business", "Existing Business"),
    ),
    ("Account", "Type"): (("Prospect", "Prospect"), ("Customer", "Customer")),
    ("Account", "Industry"): tuple(
        (name, name)
        for name in (
            "Energy",
            "Financial Services",
            "Food & Beverage",
            "Healthcare",
            "Life Sciences",
            "Logistics",
            "Manufacturing",
            "Media",
            "Professional Services",
            "Retail",
            "Software",
            "Telecommunications",
            "Other",
        )
    ),
    ("Account", "Segment__c"): (
        ("Enterprise", "Enterprise"),
        ("Mid_Market", "Mid-Market"),
        ("SMB", "SMB"),
    ),
}
SEGMENT_VALUE = {label: value for value, label in PICKLISTS[("Account", "Segment__c")]}

# ``extra_custom_fields``: custom fields an admin added to Account and Opportunity, their
# types in this rotation (every describe type the connector reads), values drawn per record.
EXTRA_TYPES = (
    "string",
    "double",
    "currency",
    "percent",
    "int",
    "date",
    "datetime",
    "boolean",
    "picklist",
    "textarea",
    "url",
    "email",
    "phone",
    "multipicklist",
)
EXTRA_OPTIONS = (("Option_A", "Option A"), ("Option_B", "Option B"), ("Option_C", "Option C"))


def extra_fields(n: int) -> list[tuple[str, str]]:
    """(API name, type) of ``n`` admin-made custom fields, long names as real orgs have."""
    return [
        (f"Extra_Attribute_{k:03d}_{EXTRA_TYPES[k % len(EXTRA_TYPES)].title()}__c", t)
        for k, t in ((k, EXTRA_TYPES[k % len(EXTRA_TYPES)]) for k in range(1, n + 1))
    ]


def extra_value(ftype: str, rng: random.Random) -> Any:
    """One record's value of an extra field; about one in five is empty."""
    if rng.random() < 0.2:
        return None
    if ftype in ("double", "currency", "percent"):
        return round(rng.uniform(0, 1000), 2)
    if ftype == "int":
        return rng.randint(0, 5000)
    if ftype == "date":
        return (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 500))).date()
    if ftype == "datetime":
        return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 40_000_000))
    if ftype == "boolean":
        return rng.random() < 0.5
    if ftype == "picklist":
        return rng.choice(EXTRA_OPTIONS)[0]
    if ftype == "multipicklist":
        return ";".join(v for v, _ in EXTRA_OPTIONS if rng.random() < 0.5) or None
    if ftype == "url":
        return f"https://example.com/item/{rng.randint(1, 999)}"
    if ftype == "email":
        return f"contact{rng.randint(1, 999)}@example.com"
    if ftype == "phone":
        return f"+1 555 {rng.randint(1000, 9999)}"
    return f"note {rng.randint(1, 10_000)}"


# The sandbox puts each canonical stage on one native stage of the standard sales process.
NATIVE_FOR: dict[str, str] = {
    "prospecting": "Prospecting",
    "qualification": "Qualification",
    "meeting": "Value Proposition",
    "proposal": "Proposal/Price Quote",
    "negotiation": "Negotiation/Review",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
}
OPEN_PATH = [
    NATIVE_FOR[s] for s in ("prospecting", "qualification", "meeting", "proposal", "negotiation")
]
STAGE_INFO = {s[0]: s for s in STANDARD_STAGES}
assert all(DEFAULT_STAGE_MAP[v] == k for k, v in NATIVE_FOR.items())

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(id15: str) -> str:
    """Salesforce's case-safe suffix: one char per 5-char chunk, a bit per uppercase letter."""
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if ch.isupper())
        suffix += _SUFFIX[bits]
    return id15 + suffix


class IdMaker:
    def __init__(self, pod: str = "5g") -> None:
        self.pod = pod
        self.counters: dict[str, int] = {}

    def new(self, obj: str) -> str:
        n = self.counters.get(obj, 0) + 1
        self.counters[obj] = n
        body = ""
        for _ in range(10):
            n, r = divmod(n, 62)
            body = _B62[r] + body
        return id18(f"{KEY_PREFIX[obj]}{self.pod}{body}")


def _sec(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


class Org:
    """One org's records plus the ways reps (and the hub) change them.

    Seeded from the synthetic world as source ``source_index`` of ``n_sources`` holds it:
    its deals (``World.iter_source_deals``: its own share, plus migrated copies carrying
    ``Legacy_Id__c`` when ``duplicate_share`` > 0) and the companies they belong to
    (``World.source_accounts``, collected in the same pass so the world is built once),
    named and with a website as this source writes them (``companies.account_view``).
    ``schema``, ``labels`` and ``picklists`` are this org's copies: ``extra_custom_fields``
    adds admin-made custom fields to Account and Opportunity."""

    def __init__(
        self,
        *,
        seed: int,
        n_deals: int,
        source_index: int,
        n_sources: int,
        now: datetime,
        currency: str | None = None,
        activities_per_deal: float = 3.0,
        duplicate_share: float = 0.0,
        signal: float | None = None,
        extra_custom_fields: int = 0,
    ) -> None:
        self.ids = IdMaker()
        self.schema: dict[str, dict[str, str]] = {obj: dict(f) for obj, f in SCHEMA.items()}
        self.labels = dict(LABELS)
        self.picklists = dict(PICKLISTS)
        self.extra = extra_fields(extra_custom_fields)
        for obj in ("Account", "Opportunity"):
            for name, ftype in self.extra:
                self.schema[obj][name] = ftype
                if ftype in ("picklist", "multipicklist"):
                    self.picklists[(obj, name)] = EXTRA_OPTIONS
        for name, _ in self.extra:
            self.labels[name] = name.removesuffix("__c").replace("_", " ")
        self.tables: dict[str, dict[str, Rec]] = {name: {} for name in SCHEMA}
        self.org_id = id18("00D5g00000" + "ORG01")
        default_as_of = WorldSpec().as_of
        as_of = min(default_as_of, now - timedelta(days=1))
        self.world = World(
            WorldSpec(
                seed=seed,
                n_deals=n_deals,
                as_of=as_of,
                activities_per_deal=activities_per_deal,
                duplicate_share=duplicate_share,
                signal=signal,
            )
        )
        self.source_index = source_index
        self.currency = currency
        self.created = created = _sec(as_of - timedelta(days=self.world.spec.history_days + 30))
        self.integration_user = self._user(
            "Hub Integration",
            "hub.integration@northwind-sales.example",
            True,
            "Integration",
            created,
        )
        self.rep_users = {
            rep.rep_id: self._user(rep.name, rep.email, rep.is_active, rep.team, created)
            for rep in self.world.reps
        }
        self.account_ids: dict[str, str] = {}  # world account_id -> Account Id
        self.world_accounts: dict[str, str] = {}  # Account Id -> world account_id
        self.world_deals: dict[str, str] = {}  # Opportunity Id -> world deal_id
        for order, (api, prob, closed, won, forecast, _) in enumerate(STANDARD_STAGES, start=1):
            stage_id = self.ids.new("OpportunityStage")
            self.tables["OpportunityStage"][stage_id] = {
                "Id": stage_id,
                "MasterLabel": api,
                "ApiName": api,
                "IsActive": True,
                "SortOrder": order,
                "IsClosed": closed,
                "IsWon": won,
                "ForecastCategory": forecast,
                "ForecastCategoryName": forecast,
                "DefaultProbability": float(prob),
                "Description": None,
                "CreatedDate": created,
                "SystemModstamp": created,
            }
        for deal in self.world.iter_source_deals(source_index, n_sources):
            self._seed_deal(deal)

    def label(self, obj: str, name: str) -> str:
        if name == "Id":
            return f"{obj} ID"
        return self.labels.get(f"{obj}.{name}") or self.labels.get(name) or name

    def add_field(
        self,
        obj: str,
        name: str,
        ftype: str,
        label: str,
        values: dict[str, Any],
        options: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """An admin creates a field in Setup and fills it by a data load: describe lists
        it, queries may name it, and the records' SystemModstamp does not move (a new
        field is metadata, not an edit), so only a full read shows the old rows' values."""
        self.schema[obj][name] = ftype
        self.labels[f"{obj}.{name}"] = label
        if options:
            self.picklists[(obj, name)] = options
        for rec_id, rec in self.tables[obj].items():
            rec[name] = values.get(rec_id)

    def remove_field(self, obj: str, name: str) -> None:
        """An admin deletes a field: describe drops it and a query naming it fails."""
        del self.schema[obj][name]
        self.picklists.pop((obj, name), None)
        for rec in self.tables[obj].values():
            rec.pop(name, None)

    # ----- seeding ----------------------------------------------------------------------
    def _user(self, name: str, email: str, active: bool, team: str, created: datetime) -> str:
        user_id = self.ids.new("User")
        self.tables["User"][user_id] = {
            "Id": user_id,
            "Username": email,
            "Name": name,
            "Email": email,
            "IsActive": active,
            "Department": team,
            "UserType": "Standard",
            "CreatedDate": created,
            "LastModifiedDate": created,
            "SystemModstamp": created,
        }
        return user_id

    def _account(self, account: WorldAccount) -> str:
        """The Account for a world company, created the first time a deal names it."""
        acc_id = self.account_ids.get(account.account_id)
        if acc_id is not None:
            return acc_id
        acc_id = self.ids.new("Account")
        view = account_view(account, self.source_index, self.world.spec.seed)
        owner = self.rep_users.get(account.owner or "", self.integration_user)
        created = _sec(account.created_at or self.created)
        updated = max(_sec(account.updated_at or created), created)
        self.tables["Account"][acc_id] = self._with_extras(
            {
                "Id": acc_id,
                "IsDeleted": False,
                "Name": view.name,
                "Type": "Customer",
                "BillingCountry": account.country,
                "Website": view.website,
                "Industry": account.industry,
                "NumberOfEmployees": account.employees,
                "OwnerId": owner,
                "CreatedDate": created,
                "CreatedById": owner,
                "LastModifiedDate": updated,
                "LastModifiedById": owner,
                "SystemModstamp": updated,
                "Segment__c": SEGMENT_VALUE.get(account.segment or ""),
            }
        )
        self.account_ids[account.account_id] = acc_id
        self.world_accounts[acc_id] = account.account_id
        return acc_id

    def _with_extras(self, rec: Rec) -> Rec:
        """``rec`` with this org's extra custom fields filled from its own Id."""
        if self.extra:
            rng = random.Random(rec["Id"])
            for name, ftype in self.extra:
                rec[name] = extra_value(ftype, rng)
        return rec

    def _seed_deal(self, deal: SyntheticDeal) -> None:
        opp_id = self.ids.new("Opportunity")
        self.world_deals[opp_id] = deal.deal_id
        owner = self.rep_users[deal.owner]
        stage = NATIVE_FOR[deal.stage]
        info = STAGE_INFO[stage]
        probability = deal.probability * 100 if deal.probability is not None else float(info[1])
        close_date = deal.closed_at.date() if deal.closed_at else deal.expected_close_date
        entered = _sec(deal.path[-1].entered_at)
        updated = max(_sec(deal.updated_at or entered), entered)
        self.tables["Opportunity"][opp_id] = self._with_extras(
            {
                "Id": opp_id,
                "IsDeleted": False,
                "AccountId": self._account(deal.account),
                "Name": deal.name,
                "StageName": stage,
                "Amount": float(deal.amount),
                "Probability": probability,
                "ExpectedRevenue": float(deal.amount) * probability / 100,
                "CloseDate": close_date,
                "Type": "New Business",
                "IsClosed": info[2],
                "IsWon": info[3],
                "ForecastCategory": info[4],
                "ForecastCategoryName": info[4],
                "CurrencyIsoCode": self.currency or deal.currency,
                "OwnerId": owner,
                "CreatedDate": _sec(deal.created_at),
                "CreatedById": owner,
                "LastModifiedDate": updated,
                "LastModifiedById": owner,
                "SystemModstamp": updated,
                "LastStageChangeDate": entered,
                "LeadSource": deal.lead_source,
                "Loss_Reason__c": deal.lost_reason,
                "Legacy_Id__c": deal.legacy_id,
                "Hub_Score__c": None,
                "Hub_Score_Reason__c": None,
            }
        )
        for visit in deal.path:
            native = NATIVE_FOR[visit.stage]
            prob = float(STAGE_INFO[native][1])
            if visit is deal.path[-1]:
                prob = probability
            self._history(
                opp_id, native, float(deal.amount), prob, close_date, owner, _sec(visit.entered_at)
            )
        for act in deal.activities:
            self._seed_activity(opp_id, act)

    def _seed_activity(self, opp_id: str, act: Any) -> None:
        owner = self.rep_users.get(act.owner, self.integration_user)
        at = _sec(act.occurred_at)
        if act.type == "meeting":
            ev_id = self.ids.new("Event")
            minutes = (act.duration_s or 1800) // 60
            self.tables["Event"][ev_id] = {
                "Id": ev_id,
                "WhatId": opp_id,
                "WhoId": None,
                "Subject": act.subject,
                "ActivityDateTime": at,
                "ActivityDate": at.date(),
                "DurationInMinutes": minutes,
                "StartDateTime": at,
                "EndDateTime": at + timedelta(minutes=minutes),
                "OwnerId": owner,
                "Type": "Meeting",
                "IsDeleted": False,
                "CreatedDate": at,
                "LastModifiedDate": at,
                "SystemModstamp": at,
                "EventSubtype": "Event",
            }
            return
        task_id = self.ids.new("Task")
        subtype = {"call": "Call", "email": "Email"}.get(act.type, "Task")
        completed = bool(act.completed)
        self.tables["Task"][task_id] = {
            "Id": task_id,
            "WhatId": opp_id,
            "WhoId": None,
            "Subject": act.subject,
            "ActivityDate": at.date(),
            "Status": "Completed" if completed else "Not Started",
            "Priority": "Normal",
            "OwnerId": owner,
            "Type": {"call": "Call", "email": "Email"}.get(act.type, "Other"),
            "IsDeleted": False,
            "IsClosed": completed,
            "CreatedDate": at,
            "CreatedById": owner,
            "LastModifiedDate": at,
            "SystemModstamp": at,
            "CallDurationInSeconds": act.duration_s if act.type == "call" else None,
            "CallType": ((act.direction or "").capitalize() or None)
            if act.type == "call"
            else None,
            "CallDisposition": act.outcome if act.type == "call" else None,
            "TaskSubtype": subtype,
            "CompletedDateTime": at if completed else None,
        }

    def _history(
        self,
        opp_id: str,
        stage: str,
        amount: float | None,
        probability: float | None,
        close_date: Any,
        by: str,
        at: datetime,
        prev: Rec | None = None,
    ) -> None:
        hist_id = self.ids.new("OpportunityHistory")
        self.tables["OpportunityHistory"][hist_id] = {
            "Id": hist_id,
            "OpportunityId": opp_id,
            "CreatedById": by,
            "CreatedDate": at,
            "StageName": stage,
            "Amount": amount,
            "ExpectedRevenue": (amount or 0) * (probability or 0) / 100,
            "CloseDate": close_date,
            "Probability": probability,
            "ForecastCategory": STAGE_INFO[stage][4],
            "PrevAmount": prev.get("Amount") if prev else None,
            "PrevCloseDate": prev.get("CloseDate") if prev else None,
            "CurrencyIsoCode": self.tables["Opportunity"][opp_id]["CurrencyIsoCode"],
            "SystemModstamp": at,
            "IsDeleted": False,
        }

    # ----- changes ------------------------------------------------------------------------
    def update_opportunity(self, opp_id: str, changes: Rec, *, by: str, at: datetime) -> None:
        """Apply field changes the way Salesforce does, history row included."""
        opp = self.tables["Opportunity"][opp_id]
        before = dict(opp)
        opp.update(changes)
        if "StageName" in changes and changes["StageName"] != before["StageName"]:
            info = STAGE_INFO[opp["StageName"]]
            if "Probability" not in changes:
                opp["Probability"] = float(info[1])
            opp.update(
                IsClosed=info[2],
                IsWon=info[3],
                ForecastCategory=info[4],
                ForecastCategoryName=info[4],
            )
            opp["LastStageChangeDate"] = at
            if opp["IsClosed"]:
                opp["CloseDate"] = at.date()
        opp["ExpectedRevenue"] = (opp["Amount"] or 0) * (opp["Probability"] or 0) / 100
        opp.update(LastModifiedDate=at, LastModifiedById=by, SystemModstamp=at)
        tracked = ("StageName", "Amount", "Probability", "CloseDate")
        if any(opp[f] != before[f] for f in tracked):
            self._history(
                opp_id,
                opp["StageName"],
                opp["Amount"],
                opp["Probability"],
                opp["CloseDate"],
                by,
                at,
                before,
            )

    def live_opportunities(self) -> list[str]:
        return [i for i, o in self.tables["Opportunity"].items() if not o["IsDeleted"]]

    def delete_opportunity(self, opp_id: str, at: datetime) -> None:
        """Recycle bin: the row, its history and its activities become IsDeleted."""
        self.tables["Opportunity"][opp_id].update(IsDeleted=True, SystemModstamp=at)
        for hist in self.tables["OpportunityHistory"].values():
            if hist["OpportunityId"] == opp_id:
                hist.update(IsDeleted=True, SystemModstamp=at)
        for obj in ("Task", "Event"):
            for act in self.tables[obj].values():
                if act["WhatId"] == opp_id and not act["IsDeleted"]:
                    act.update(IsDeleted=True, SystemModstamp=at)

    def live_accounts(self) -> list[str]:
        return [i for i, a in self.tables["Account"].items() if not a["IsDeleted"]]

    def update_account(self, acc_id: str, changes: Rec, *, by: str, at: datetime) -> None:
        """A rep's edit: the fields, then LastModified* and SystemModstamp. Its
        opportunities keep their SystemModstamp (a parent's change is not theirs)."""
        self.tables["Account"][acc_id].update(
            changes, LastModifiedDate=at, LastModifiedById=by, SystemModstamp=at
        )

    def delete_account(self, acc_id: str, at: datetime) -> list[str]:
        """Recycle bin: the account and, as Salesforce cascades, its opportunities (with
        their history and activities). Returns the opportunities deleted with it."""
        self.tables["Account"][acc_id].update(IsDeleted=True, SystemModstamp=at)
        gone = [
            i
            for i in self.live_opportunities()
            if self.tables["Opportunity"][i]["AccountId"] == acc_id
        ]
        for opp_id in gone:
            self.delete_opportunity(opp_id, at)
        return gone

    def account_edit(self, rng: random.Random, acc_id: str) -> Rec:
        """What a rep changes on an account: its size (and so its segment), and either the
        industry or the website."""
        acc = self.tables["Account"][acc_id]
        employees = max(2, int((acc["NumberOfEmployees"] or 10) * rng.uniform(0.8, 1.6)))
        segment = "Enterprise" if employees >= 1000 else "Mid-Market" if employees >= 100 else "SMB"
        changes: Rec = {"NumberOfEmployees": employees, "Segment__c": SEGMENT_VALUE[segment]}
        if rng.random() < 0.5:
            industries = [v for v, _ in PICKLISTS[("Account", "Industry")]]
            changes["Industry"] = rng.choice([i for i in industries if i != acc["Industry"]])
        else:
            slug = "".join(ch for ch in acc["Name"].lower() if ch.isalnum())[:20] or "company"
            changes["Website"] = f"https://www.{slug}-group.com/"
        return changes

    def new_opportunity(self, rng: random.Random, at: datetime) -> str:
        opp_id = self.ids.new("Opportunity")
        owner = rng.choice(
            [u for r, u in self.rep_users.items() if self.tables["User"][u]["IsActive"]]
        )
        account = rng.choice(self.live_accounts())
        amount = float(Decimal(rng.randint(50, 900) * 100))
        close = (at + timedelta(days=45)).date()
        lead_source = rng.choice(PICKLISTS[("Opportunity", "LeadSource")])[0]
        self.tables["Opportunity"][opp_id] = self._with_extras(
            {
                "Id": opp_id,
                "IsDeleted": False,
                "AccountId": account,
                "Name": f"{self.tables['Account'][account]['Name']} - New opportunity",
                "StageName": "Prospecting",
                "Amount": amount,
                "Probability": 10.0,
                "ExpectedRevenue": amount / 10,
                "CloseDate": close,
                "Type": "New Business",
                "IsClosed": False,
                "IsWon": False,
                "ForecastCategory": "Pipeline",
                "ForecastCategoryName": "Pipeline",
                "CurrencyIsoCode": self.currency or "USD",
                "OwnerId": owner,
                "CreatedDate": at,
                "CreatedById": owner,
                "LastModifiedDate": at,
                "LastModifiedById": owner,
                "SystemModstamp": at,
                "LastStageChangeDate": at,
                "LeadSource": lead_source,
                "Loss_Reason__c": None,
                "Legacy_Id__c": None,
                "Hub_Score__c": None,
                "Hub_Score_Reason__c": None,
            }
        )
        self._history(opp_id, "Prospecting", amount, 10.0, close, owner, at)
        return opp_id

    def new_task(self, rng: random.Random, opp_id: str, at: datetime) -> str:
        task_id = self.ids.new("Task")
        owner = self.tables["Opportunity"][opp_id]["OwnerId"]
        kind = rng.choice(["Call", "Email", "Task"])
        self.tables["Task"][task_id] = {
            "Id": task_id,
            "WhatId": opp_id,
            "WhoId": None,
            "Subject": f"{kind} logged",
            "ActivityDate": at.date(),
            "Status": "Completed",
            "Priority": "Normal",
            "OwnerId": owner,
            "Type": kind if kind != "Task" else "Other",
            "IsDeleted": False,
            "IsClosed": True,
            "CreatedDate": at,
            "CreatedById": owner,
            "LastModifiedDate": at,
            "SystemModstamp": at,
            "CallDurationInSeconds": rng.randint(30, 900) if kind == "Call" else None,
            "CallType": "Outbound" if kind == "Call" else None,
            "CallDisposition": "connected" if kind == "Call" else None,
            "TaskSubtype": kind,
            "CompletedDateTime": at,
        }
        return task_id

    def max_modstamp(self) -> datetime:
        return max(o["SystemModstamp"] for o in self.tables["Opportunity"].values())

    def mutate(self, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
        rng = random.Random(spec.get("seed", 0))
        at = _sec(now)
        changed: list[str] = []
        deleted: list[str] = []
        new: list[str] = []

        def open_deals() -> list[str]:
            return [
                i
                for i in self.live_opportunities()
                if not self.tables["Opportunity"][i]["IsClosed"]
            ]

        def pick(pool: list[str]) -> str | None:
            return rng.choice(pool) if pool else None

        def move(opp_id: str, stage: str, when: datetime, **extra: Any) -> None:
            owner = self.tables["Opportunity"][opp_id]["OwnerId"]
            self.update_opportunity(opp_id, {"StageName": stage, **extra}, by=owner, at=when)
            changed.append(opp_id)

        def advance(when: datetime) -> str | None:
            """Move one open deal (not yet in the last open stage) one stage forward."""
            opp_id = pick(
                [
                    i
                    for i in open_deals()
                    if self.tables["Opportunity"][i]["StageName"] != OPEN_PATH[-1]
                ]
            )
            if opp_id:
                current = self.tables["Opportunity"][opp_id]["StageName"]
                k = OPEN_PATH.index(current) if current in OPEN_PATH else 0
                move(opp_id, OPEN_PATH[k + 1], when)
            return opp_id

        for _ in range(spec.get("stage_moves", 5)):
            advance(at)
        for _ in range(spec.get("backward_moves", 1)):
            opp_id = pick(
                [
                    i
                    for i in open_deals()
                    if self.tables["Opportunity"][i]["StageName"] in OPEN_PATH[2:]
                ]
            )
            if opp_id:
                k = OPEN_PATH.index(self.tables["Opportunity"][opp_id]["StageName"])
                move(opp_id, OPEN_PATH[k - 1], at)
        for _ in range(spec.get("amount_edits", 2)):
            opp_id = pick(self.live_opportunities())
            if opp_id:
                opp = self.tables["Opportunity"][opp_id]
                amount = round((opp["Amount"] or 1000) * rng.uniform(0.7, 1.3), 2)
                self.update_opportunity(opp_id, {"Amount": amount}, by=opp["OwnerId"], at=at)
                changed.append(opp_id)
        for _ in range(spec.get("won", 1)):
            opp_id = pick(open_deals())
            if opp_id:
                move(opp_id, "Closed Won", at)
        for _ in range(spec.get("lost", 1)):
            opp_id = pick(open_deals())
            if opp_id:
                move(
                    opp_id,
                    "Closed Lost",
                    at,
                    Loss_Reason__c=rng.choice(["No budget", "Chose competitor"]),
                )
        for _ in range(spec.get("deletes", 1)):
            opp_id = pick(self.live_opportunities())
            if opp_id:
                self.delete_opportunity(opp_id, at)
                deleted.append(opp_id)
        for _ in range(spec.get("new_deals", 2)):
            new.append(self.new_opportunity(rng, at))
        new_activities = []
        for _ in range(spec.get("new_activities", 3)):
            opp_id = pick(self.live_opportunities())
            if opp_id:
                new_activities.append(self.new_task(rng, opp_id, at))
        moved = []
        for _ in range(spec.get("association_changes", 1)):
            tasks = [t for t in self.tables["Task"].values() if not t["IsDeleted"]]
            target = pick(self.live_opportunities())
            if tasks and target:
                task = rng.choice(tasks)
                task.update(WhatId=target, LastModifiedDate=at, SystemModstamp=at)
                moved.append(task["Id"])
        late = []
        late_n = spec.get("late_commits", 0)
        if late_n:
            # A long transaction commits now with the modstamp from when it started.
            when = self.max_modstamp() - timedelta(seconds=spec.get("late_by_s", 5))
            for _ in range(late_n):
                if opp_id := advance(when):
                    late.append(opp_id)
        changed_accounts, deleted_accounts = self._mutate_accounts(spec, rng, at, changed, deleted)
        return {
            "changed_account_ids": sorted(set(changed_accounts) - set(deleted_accounts)),
            "deleted_account_ids": deleted_accounts,
            "changed_deal_ids": sorted(set(changed) - set(deleted)),
            "deleted_deal_ids": deleted,
            "new_deal_ids": new,
            "new_activity_ids": new_activities,
            "moved_activity_ids": moved,
            "late_deal_ids": late,
        }

    def _mutate_accounts(
        self,
        spec: dict[str, Any],
        rng: random.Random,
        at: datetime,
        changed_deals: list[str],
        deleted_deals: list[str],
    ) -> tuple[list[str], list[str]]:
        """``account_edits`` (default 1), ``account_moves`` (an opportunity moved to another
        account), ``account_unlinks`` (its AccountId cleared) and ``account_deletes`` (the
        account and its opportunities to the recycle bin), after every deal change so the
        deal knobs draw what they always drew."""
        changed: list[str] = []
        deleted: list[str] = []
        for _ in range(spec.get("account_edits", 1)):
            accounts = self.live_accounts()
            if accounts:
                acc_id = rng.choice(accounts)
                owner = self.tables["Account"][acc_id]["OwnerId"]
                self.update_account(acc_id, self.account_edit(rng, acc_id), by=owner, at=at)
                changed.append(acc_id)
        for key, target in (("account_moves", True), ("account_unlinks", False)):
            for _ in range(spec.get(key, 0)):
                linked = [
                    i
                    for i in self.live_opportunities()
                    if self.tables["Opportunity"][i]["AccountId"]
                ]
                if not linked:
                    break
                opp_id = rng.choice(linked)
                opp = self.tables["Opportunity"][opp_id]
                others = [a for a in self.live_accounts() if a != opp["AccountId"]]
                new_account = rng.choice(others) if target and others else None
                self.update_opportunity(
                    opp_id, {"AccountId": new_account}, by=opp["OwnerId"], at=at
                )
                changed_deals.append(opp_id)
        for _ in range(spec.get("account_deletes", 0)):
            accounts = self.live_accounts()
            if accounts:
                acc_id = rng.choice(accounts)
                deleted.append(acc_id)
                deleted_deals.extend(self.delete_account(acc_id, at))
        return changed, deleted

    # ----- the truth a correct pull must reproduce ------------------------------------------
    def expected_canonical(self, source: str) -> dict[str, list[Rec]]:
        """Deals (stage, status, amount, is_deleted), stage history, activities, owners,
        accounts (picklists as their labels) and each deal's account."""
        deals = [
            {
                "deal_key": f"{source}:{o['Id']}",
                "stage_id": o["StageName"],
                "status": "won" if o["IsWon"] else ("lost" if o["IsClosed"] else "open"),
                "amount": Decimal(str(o["Amount"])) if o["Amount"] is not None else None,
                "is_deleted": o["IsDeleted"],
            }
            for o in self.tables["Opportunity"].values()
        ]
        history: list[Rec] = []
        by_deal: dict[str, list[Rec]] = {}
        for h in self.tables["OpportunityHistory"].values():
            by_deal.setdefault(h["OpportunityId"], []).append(h)
        for opp_id, rows in by_deal.items():
            last = None
            for h in sorted(rows, key=lambda r: (r["CreatedDate"], r["Id"])):
                if h["StageName"] != last:
                    history.append(
                        {
                            "deal_key": f"{source}:{opp_id}",
                            "changed_at": h["CreatedDate"],
                            "stage_id": h["StageName"],
                        }
                    )
                last = h["StageName"]
        activities = [
            {
                "activity_key": f"{source}:{a['Id']}",
                "deal_key": f"{source}:{a['WhatId']}" if a["WhatId"] else None,
                "is_deleted": a["IsDeleted"],
            }
            for obj in ("Task", "Event")
            for a in self.tables[obj].values()
        ]
        owners = [{"owner_key": f"{source}:{u}"} for u in self.tables["User"]]
        segments = dict(PICKLISTS[("Account", "Segment__c")])
        accounts = [
            {
                "account_key": f"{source}:{a['Id']}",
                "name": a["Name"],
                "website": a["Website"],
                "industry": a["Industry"],
                "country": a["BillingCountry"],
                "owner_id": a["OwnerId"],
                "is_deleted": a["IsDeleted"],
                "segment": segments.get(a["Segment__c"], a["Segment__c"]),
                "employees": a["NumberOfEmployees"],
            }
            for a in self.tables["Account"].values()
        ]
        deal_accounts = [
            {"deal_key": f"{source}:{o['Id']}", "account_key": f"{source}:{o['AccountId']}"}
            for o in self.tables["Opportunity"].values()
            if o["AccountId"]
        ]
        return {
            "accounts": accounts,
            "deal_accounts": deal_accounts,
            "deals": deals,
            "stage_changes": history,
            "activities": activities,
            "owners": owners,
        }

    def iter_records(self, obj: str, *, all_rows: bool) -> Iterator[Rec]:
        for rec in self.tables[obj].values():
            if all_rows or not rec.get("IsDeleted"):
                yield rec
