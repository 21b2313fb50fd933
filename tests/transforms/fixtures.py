"""A small warehouse that honours the dbt input contract, built without the pull code.

Three generated sources (HubSpot-, Pipedrive- and CSV-shaped) share one synthetic world, plus
an ``edge`` source of hand-written deals, a ``hand`` source of hand-written accounts, custom
fields and a duplicate, and an ``export`` source laid out like an engage/close CSV export with
deals that have no creation date (fixtures_export.py). The generated sources also carry the world's
companies as accounts, custom fields (lead_source; segment, employees) and migrated copies of
each other's deals; the tables account resolution and duplicate detection would write
(hub_account_resolution, hub_deal_duplicates) are written here from the generator's truth,
as plain rows. Every deal also becomes an :class:`ExpectedDeal`:
the facts the tests compute metrics from in plain Python, independently of the SQL. Its
``path`` is what the hub can know of the deal's canonical stage history, written per CRM
shape from the generator's own path (or by hand for the edge deals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.canonical_tables import arrow_schema
from connectors.synthetic import CANONICAL_STAGES, STAGE_LABELS, World, WorldSpec, companies
from connectors.values import web_domain
from models.canonical import CANONICAL_TABLES

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
AS_OF_VAR = "2026-06-30T00:00:00Z"
N_DEALS = 1500
SEED = 11
BASE_CURRENCY = "USD"
FX = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}
STAGE_PROBABILITY = {
    "prospecting": 0.1,
    "qualification": 0.2,
    "meeting": 0.4,
    "proposal": 0.6,
    "negotiation": 0.8,
    "closed_won": 1.0,
    "closed_lost": 0.0,
}
STALL_DAYS = {"meeting": 20.0}  # the other stages use the p90 default
OUTCOME = {"closed_won": "won", "closed_lost": "lost"}
STAGE_ORDER = {s: k + 1 for k, s in enumerate(CANONICAL_STAGES)}
OPEN_STAGES = CANONICAL_STAGES[:5]

HUBSPOT_IDS = {
    "prospecting": "appointmentscheduled",
    "qualification": "qualifiedtobuy",
    "meeting": "presentationscheduled",
    "proposal": "decisionmakerboughtin",
    "negotiation": "contractsent",
    "closed_won": "closedwon",
    "closed_lost": "closedlost",
}
PIPEDRIVE_IDS = {s: str(k + 1) for k, s in enumerate(OPEN_STAGES)}
SOURCES = {"hubspot_main": "hubspot", "pipedrive_eu": "pipedrive", "csv_legacy": "csv"}
EDGE_SOURCE = "edge"
HAND_SOURCE = "hand"
EXPORT_SOURCE = "export"  # an engage/close CSV export, first synced without as_of
ALL_SOURCES = {**SOURCES, EDGE_SOURCE: "hubspot", HAND_SOURCE: "salesforce", EXPORT_SOURCE: "csv"}
DUPLICATE_SHARE = 0.05  # of each source's deals, also held by the next source as a copy
# Sources that hold migrated copies: a Pipedrive-shaped won copy would need an open stage the
# generator's copy does not have (it keeps only the terminal one).
HOLDS_COPIES = {"hubspot_main", "csv_legacy"}
DIMENSIONS = ["lead_source", "currency", "industry", "segment"]
QUOTA_REP = 0  # world.reps[QUOTA_REP] gets personal quotas (email written upper-case)
QUOTAS = [  # (owner email or None = team, period_start, period_type, quota_base)
    (None, date(2026, 4, 1), "quarter", 2_000_000.0),
    (None, date(2026, 7, 1), "quarter", 2_500_000.0),
    ("REP", date(2026, 6, 1), "month", 1_000.0),  # already exceeded by as_of
    ("REP", date(2026, 7, 1), "month", 1.0),
]


def make_world(n_deals: int = N_DEALS) -> World:
    return World(
        WorldSpec(
            seed=SEED, n_deals=n_deals, as_of=AS_OF, n_reps=8, duplicate_share=DUPLICATE_SHARE
        )
    )


@dataclass
class ExpectedDeal:
    deal_key: str
    source_name: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    amount: Decimal | None
    currency: str | None
    own_probability: float | None
    owner_email: str | None
    pipeline_key: str
    expected_close_date: date | None
    path: list[tuple[str, datetime]]
    activities: list[tuple[str, datetime, str | None]] = field(default_factory=list)
    is_deleted: bool = False
    current_stage: str | None = None  # canonical stage of the native current stage, if no path
    account_key: str | None = None
    company_key: str | None = None
    duplicate_of: str | None = None  # the deal counted instead (hub_deal_duplicates)
    # the deal's value of each fixture dimension (DIMENSIONS), None where it has none
    dimensions: dict[str, str | None] = field(default_factory=dict)
    # where created_at comes from (int_deal_created): crm, or inferred for a deal without one
    created_at_source: str = "crm"

    @property
    def has_dated_creation(self) -> bool:
        """Cohort and period marts use the deal (its creation is a fact, not first seen)."""
        return self.created_at_source != "first_seen"

    @property
    def canonical_stage(self) -> str:
        return self.path[-1][0] if self.path else (self.current_stage or "unmapped")

    @property
    def amount_base(self) -> float | None:
        if self.amount is None or self.currency not in FX:
            return None
        return float(self.amount) * FX[self.currency]

    @property
    def exists(self) -> bool:
        """Not deleted and created by as_of (a duplicate copy exists too)."""
        return not self.is_deleted and self.created_at <= AS_OF

    @property
    def counts(self) -> bool:
        """Deals the metric marts use: existing, and not a copy of a deal counted instead."""
        return self.exists and self.duplicate_of is None


def _without_open_history(stage: str, created: datetime, last: Any) -> list[tuple[str, datetime]]:
    """The path of a deal whose only known stage is its current one (at most one history event,
    ``last``, in it): an open deal is in it from creation; a won or lost deal enters it when
    it closed (its stage_changed_at), in a stage the hub cannot know ('unmapped') before."""
    if created > AS_OF:
        return []
    if stage not in OUTCOME:
        return [(stage, created)]
    before = [("unmapped", created)] if created < last.entered_at else []
    return _collapse([*before, (stage, last.entered_at)])


def _collapse(path: list[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    out: list[tuple[str, datetime]] = []
    for stage, at in path:
        if at > AS_OF:
            continue
        if not out or out[-1][0] != stage:
            out.append((stage, at))
    return out


class Tables:
    """Rows per (schema, table), written as Arrow tables with the canonical schemas."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def add(self, schema: str, table: str, **row: Any) -> None:
        self.rows.setdefault((schema, table), []).append(row)

    def write(self, con: duckdb.DuckDBPyConnection, catalog: str) -> None:
        # Fully qualified: a file named hub.duckdb makes 'hub' both a catalog and a schema.
        for (schema_name, table), rows in self.rows.items():
            schema = f'"{catalog}".{schema_name}'
            con.execute(f"create schema if not exists {schema}")
            if table in CANONICAL_TABLES:
                arrow = arrow_schema(CANONICAL_TABLES[table])
                data = pa.Table.from_pylist(
                    [{f.name: r.get(f.name) for f in arrow} for r in rows], schema=arrow
                )
            else:
                data = pa.Table.from_pylist(rows)
            con.register("_rows", data)
            con.execute(f"create or replace table {schema}.{table} as select * from _rows")
            con.unregister("_rows")
            if "custom_fields" in data.column_names:  # dlt's json columns are JSON in DuckDB
                con.execute(f"alter table {schema}.{table} alter custom_fields set data type json")


