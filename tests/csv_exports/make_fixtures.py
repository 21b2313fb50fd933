"""Writes the vendor export fixtures of this folder (run once; the files are committed).

``python -m tests.csv_exports.make_fixtures`` draws a small deterministic pipeline per
vendor (deals moving forward through that vendor's default stages, sometimes skipping one,
then won, lost or still open) and writes it the way the vendor's export tools lay files
out (see README.md here for the layouts and where they come from). The tests never read
this module: they compute every figure from the written files alone (``truth.py``).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
AS_OF = datetime(2025, 1, 1)
REPS = ["Ana Silva", "Ben Okafor", "Chloe Martin", "Dev Patel"]


@dataclass
class Drawn:
    """One deal as drawn: the open stages it entered (index, when), how it ended."""

    number: int
    created: datetime
    path: list[tuple[int, datetime]]
    outcome: str  # won / lost / open
    closed: datetime | None
    amount: int | None
    owner: str
    edits: list[datetime] = field(default_factory=list)  # other field changes


def draw(seed: int, n: int, n_stages: int) -> list[Drawn]:
    rng = random.Random(seed)
    deals = []
    for number in range(1, n + 1):
        created = datetime(2024, 1, 8) + timedelta(
            days=rng.randrange(0, 280), hours=rng.randrange(8, 18), minutes=rng.randrange(60)
        )
        stage = 1 if rng.random() < 0.15 else 0
        at = created
        path = [(stage, at)]
        while stage < n_stages - 1 and rng.random() < 0.72:
            stage += 2 if stage < n_stages - 2 and rng.random() < 0.2 else 1
            at += timedelta(days=rng.randrange(2, 30), minutes=rng.randrange(1, 600))
            path.append((stage, at))
        roll = rng.random()
        outcome = "won" if roll < 0.38 else "lost" if roll < 0.72 else "open"
        closed = None
        if outcome != "open":
            closed = at + timedelta(days=rng.randrange(1, 25), minutes=rng.randrange(1, 600))
            if closed >= AS_OF:
                outcome, closed = "open", None
        path = [(s, t) for s, t in path if t < AS_OF]
        amount = None if rng.random() < 0.1 else rng.randrange(10, 500) * 100
        edits = [
            created + timedelta(days=rng.randrange(1, 20), minutes=rng.randrange(1, 300))
            for _ in range(rng.randrange(0, 3))
        ]
        edits = [t for t in edits if t < AS_OF]
        deals.append(Drawn(number, created, path, outcome, closed, amount, rng.choice(REPS), edits))
    return deals


def _write(path: Path, header: list[str], rows: list[list[str]], *, bom: bool = False,
           quote_all: bool = False, footer: list[str] = ()) -> None:  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(
        out, lineterminator="\r\n" if quote_all else "\n",
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )  # fmt: skip
    writer.writerow(header)
    writer.writerows(rows)
    for line in footer:
        writer.writerow([line])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8"))


# ----- HubSpot: CRM > Deals > Export (all properties of the view) ----------------------------

HUBSPOT_STAGES = [
    "Appointment Scheduled",
    "Qualified To Buy",
    "Presentation Scheduled",
    "Decision Maker Bought-In",
    "Contract Sent",
]


def _hs(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M")


def hubspot() -> None:
    deals = draw(seed=101, n=40, n_stages=len(HUBSPOT_STAGES))
    entered = [*HUBSPOT_STAGES, "Closed Won", "Closed Lost"]
    header = [
        "Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Close Date",
        "Create Date", "Deal owner", "Last Modified Date", "Deal Type", "Associated Company",
        *[f'Date entered "{s} (Sales Pipeline)"' for s in entered],
    ]  # fmt: skip
    rows = []
    for d in deals:
        when = dict.fromkeys(entered, "")
        for stage, at in d.path:
            when[HUBSPOT_STAGES[stage]] = _hs(at)
        current = HUBSPOT_STAGES[d.path[-1][0]]
        if d.outcome != "open":
            current = "Closed Won" if d.outcome == "won" else "Closed Lost"
            when[current] = _hs(d.closed)
        close = d.closed or (d.path[-1][1] + timedelta(days=45)).replace(hour=17, minute=0)
        last = max([t for _, t in d.path] + d.edits + ([d.closed] if d.closed else []))
        rows.append(
            [
                str(9_800_000_000 + d.number * 7919), f"Deal {d.number:03d} - Renewal",
                current, "Sales Pipeline", "" if d.amount is None else str(d.amount),
                _hs(close), _hs(d.created), d.owner, _hs(last),
                "newbusiness" if d.number % 3 else "existingbusiness",
                f"Company {d.number % 9}", *when.values(),
            ]
        )  # fmt: skip
    _write(
        HERE / "hubspot" / "hubspot-crm-exports-all-deals-2025-01-01.csv", header, rows, bom=True
    )


# ----- Salesforce: Opportunities report and Opportunity History report (Export > Details) --

SALESFORCE_STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
]


def _sf_date(t: datetime) -> str:
    return f"{t.month}/{t.day}/{t.year}"


def _sf_time(t: datetime) -> str:
    hour = t.hour % 12 or 12
    return f"{_sf_date(t)} {hour}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def _sf_footer(title: str) -> list[str]:
    return [
        "",
        "",
        title,
        "Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved.",
        "Confidential Information - Do Not Distribute",
        "Generated By:  Ana Silva  1/1/2025 9:05 AM",
        "Acme Industrial",
    ]


def salesforce() -> None:
    deals = draw(seed=202, n=40, n_stages=len(SALESFORCE_STAGES))
    header = [
        "Opportunity Owner", "Account Name", "Opportunity Name", "Stage", "Fiscal Period",
        "Amount", "Probability (%)", "Age", "Close Date", "Created Date", "Next Step",
        "Lead Source", "Type", "Opportunity ID",
    ]  # fmt: skip
    history_header = [
        "Opportunity ID", "Opportunity Name", "From Stage", "To Stage", "Amount",
        "Probability (%)", "Close Date", "Last Modified", "Last Modified By",
    ]  # fmt: skip
    rows, history = [], []
    for d in deals:
        ident = f"0065g00000{d.number:05d}AAA"
        name = f"Acme {d.number:03d} - Expansion"
        current = SALESFORCE_STAGES[d.path[-1][0]]
        if d.outcome != "open":
            current = "Closed Won" if d.outcome == "won" else "Closed Lost"
        close = d.closed or d.path[-1][1] + timedelta(days=40)
        amount = "" if d.amount is None else f"{d.amount:,.2f}"
        probability = {"Closed Won": "100", "Closed Lost": "0"}.get(current, "20")
        quarter = (close.month - 1) // 3 + 1
        rows.append(
            [
                d.owner, f"Account {d.number % 11}", name, current, f"Q{quarter}-{close.year}",
                amount, probability, str((AS_OF - d.created).days), _sf_date(close),
                _sf_date(d.created), "", "Web" if d.number % 2 else "Partner Referral",
                "New Customer", ident,
            ]
        )  # fmt: skip
        moves: list[tuple[datetime, str, str]] = []
        previous = ""
        for stage, at in d.path:
            moves.append((at, previous, SALESFORCE_STAGES[stage]))
            previous = SALESFORCE_STAGES[stage]
        for at in d.edits:  # an amount or close date edit: a row that moves no stage
            stage_then = [s for t, _, s in moves if t <= at][-1]
            moves.append((at, stage_then, stage_then))
        if d.closed is not None:
            moves.append((d.closed, previous, current))
        for at, from_stage, to_stage in sorted(moves):
            history.append(
                [ident, name, from_stage, to_stage, amount, "", _sf_date(close), _sf_time(at), d.owner]
            )  # fmt: skip
    folder = HERE / "salesforce"
    _write(folder / "report1735722300000.csv", header, rows, quote_all=True,
           footer=_sf_footer("Opportunities"))  # fmt: skip
    _write(folder / "report1735722360000.csv", history_header, history, quote_all=True,
           footer=_sf_footer("Opportunity History"))  # fmt: skip
    field_history(deals, folder)


def field_history(deals: list[Drawn], folder: Path) -> None:
    """The Opportunity Field History report of the same opportunities: one row per change
    of any tracked field (stage, owner, amount), long form."""
    header = ["Opportunity ID", "Opportunity Name", "Edited By", "Field / Event", "Old Value",
              "New Value", "Edit Date"]  # fmt: skip
    rows = []
    for d in deals:
        ident, name = f"0065g00000{d.number:05d}AAA", f"Acme {d.number:03d} - Expansion"
        rows.append([ident, name, d.owner, "Created.", "", "", _sf_time(d.created)])
        for (old, _), (new, at) in zip(d.path, d.path[1:], strict=False):
            stage_row = [SALESFORCE_STAGES[old], SALESFORCE_STAGES[new], _sf_time(at)]
            rows.append([ident, name, d.owner, "Stage", *stage_row])
        if d.closed is not None:
            outcome = "Closed Won" if d.outcome == "won" else "Closed Lost"
            last = SALESFORCE_STAGES[d.path[-1][0]]
            rows.append([ident, name, d.owner, "Stage", last, outcome, _sf_time(d.closed)])
        for n, at in enumerate(d.edits):
            field_name = "Opportunity Owner" if n == 0 else "Amount"
            rows.append([ident, name, d.owner, field_name, "Ana Silva", d.owner, _sf_time(at)])
    _write(folder / "report1735722420000.csv", header, rows, quote_all=True,
           footer=_sf_footer("Opportunity Field History"))  # fmt: skip


# ----- Pipedrive: Deals > Export (CSV), and the deals' change log ----------------------------

PIPEDRIVE_STAGES = ["Qualified", "Contact Made", "Demo Scheduled", "Proposal Made",
                    "Negotiations Started"]  # fmt: skip
PIPEDRIVE_STAGE_IDS = ["1", "2", "3", "4", "5"]


def _pd(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def pipedrive() -> None:
    deals = draw(seed=303, n=40, n_stages=len(PIPEDRIVE_STAGES))
    header = [
        "Deal - ID", "Deal - Title", "Deal - Creator", "Deal - Owner", "Deal - Value",
        "Deal - Currency", "Deal - Organization", "Deal - Pipeline", "Deal - Stage",
        "Deal - Status", "Deal - Deal created", "Deal - Update time",
        "Deal - Last stage change", "Deal - Won time", "Deal - Lost time",
        "Deal - Deal closed on", "Deal - Lost reason", "Deal - Expected close date",
    ]  # fmt: skip
    log_header = ["deal_id", "field_key", "old_value", "new_value", "actor_user_id", "time",
                  "change_source"]  # fmt: skip
    rows, log = [], []
    for d in deals:
        stage, last_change = d.path[-1]
        closed = _pd(d.closed)
        last = max([t for _, t in d.path] + d.edits + ([d.closed] if d.closed else []))
        rows.append(
            [
                str(d.number), f"Deal {d.number} - Onboarding", "Ana Silva", d.owner,
                "" if d.amount is None else str(d.amount), "EUR", f"Org {d.number % 7}",
                "Sales", PIPEDRIVE_STAGES[stage], d.outcome.capitalize(), _pd(d.created),
                _pd(last), _pd(last_change) if len(d.path) > 1 else "",
                closed if d.outcome == "won" else "", closed if d.outcome == "lost" else "",
                closed, "Price" if d.outcome == "lost" else "",
                (last_change + timedelta(days=30)).strftime("%Y-%m-%d"),
            ]
        )  # fmt: skip
        actor = str(1000 + REPS.index(d.owner))
        for (old, _), (new, at) in zip(d.path, d.path[1:], strict=False):
            log.append([str(d.number), "stage_id", PIPEDRIVE_STAGE_IDS[old],
                        PIPEDRIVE_STAGE_IDS[new], actor, _pd(at), "app"])  # fmt: skip
        for n, at in enumerate(d.edits):
            key, old, new = ("user_id", "1000", actor) if n == 0 else ("value", "0", "100")
            log.append([str(d.number), key, old, new, actor, _pd(at), "app"])
        if d.closed is not None:
            log.append([str(d.number), "status", "open", d.outcome, actor, closed, "app"])
    log.sort(key=lambda row: (row[5], int(row[0])))
    folder = HERE / "pipedrive"
    _write(folder / "deals-export.csv", header, rows)
    _write(folder / "deal-changelog.csv", log_header, log)


# ----- The engage/close layout: one row per opportunity, no stage timestamps ----------------


def engage_close() -> None:
    deals = draw(seed=404, n=60, n_stages=2)
    header = ["opportunity_id", "sales_agent", "product", "account", "deal_stage",
              "engage_date", "close_date", "close_value"]  # fmt: skip
    rows = []
    for d in deals:
        ident = f"{d.number * 2654435761 % 16**8:08X}"
        product = ["GTX Basic", "GTX Pro", "MG Special", "MG Advanced"][d.number % 4]
        account = "" if d.number % 10 == 0 else f"Account {d.number % 13}"
        if d.path[-1][0] == 0 and d.outcome == "open":  # never engaged: no dates at all
            rows.append([ident, d.owner, product, account, "Prospecting", "", "", ""])
            continue
        engage = next(t for s, t in d.path if s == 1) if d.path[-1][0] == 1 else d.created
        stage = {"won": "Won", "lost": "Lost"}.get(d.outcome, "Engaging")
        value = "" if d.outcome == "open" else "0" if d.outcome == "lost" else str(d.amount or 0)
        close = d.closed.strftime("%Y-%m-%d") if d.closed else ""
        rows.append([ident, d.owner, product, account, stage, engage.strftime("%Y-%m-%d"),
                     close, value])  # fmt: skip
    _write(HERE / "engage_close" / "sales_pipeline.csv", header, rows)


# ----- HubSpot: deals export plus the deals' property history (long form) --------------------

HUBSPOT_STAGE_IDS = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                     "decisionmakerboughtin", "contractsent"]  # fmt: skip
HUBSPOT_OWNER_IDS = {rep: str(31_250_100 + n) for n, rep in enumerate(REPS)}
HUBSPOT_USER_IDS = {rep: str(6_112_400 + n * 17) for n, rep in enumerate(REPS)}


def _hs_iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def hubspot_history() -> None:
    """A deals export without "date entered" columns, and the deals' property history as
    the API's ``propertiesWithHistory`` flattened (one row per value of a property, newest
    first within a property, as the API lists them): the first ``dealstage`` value of a deal
    is the one it was created with; amount, owner and close date values are interleaved."""
    deals = draw(seed=505, n=40, n_stages=len(HUBSPOT_STAGE_IDS))
    rng = random.Random(5050)
    header = [
        "Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Close Date",
        "Create Date", "Deal owner", "Last Modified Date", "Deal Type", "Associated Company",
    ]  # fmt: skip
    log_header = ["dealId", "property", "value", "timestamp", "sourceType", "sourceId",
                  "sourceLabel", "updatedByUserId"]  # fmt: skip
    rows, log = [], []
    for d in deals:
        ident = str(18_400_000_000 + d.number * 104_729)
        user = HUBSPOT_USER_IDS[d.owner]

        def at(t: datetime) -> datetime:  # HubSpot keeps seconds and milliseconds
            return t + timedelta(seconds=rng.randrange(60), milliseconds=rng.randrange(1000))

        by_user = ["CRM_UI", f"userId:{user}", "", user]
        by_api = ["INTEGRATION", "1183044", "Acme Sync", ""]

        created = at(d.created)
        source = ["IMPORT", "import-881203", "Q1 import", user] if d.number % 5 == 0 else by_user
        close = d.closed or (d.path[-1][1] + timedelta(days=45)).replace(hour=17, minute=0)
        history: dict[str, list[tuple[datetime, str, list[str]]]] = {
            "dealstage": [(created, HUBSPOT_STAGE_IDS[d.path[0][0]], source)],
            "hubspot_owner_id": [(created, HUBSPOT_OWNER_IDS[d.owner], source)],
            "closedate": [(created, _hs_iso(d.created + timedelta(days=60)), source)],
        }
        if d.amount is not None:
            history["amount"] = [(created, str(d.amount), source)]
        for stage, t in d.path[1:]:
            made = by_api if d.number % 4 == 0 else by_user
            history["dealstage"].append((at(t), HUBSPOT_STAGE_IDS[stage], made))
        for n, t in enumerate(d.edits):
            key = "hubspot_owner_id" if n == 0 else "amount"
            value = HUBSPOT_OWNER_IDS[d.owner] if n == 0 else str((d.amount or 0) + 500)
            history.setdefault(key, []).append((at(t), value, by_user))
        current = HUBSPOT_STAGES[d.path[-1][0]]
        if d.closed is not None:
            current = "Closed Won" if d.outcome == "won" else "Closed Lost"
            closed = at(d.closed)
            history["dealstage"].append((closed, current.replace(" ", "").lower(), by_user))
            history["closedate"].append((closed, _hs_iso(closed), by_user))
        last = max(t for values in history.values() for t, _, _ in values)
        for prop, values in history.items():
            for t, value, made in sorted(values, reverse=True):
                log.append([ident, prop, value, _hs_iso(t), *made])
        rows.append(
            [
                ident, f"Deal {d.number:03d} - Upsell", current, "Sales Pipeline",
                "" if d.amount is None else str(d.amount), _hs(close), _hs(d.created),
                d.owner, _hs(last), "newbusiness" if d.number % 3 else "existingbusiness",
                f"Company {d.number % 9}",
            ]
        )  # fmt: skip
    folder = HERE / "hubspot_history"
    _write(folder / "hubspot-crm-exports-all-deals-2025-01-01.csv", header, rows, bom=True)
    _write(folder / "deal-property-history.csv", log_header, log)


if __name__ == "__main__":
    hubspot()
    salesforce()
    pipedrive()
    engage_close()
    hubspot_history()