def _generated(tables: Tables, n_deals: int = N_DEALS) -> list[ExpectedDeal]:
    world = make_world(n_deals)
    reps = {r.rep_id: r for r in world.reps}
    expected: list[ExpectedDeal] = []
    names = list(SOURCES)
    for idx, source in enumerate(names):
        crm = SOURCES[source]
        schema = f"src_{source}"
        # Owners: a different native id per CRM, the same person by email (case varies).
        for k, rep in enumerate(world.reps):
            native = {"hubspot": str(1000 + k), "pipedrive": f"pd{k}", "csv": rep.email}[crm]
            email = rep.email.upper() if crm == "pipedrive" else rep.email
            tables.add(
                schema,
                "owners",
                source_name=source,
                crm=crm,
                owner_key=f"{source}:{native}",
                source_owner_id=native,
                name=rep.name,
                email=email,
                team=rep.team,
                is_active=rep.is_active,
            )
        owner_native = {
            r.rep_id: {"hubspot": str(1000 + k), "pipedrive": f"pd{k}", "csv": r.email}[crm]
            for k, r in enumerate(world.reps)
        }
        if crm == "hubspot":
            tables.add(
                schema,
                "pipelines",
                source_name=source,
                crm=crm,
                pipeline_key=f"{source}:default",
                pipeline_id="default",
                label="Sales Pipeline",
                display_order=0,
            )
            for k, stage in enumerate(CANONICAL_STAGES):
                tables.add(
                    schema,
                    "stages",
                    source_name=source,
                    crm=crm,
                    stage_key=f"{source}:{HUBSPOT_IDS[stage]}",
                    pipeline_id="default",
                    stage_id=HUBSPOT_IDS[stage],
                    label=STAGE_LABELS[stage],
                    display_order=k,
                    probability=STAGE_PROBABILITY[stage],
                    is_closed=stage in OUTCOME,
                    is_won=stage == "closed_won",
                )
        elif crm == "pipedrive":
            tables.add(
                schema,
                "pipelines",
                source_name=source,
                crm=crm,
                pipeline_key=f"{source}:1",
                pipeline_id="1",
                label="Sales pipeline",
                display_order=0,
            )
            for k, stage in enumerate(OPEN_STAGES):
                tables.add(
                    schema,
                    "stages",
                    source_name=source,
                    crm=crm,
                    stage_key=f"{source}:{PIPEDRIVE_IDS[stage]}",
                    pipeline_id="1",
                    stage_id=PIPEDRIVE_IDS[stage],
                    label=STAGE_LABELS[stage].upper(),
                    display_order=k,
                    probability=None,
                )
        # (csv: no pipelines/stages tables at all -> typed empty staging)

        deals = (
            world.iter_source_deals(idx, len(names))
            if source in HOLDS_COPIES
            else world.iter_deals_for(idx, len(names))
        )
        written_accounts: dict[int, str] = {}
        for deal in deals:
            key = f"{source}:{deal.deal_id}"
            visits = [(v.stage, v.entered_at) for v in deal.path]
            account = deal.account
            account_key = f"{source}:{_account_native(crm, account)}"
            written_accounts[account.index] = account_key
            original = None
            if deal.legacy_id is not None:
                original = f"{names[(idx - 1) % len(names)]}:{deal.legacy_id}"
                tables.add(
                    "hub",
                    "hub_deal_duplicates",
                    deal_key=key,
                    duplicate_of=original,
                    rule="legacy_id",
                    score=1.0,
                )
            if crm == "pipedrive":
                native_path = [(s, t) for s, t in visits if s in OPEN_STAGES]
                current = native_path[-1][0]
                pipeline_id, stage_id = "1", PIPEDRIVE_IDS[current]
                exp_path = _collapse(native_path)
                if deal.status in ("won", "lost"):
                    exp_path = _collapse(exp_path + [(f"closed_{deal.status}", deal.closed_at)])
                changes = [(PIPEDRIVE_IDS[s], t) for s, t in _collapse(native_path)]
            elif crm == "hubspot":
                pipeline_id, stage_id = "default", HUBSPOT_IDS[deal.stage]
                changes = [(HUBSPOT_IDS[s], t) for s, t in visits]
                exp_path = _collapse(visits)
            else:
                pipeline_id, stage_id = "Sales", STAGE_LABELS[deal.stage]
                if deal.index % 7 == 0:  # no history beyond creation
                    changes = []
                    exp_path = _without_open_history(deal.stage, deal.created_at, deal.path[-1])
                else:
                    changes = [(STAGE_LABELS[s], t) for s, t in visits]
                    exp_path = _collapse(visits)
            prev = None
            for native, at in changes:
                tables.add(
                    schema,
                    "stage_changes",
                    source_name=source,
                    crm=crm,
                    deal_key=key,
                    changed_at=at,
                    stage_id=native,
                    from_stage_id=prev,
                    pipeline_id=pipeline_id,
                    origin="crm_history",
                )
                prev = native
            if original is not None:
                # A copy's history starts at its current stage; the deal was created earlier in
                # it (a creation event in the first known stage), or not yet by as_of.
                exp_path = _without_open_history(deal.stage, deal.created_at, deal.path[-1])
            if crm == "hubspot" and deal.index % 5 == 0 and original is None:
                # A later sync saw the deal where it already was: must collapse away.
                seen_at = min(AS_OF, visits[-1][1] + timedelta(hours=6))
                tables.add(
                    schema,
                    "stage_observations",
                    source_name=source,
                    crm=crm,
                    deal_key=key,
                    pipeline_id=pipeline_id,
                    stage_id=stage_id,
                    observed_at=seen_at,
                )
            tables.add(
                schema,
                "deals",
                source_name=source,
                crm=crm,
                deal_key=key,
                source_deal_id=deal.deal_id,
                name=deal.name,
                pipeline_id=pipeline_id,
                stage_id=stage_id,
                status=deal.status,
                amount=deal.amount,
                currency=deal.currency,
                probability=deal.probability,
                owner_id=owner_native[deal.owner],
                account_id=_account_native(crm, account),
                account_name=companies.account_view(account, idx, SEED).name,
                account_key=account_key,
                created_at=deal.created_at,
                expected_close_date=deal.expected_close_date,
                closed_at=deal.closed_at,
                lost_reason=deal.lost_reason,
                updated_at=deal.updated_at,
                stage_changed_at=deal.path[-1].entered_at,
                is_deleted=False,
                custom_fields=json.dumps(
                    {"lead_source": deal.lead_source}
                    | ({"legacy_id": deal.legacy_id} if deal.legacy_id else {})
                ),
            )
            tables.add(
                schema,
                "deal_accounts",
                source_name=source,
                crm=crm,
                deal_key=key,
                account_key=account_key,
                is_primary=True,
            )
            acts = []
            for a in deal.activities:
                tables.add(
                    schema,
                    "activities",
                    source_name=source,
                    crm=crm,
                    activity_key=f"{source}:{a.activity_id}",
                    source_activity_id=a.activity_id,
                    type=a.type,
                    subject=a.subject,
                    occurred_at=a.occurred_at,
                    completed=a.completed,
                    owner_id=owner_native[a.owner],
                    deal_key=key,
                    duration_s=a.duration_s,
                    direction=a.direction,
                    outcome=a.outcome,
                    is_deleted=False,
                )
                acts.append((a.type, a.occurred_at, reps[a.owner].email))
            expected.append(
                ExpectedDeal(
                    deal_key=key,
                    source_name=source,
                    status=deal.status,
                    created_at=deal.created_at,
                    closed_at=deal.closed_at,
                    amount=deal.amount,
                    currency=deal.currency,
                    own_probability=deal.probability,
                    owner_email=reps[deal.owner].email,
                    pipeline_key=f"{source}:{pipeline_id}",
                    expected_close_date=deal.expected_close_date,
                    path=exp_path,
                    activities=acts,
                    current_stage=deal.stage,
                    account_key=account_key,
                    company_key=_company_key(account),
                    duplicate_of=original,
                    dimensions={
                        "lead_source": deal.lead_source,
                        "currency": deal.currency,
                        "industry": account.industry,
                        "segment": account.segment,
                    },
                )
            )
        _generated_accounts(tables, world, source, idx, written_accounts, owner_native)
    return expected


def _account_native(crm: str, account: Any) -> str:
    """The account's native id as each CRM shape would write it."""
    return {"hubspot": str(9000 + account.index), "pipedrive": str(account.index + 1)}.get(
        crm, account.account_id
    )


def _company_key(account: Any) -> str:
    """The company key the fixture's resolution gives a world account: its true identity."""
    return f"company:{account.account_id}"


def _generated_accounts(
    tables: Tables,
    world: World,
    source: str,
    idx: int,
    written: dict[int, str],
    owner_native: dict[str, str],
) -> None:
    """The companies a generated source's deals belong to, as that source writes them, their
    custom fields and definitions, and resolution's answer: the generator's truth."""
    crm, schema = SOURCES[source], f"src_{source}"
    for account in world.accounts:
        if account.index not in written:
            continue
        view = companies.account_view(account, idx, SEED)
        tables.add(
            schema,
            "accounts",
            source_name=source,
            crm=crm,
            account_key=written[account.index],
            source_account_id=_account_native(crm, account),
            name=view.name,
            website=view.website,
            domain=web_domain(view.website),
            industry=account.industry,
            country=account.country,
            owner_id=owner_native[account.owner],
            created_at=account.created_at,
            updated_at=account.updated_at,
            is_deleted=False,
            custom_fields=json.dumps({"segment": account.segment, "employees": account.employees}),
        )
        tables.add(
            "hub",
            "hub_account_resolution",
            account_key=written[account.index],
            company_key=_company_key(account),
            company_name=account.name,
            rule="domain" if web_domain(view.website) else "name",
        )
    for entity, column, data_type in (
        ("deal", "lead_source", "enum"),
        ("deal", "legacy_id", "text"),
        ("account", "segment", "enum"),
        ("account", "employees", "number"),
    ):
        tables.add(
            schema,
            "field_definitions",
            source_name=source,
            crm=crm,
            field_key=f"{source}:{entity}:{column}",
            entity=entity,
            column_name=column,
            source_field=column,
            label=column.replace("_", " ").title(),
            data_type=data_type,
        )


def _t(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=day, hours=hour)


# Hand-written edge deals (source 'edge', HubSpot-shaped ids = canonical names here).
# stage_changes are (stage_id, day); 'path' is the expected canonical history, by hand.
EDGE_DEALS: list[dict[str, Any]] = [
    dict(
        id="skip",
        status="open",
        stage="proposal",
        created=_t(0),
        closed=None,
        amount=Decimal("1000"),
        currency="USD",
        changes=[("prospecting", _t(0)), ("proposal", _t(4))],
        path=[("prospecting", _t(0)), ("proposal", _t(4))],
    ),
    dict(
        id="deleted",
        status="won",
        stage="closed_won",
        created=_t(1),
        closed=_t(9),
        amount=Decimal("5000"),
        currency="USD",
        deleted=True,
        changes=[("prospecting", _t(1)), ("closed_won", _t(9))],
        path=[("prospecting", _t(1)), ("closed_won", _t(9))],
    ),
    dict(
        id="yen",
        status="won",
        stage="closed_won",
        created=_t(2),
        closed=_t(20),
        amount=Decimal("700000"),
        currency="JPY",
        changes=[("qualification", _t(2)), ("negotiation", _t(10)), ("closed_won", _t(20))],
        path=[("qualification", _t(2)), ("negotiation", _t(10)), ("closed_won", _t(20))],
    ),
    dict(
        id="mystery",
        status="open",
        stage="mystery_stage",
        created=_t(3),
        closed=None,
        amount=Decimal("300"),
        currency="EUR",
        changes=[],
        path=[("unmapped", _t(3))],
    ),
    dict(
        id="future_moves",
        status="open",
        stage="negotiation",
        created=_t(5),
        closed=None,
        amount=Decimal("2000"),
        currency="EUR",
        updated=datetime(2026, 7, 15, tzinfo=UTC),
        changes=[("meeting", _t(5)), ("negotiation", datetime(2026, 7, 15, tzinfo=UTC))],
        path=[("meeting", _t(5))],
    ),
    dict(
        id="not_yet_created",
        status="open",
        stage="prospecting",
        created=datetime(2026, 7, 2, tzinfo=UTC),
        closed=None,
        amount=Decimal("10"),
        currency="USD",
        changes=[],
        path=[],
    ),
    dict(
        id="late_history",
        status="open",
        stage="meeting",
        created=_t(6),
        closed=None,
        amount=Decimal("800"),
        currency="USD",
        changes=[("qualification", _t(8)), ("meeting", _t(12))],
        path=[("qualification", _t(6)), ("meeting", _t(12))],
    ),
]


# Which edge account each edge deal belongs to (fixtures.HAND_ACCOUNTS) and its custom fields.
EDGE_EXTRAS: dict[str, dict[str, Any]] = {
    "skip": dict(account="edge:acme", custom={"priority": "high", "score": 5}),
    "deleted": dict(account="edge:acme"),
    "yen": dict(account="edge:acme"),
    "mystery": dict(account="edge:solo"),
    "future_moves": dict(account="edge:solo"),
    "not_yet_created": dict(account="edge:solo"),
    "late_history": dict(account="edge:solo"),
}
for _deal in EDGE_DEALS:
    _deal.update(EDGE_EXTRAS[_deal["id"]])

# The 'hand' source: accounts across two sources resolved into companies, typed custom fields
# of every kind, a copy of an edge deal, a deal of a deleted account and one without any.
# Expected figures, by hand: tests/transforms/test_accounts.py.
HAND_DEALS: list[dict[str, Any]] = [
    dict(
        id="h_won",
        status="won",
        stage="closed_won",
        created=_t(1),
        closed=_t(11),
        amount=Decimal("3000"),
        currency="USD",
        account="hand:acme",
        changes=[("qualification", _t(1)), ("closed_won", _t(11))],
        custom={
            "lead_source": "Referral",
            "score": 87.5,
            "renewal_date": "2027-01-31",
            "signed_at": "2026-03-12T10:30:00+00:00",
            "is_strategic": True,
            "priority": 2,
            "deal_key": "X-1",
        },
    ),
    dict(
        id="h_lost",
        status="lost",
        stage="closed_lost",
        created=_t(2),
        closed=_t(12),
        amount=Decimal("400"),
        currency="USD",
        account="hand:acme_eu",
        changes=[("prospecting", _t(2)), ("closed_lost", _t(12))],
        custom={"lead_source": "Event", "is_strategic": False, "score": 3},
    ),
    dict(
        id="h_open",
        status="open",
        stage="meeting",
        created=_t(3),
        closed=None,
        amount=Decimal("1500"),
        currency="EUR",
        account="hand:acme_eu",
        changes=[("meeting", _t(3))],
        custom={"lead_source": "Referral"},
    ),
    dict(
        id="h_copy",
        status="open",
        stage="proposal",
        created=_t(0, 15),
        closed=None,
        amount=Decimal("1000"),
        currency="USD",
        account="hand:acme",
        changes=[("proposal", _t(0, 15))],
        custom={"lead_source": "Inbound"},
        duplicate=dict(of="edge:skip", rule="account_name_dates", score=0.91),
    ),
    dict(
        id="h_gone",
        status="lost",
        stage="closed_lost",
        created=_t(4),
        closed=_t(8),
        amount=Decimal("200"),
        currency="USD",
        account="hand:gone",
        changes=[("qualification", _t(4)), ("closed_lost", _t(8))],
    ),
    dict(
        id="h_noacct",
        status="open",
        stage="prospecting",
        created=_t(5),
        closed=None,
        amount=Decimal("50"),
        currency="USD",
        account=None,
        changes=[("prospecting", _t(5))],
    ),
]
for _deal in HAND_DEALS:
    _deal["path"] = _deal["changes"]

# (account_key, name, website, industry, is_deleted, custom_fields)
HAND_ACCOUNTS: list[tuple[str, str, str | None, str | None, bool, dict[str, Any]]] = [
    ("edge:acme", "Acme Inc", "https://www.acme.com", "Manufacturing", False,
     {"segment": "Enterprise", "employees": 1200}),
    ("edge:solo", "Solo Ltd", None, None, False, {}),
    ("hand:acme", "ACME", "acme.com/about", "Manufacturing", False,
     {"segment": "Enterprise", "employees": 1250}),
    ("hand:acme_eu", "Acme GmbH", "http://acme.de", "Manufacturing", False,
     {"segment": "Mid-Market"}),
    ("hand:gone", "Gone Corp", None, "Retail", True, {"segment": "SMB"}),
]  # fmt: skip
# What resolution answers (the deleted hand:gone is not listed, as the contract says).
HAND_RESOLUTION = [  # account_key, company_key, company_name, rule
    ("edge:acme", "co:acme", "Acme", "domain"),
    ("hand:acme", "co:acme", "Acme", "domain"),
    ("hand:acme_eu", "co:acme", "Acme", "override"),
    ("edge:solo", "co:solo", "Solo Ltd", "single"),
]
HAND_FIELDS = {  # source -> [(entity, column_name, data_type)]
    EDGE_SOURCE: [
        ("deal", "priority", "text"),  # a number in 'hand': the column is text
        ("account", "segment", "enum"),
        ("account", "employees", "number"),
    ],
    HAND_SOURCE: [
        ("deal", "lead_source", "enum"),
        ("deal", "score", "number"),
        ("deal", "renewal_date", "date"),
        ("deal", "signed_at", "datetime"),
        ("deal", "is_strategic", "bool"),
        ("deal", "priority", "number"),
        ("deal", "deal_key", "text"),  # clashes with the key column: field_deal_key
        ("account", "segment", "enum"),
        ("account", "employees", "number"),
    ],
}


def _hand_written(tables: Tables, source: str, crm: str, deals: list[dict]) -> list[ExpectedDeal]:
    """A hand-written source: its owner, deals, stage history, accounts, custom fields and
    what resolution and duplicate detection say of them."""
    schema = f"src_{source}"
    owner_email = f"{source}.owner@example.com"
    tables.add(
        schema,
        "owners",
        source_name=source,
        crm=crm,
        owner_key=f"{source}:e1",
        source_owner_id="e1",
        name=f"{source.title()} Owner",
        email=owner_email,
        team=None,
        is_active=True,
    )
    accounts = {a[0]: a for a in HAND_ACCOUNTS if a[0].startswith(f"{source}:")}
    resolution = {r[0]: r for r in HAND_RESOLUTION}
    for key, name, website, industry, deleted, custom in accounts.values():
        tables.add(
            schema,
            "accounts",
            source_name=source,
            crm=crm,
            account_key=key,
            source_account_id=key.split(":", 1)[1],
            name=name,
            website=website,
            domain=web_domain(website),
            industry=industry,
            owner_id="e1",
            is_deleted=deleted,
            custom_fields=json.dumps(custom),
        )
        if key in resolution:
            _, company_key, company_name, rule = resolution[key]
            tables.add(
                "hub",
                "hub_account_resolution",
                account_key=key,
                company_key=company_key,
                company_name=company_name,
                rule=rule,
            )
    for entity, column, data_type in HAND_FIELDS[source]:
        tables.add(
            schema,
            "field_definitions",
            source_name=source,
            crm=crm,
            field_key=f"{source}:{entity}:{column}",
            entity=entity,
            column_name=column,
            source_field=column,
            data_type=data_type,
        )
    out = []
    for d in deals:
        key = f"{source}:{d['id']}"
        account_key = d.get("account")
        custom = d.get("custom")
        tables.add(
            schema,
            "deals",
            source_name=source,
            crm=crm,
            deal_key=key,
            source_deal_id=d["id"],
            name=d["id"],
            pipeline_id=source,
            stage_id=d["stage"],
            status=d["status"],
            amount=d["amount"],
            currency=d["currency"],
            probability=None,
            owner_id="e1",
            account_id=account_key.split(":", 1)[1] if account_key else None,
            account_name=accounts[account_key][1] if account_key else None,
            account_key=account_key,
            created_at=d["created"],
            expected_close_date=None,
            closed_at=d["closed"],
            updated_at=d.get("updated", d["created"]),
            is_deleted=d.get("deleted", False),
            custom_fields=json.dumps(custom) if custom is not None else None,
        )
        duplicate = d.get("duplicate")
        if duplicate:
            tables.add(
                "hub",
                "hub_deal_duplicates",
                deal_key=key,
                duplicate_of=duplicate["of"],
                rule=duplicate["rule"],
                score=duplicate["score"],
            )
        for stage, at in d["changes"]:
            tables.add(
                schema,
                "stage_changes",
                source_name=source,
                crm=crm,
                deal_key=key,
                changed_at=at,
                stage_id=stage,
                pipeline_id=source,
                origin="crm_history",
            )
        account = accounts.get(account_key) if account_key else None
        out.append(
            ExpectedDeal(
                deal_key=key,
                source_name=source,
                status=d["status"],
                created_at=d["created"],
                closed_at=d["closed"],
                amount=d["amount"],
                currency=d["currency"],
                own_probability=None,
                owner_email=owner_email,
                pipeline_key=f"{source}:{source}",
                expected_close_date=None,
                path=d["path"],
                is_deleted=d.get("deleted", False),
                current_stage=d["stage"] if d["stage"] in STAGE_ORDER else "unmapped",
                account_key=account_key,
                company_key=resolution[account_key][1]
                if account_key in resolution
                else account_key,
                duplicate_of=duplicate["of"] if duplicate else None,
                dimensions={
                    "lead_source": (custom or {}).get("lead_source")
                    if source == HAND_SOURCE
                    else None,
                    "currency": d["currency"],
                    "industry": account[3] if account else None,
                    "segment": account[5].get("segment") if account else None,
                },
            )
        )
    return out


def build_warehouse(path: Path, n_deals: int = N_DEALS) -> list[ExpectedDeal]:
    """Write the contract's input tables into a new DuckDB file; return the expected deals."""
    tables = Tables()
    from .fixtures_export import write_export_source

    expected = (
        _generated(tables, n_deals)
        + _hand_written(tables, EDGE_SOURCE, "hubspot", EDGE_DEALS)
        + _hand_written(tables, HAND_SOURCE, "salesforce", HAND_DEALS)
        + write_export_source(tables)
    )
    for k, stage in enumerate(CANONICAL_STAGES):
        tables.add(
            "hub",
            "hub_canonical_stages",
            stage_name=stage,
            display_order=k + 1,
            outcome=OUTCOME.get(stage),
            probability=STAGE_PROBABILITY[stage],
            stall_days=STALL_DAYS.get(stage),
        )
    for stage in CANONICAL_STAGES:
        # HubSpot: ids on the specific pipeline, plus a decoy '*' rule that must lose.
        tables.add(
            "hub",
            "hub_stage_map",
            source_name="hubspot_main",
            pipeline="default",
            native_stage=HUBSPOT_IDS[stage],
            canonical_stage=stage,
        )
        tables.add(
            "hub",
            "hub_stage_map",
            source_name="hubspot_main",
            pipeline="*",
            native_stage=HUBSPOT_IDS[stage],
            canonical_stage="closed_lost",
        )
        # CSV: labels are the native ids; pipeline named by id.
        tables.add(
            "hub",
            "hub_stage_map",
            source_name="csv_legacy",
            pipeline="Sales",
            native_stage=STAGE_LABELS[stage],
            canonical_stage=stage,
        )
        for source in (EDGE_SOURCE, HAND_SOURCE):
            tables.add(
                "hub",
                "hub_stage_map",
                source_name=source,
                pipeline="*",
                native_stage=stage,
                canonical_stage=stage,
            )
    for stage in OPEN_STAGES:
        # Pipedrive: matched by label (case-insensitive) on any pipeline.
        tables.add(
            "hub",
            "hub_stage_map",
            source_name="pipedrive_eu",
            pipeline="*",
            native_stage=STAGE_LABELS[stage],
            canonical_stage=stage,
        )
    for cur, rate in FX.items():
        tables.add("hub", "hub_fx_rates", currency=cur, rate_to_base=rate)
    for name, crm in ALL_SOURCES.items():
        tables.add("hub", "hub_sources", source_name=name, crm=crm)
    for email, start, ptype, quota in QUOTAS:
        if email == "REP":
            email = make_world().reps[QUOTA_REP].email.upper()
        tables.add(
            "hub",
            "hub_quotas",
            owner_email=email,
            period_start=start,
            period_type=ptype,
            quota_base=quota,
        )
    con = duckdb.connect(str(path))
    try:
        tables.write(con, path.stem)
        # a dlt bookkeeping table must not disturb anything
        con.execute(
            f'create table "{path.stem}".src_hubspot_main._dlt_loads (load_id text, status bigint)'
        )
    finally:
        con.close()
    return expected


def dbt_vars() -> dict[str, Any]:
    return {
        "as_of": AS_OF_VAR,
        "sources": [*SOURCES, EDGE_SOURCE, HAND_SOURCE, EXPORT_SOURCE],
        "dimensions": DIMENSIONS,
        "base_currency": BASE_CURRENCY,
        "stall_p90_default": True,
        "response_sla_hours": 24,
        "hub_schema": "hub",
    }
