"""The metrics of a vendor export, computed in plain Python from the raw file alone.

Each ``read_<vendor>`` parses the fixture files with the csv module and the vendor's own
date layout (no hub code), and states every deal's stage path by the rules of issue #14
and docs/metrics.md: history events where the file has them; the creation event at
``created_at`` in the stage the deal was in then (a change log's first *from* stage, else
the first stage known, else the current one); an open deal's current stage at its
stage-change (else update) time when the history does not end there; a closed deal's
won/lost stage entered at ``closed_at`` (never before its last event); a deal with no
creation date is left out of every figure here (cohort and period marts). ``Metrics`` then
computes each mart's figures from those paths as docs/metrics.md defines them.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
SNAPSHOT_DAYS = 180
OPEN_ORDER = ["prospecting", "qualification", "meeting", "proposal", "negotiation"]
ORDER = [*OPEN_ORDER, "closed_won", "closed_lost"]
TERMINAL = {"won": "closed_won", "lost": "closed_lost"}


@dataclass
class Deal:
    key: str
    status: str  # won / lost / open, as the file says
    created_at: datetime | None
    closed_at: datetime | None
    current: str  # canonical stage now
    history: list[tuple[datetime, str]] = field(default_factory=list)  # CRM's own events
    first_stage: str | None = None  # the stage at creation, where a change log says it
    changed_at: datetime | None = None
    updated_at: datetime | None = None

    def path(self) -> list[tuple[datetime, str]]:
        """Entered-at and canonical stage of each spell, collapsed, up to AS_OF."""
        ranked = [(t, 1, s) for t, s in self.history if t <= AS_OF]
        ranked.sort()
        created = self.created_at
        if created is not None and created <= AS_OF and (not ranked or ranked[0][0] > created):
            first = self.first_stage or (ranked[0][2] if ranked else self.current)
            ranked.insert(0, (created, 0, first))
        if not ranked:
            return []
        last_at, _, last_stage = ranked[-1]
        if self.status == "open" and last_stage != self.current:
            at = max(self.changed_at or self.updated_at or last_at, last_at)
            if at <= AS_OF:
                ranked.append((at, 3, self.current))
        terminal = TERMINAL.get(self.status)
        if terminal and self.closed_at is not None and ranked[-1][2] != terminal:
            at = max(self.closed_at, ranked[-1][0])
            if at <= AS_OF:
                ranked.append((at, 4, terminal))
        out: list[tuple[datetime, str]] = []
        for at, _, stage in ranked:
            if not out or out[-1][1] != stage:
                out.append((at, stage))
        return out

    @property
    def outcome(self) -> str:
        closed = self.closed_at is not None and self.closed_at <= AS_OF
        return self.status if self.status in TERMINAL and closed else "open"

    @property
    def counted(self) -> bool:
        return self.created_at is not None and self.created_at <= AS_OF


def _utc(text: str, layout: str) -> datetime | None:
    text = text.strip()
    return datetime.strptime(text, layout).replace(tzinfo=UTC) if text else None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [r for r in reader if len(r) == len(header)]  # a report footer is one cell a line
    return [dict(zip(header, r, strict=True)) for r in rows]


# ----- per vendor ------------------------------------------------------------------------

HUBSPOT_MAP = {
    "Appointment Scheduled": "prospecting",
    "Qualified To Buy": "qualification",
    "Presentation Scheduled": "meeting",
    "Decision Maker Bought-In": "proposal",
    "Contract Sent": "negotiation",
    "Closed Won": "closed_won",
    "Closed Lost": "closed_lost",
}


def read_hubspot(folder: Path, source: str) -> list[Deal]:
    deals = []
    for row in _rows(folder / "hubspot-crm-exports-all-deals-2025-01-01.csv"):
        label = row["Deal Stage"]
        status = {"Closed Won": "won", "Closed Lost": "lost"}.get(label, "open")
        history = []
        for stage, canonical in HUBSPOT_MAP.items():
            at = _utc(row[f'Date entered "{stage} (Sales Pipeline)"'], "%Y-%m-%d %H:%M")
            outcome = {"closed_won": "won", "closed_lost": "lost"}.get(canonical)
            if at is not None and outcome in (None, status):
                history.append((at, canonical))
        deals.append(
            Deal(
                key=f"{source}:{row['Record ID']}",
                status=status,
                created_at=_utc(row["Create Date"], "%Y-%m-%d %H:%M"),
                closed_at=_utc(row["Close Date"], "%Y-%m-%d %H:%M"),
                current=HUBSPOT_MAP[label],
                history=history,
                updated_at=_utc(row["Last Modified Date"], "%Y-%m-%d %H:%M"),
            )
        )
    return deals


HUBSPOT_IDS = {
    "appointmentscheduled": "prospecting",
    "qualifiedtobuy": "qualification",
    "presentationscheduled": "meeting",
    "decisionmakerboughtin": "proposal",
    "contractsent": "negotiation",
    "closedwon": "closed_won",
    "closedlost": "closed_lost",
}


def read_hubspot_history(folder: Path, source: str) -> list[Deal]:
    """Deals export for status, dates and the current stage; the property history's
    ``dealstage`` values (ids) for the path, the first one being the stage at creation."""
    values: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for row in _rows(folder / "deal-property-history.csv"):
        if row["property"] == "dealstage":  # amount, owner and close date values are no moves
            at = _utc(row["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
            values[row["dealId"]].append((at, HUBSPOT_IDS[row["value"]]))
    deals = []
    layout = "%Y-%m-%d %H:%M"
    for row in _rows(folder / "hubspot-crm-exports-all-deals-2025-01-01.csv"):
        label = row["Deal Stage"]
        history = sorted(values[row["Record ID"]])
        deals.append(
            Deal(
                key=f"{source}:{row['Record ID']}",
                status={"Closed Won": "won", "Closed Lost": "lost"}.get(label, "open"),
                created_at=_utc(row["Create Date"], layout),
                closed_at=_utc(row["Close Date"], layout),
                current=HUBSPOT_MAP[label],
                history=history,
                first_stage=history[0][1] if history else None,
                updated_at=_utc(row["Last Modified Date"], layout),
            )
        )
    return deals


SALESFORCE_MAP = {
    "Prospecting": "prospecting",
    "Qualification": "qualification",
    "Needs Analysis": "meeting",
    "Proposal/Price Quote": "proposal",
    "Negotiation/Review": "negotiation",
    "Closed Won": "closed_won",
    "Closed Lost": "closed_lost",
}


def read_salesforce(folder: Path, source: str) -> list[Deal]:
    moves: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for row in _rows(folder / "report1735722360000.csv"):
        if row["From Stage"] != row["To Stage"]:  # an amount or date edit moves nothing
            at = _utc(row["Last Modified"], "%m/%d/%Y %I:%M %p")
            moves[row["Opportunity ID"]].append((at, SALESFORCE_MAP[row["To Stage"]]))
    deals = []
    for row in _rows(folder / "report1735722300000.csv"):
        status = {"Closed Won": "won", "Closed Lost": "lost"}.get(row["Stage"], "open")
        ident = row["Opportunity ID"]
        deals.append(
            Deal(
                key=f"{source}:{ident}",
                status=status,
                created_at=_utc(row["Created Date"], "%m/%d/%Y"),
                closed_at=_utc(row["Close Date"], "%m/%d/%Y"),
                current=SALESFORCE_MAP[row["Stage"]],
                history=moves[ident],
            )
        )
    return deals


PIPEDRIVE_MAP = {
    "Qualified": "prospecting",
    "Contact Made": "qualification",
    "Demo Scheduled": "meeting",
    "Proposal Made": "proposal",
    "Negotiations Started": "negotiation",
}
PIPEDRIVE_IDS = {"1": "Qualified", "2": "Contact Made", "3": "Demo Scheduled",
                 "4": "Proposal Made", "5": "Negotiations Started"}  # fmt: skip


def read_pipedrive(folder: Path, source: str) -> list[Deal]:
    layout = "%Y-%m-%d %H:%M:%S"
    changes: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for row in _rows(folder / "deal-changelog.csv"):
        if row["field_key"] == "stage_id":  # owner, value and status changes are no moves
            at = _utc(row["time"], layout)
            changes[row["deal_id"]].append((at, row["old_value"], row["new_value"]))
    deals = []
    for row in _rows(folder / "deals-export.csv"):
        moves = sorted(changes[row["Deal - ID"]])
        first = PIPEDRIVE_MAP[PIPEDRIVE_IDS[moves[0][1]]] if moves else None
        deals.append(
            Deal(
                key=f"{source}:{row['Deal - ID']}",
                status=row["Deal - Status"].lower(),
                created_at=_utc(row["Deal - Deal created"], layout),
                closed_at=_utc(row["Deal - Deal closed on"], layout),
                current=PIPEDRIVE_MAP[row["Deal - Stage"]],
                history=[(at, PIPEDRIVE_MAP[PIPEDRIVE_IDS[new]]) for at, _, new in moves],
                first_stage=first,
                changed_at=_utc(row["Deal - Last stage change"], layout),
                updated_at=_utc(row["Deal - Update time"], layout),
            )
        )
    return deals


ENGAGE_MAP = {"Prospecting": "prospecting", "Engaging": "qualification", "Won": "closed_won",
              "Lost": "closed_lost"}  # fmt: skip


def read_engage_close(folder: Path, source: str) -> list[Deal]:
    deals = []
    for row in _rows(folder / "sales_pipeline.csv"):
        status = {"Won": "won", "Lost": "lost"}.get(row["deal_stage"], "open")
        engaged = _utc(row["engage_date"], "%Y-%m-%d")
        closed = _utc(row["close_date"], "%Y-%m-%d")
        history = [(engaged, "qualification")] if engaged else []
        if closed is not None and status != "open":
            history.append((closed, TERMINAL[status]))
        deals.append(
            Deal(
                key=f"{source}:{row['opportunity_id']}",
                status=status,
                created_at=engaged,
                closed_at=closed,
                current=ENGAGE_MAP[row["deal_stage"]],
                history=history,
            )
        )
    return deals


# ----- the marts -------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Continuous percentile with linear interpolation (percentile_cont)."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * p
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _days(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 86400


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "mean": sum(values) / len(values),
        "median": percentile(values, 0.5),
        "p75": percentile(values, 0.75),
        "p90": percentile(values, 0.9),
    }


@dataclass
class Spell:
    deal: Deal
    stage: str
    entered: datetime
    exited: datetime | None


class Metrics:
    """The figures of the marts compared, from the deals' paths (counted deals only)."""

    def __init__(self, deals: list[Deal]) -> None:
        self.deals = [d for d in deals if d.counted]
        self.spells: list[Spell] = []
        for deal in self.deals:
            path = deal.path()
            for n, (entered, stage) in enumerate(path):
                exited = path[n + 1][0] if n + 1 < len(path) else None
                self.spells.append(Spell(deal, stage, entered, exited))

    def time_in_stage(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(canonical stage, final outcome or 'all') -> count, mean, median, p75, p90 of
        the days of closed spells."""
        groups: dict[tuple[str, str], list[float]] = defaultdict(list)
        for s in self.spells:
            if s.exited is not None:
                for outcome in (s.deal.outcome, "all"):
                    groups[(s.stage, outcome)].append(_days(s.entered, s.exited))
        return {key: _stats(values) for key, values in groups.items()}

    def sales_cycle(self) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[float]] = defaultdict(list)
        for d in self.deals:
            if d.outcome != "open":
                cycle = _days(d.created_at, d.closed_at)  # type: ignore[arg-type]
                groups[d.outcome].append(cycle)
        return {k: {**_stats(v), "p75": None} for k, v in groups.items()}

    def win_rate(self) -> dict[tuple[str, date | None], tuple[int, int]]:
        """(period type, period start) -> (won, lost), all reps; ('all', None) all time."""
        out: dict[tuple[str, date | None], list[int]] = defaultdict(lambda: [0, 0])
        for d in self.deals:
            if d.outcome == "open":
                continue
            at = d.closed_at
            assert at is not None
            starts: dict[str, date | None] = {
                "month": date(at.year, at.month, 1),
                "quarter": date(at.year, 3 * ((at.month - 1) // 3) + 1, 1),
                "all": None,
            }
            for kind, start in starts.items():
                out[(kind, start)][0 if d.outcome == "won" else 1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def snapshot(self) -> dict[tuple[date, str], int]:
        """(day, canonical stage or '*') -> open deals at the end of that day."""
        created = [d.created_at for d in self.deals if d.created_at is not None]
        first = max(min(created).date(), (AS_OF - timedelta(days=SNAPSHOT_DAYS)).date())
        last = (AS_OF - timedelta(days=1)).date()
        out: dict[tuple[date, str], int] = defaultdict(int)
        day = first
        while day <= last:
            end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
            for s in self.spells:
                if (
                    s.stage in OPEN_ORDER
                    and s.entered < end
                    and (s.exited is None or end <= s.exited)
                ):
                    out[(day, s.stage)] += 1
                    out[(day, "*")] += 1
            day += timedelta(days=1)
        return dict(out)

    def stalled(self) -> dict[str, tuple[bool, bool]]:
        """Open deals that are stalled -> (in stage, no activity); no activities in these
        exports, so 'no activity' counts from creation."""
        closed_days: dict[str, list[float]] = defaultdict(list)
        for s in self.spells:
            if s.exited is not None:
                closed_days[s.stage].append(_days(s.entered, s.exited))
        threshold = {stage: percentile(v, 0.9) for stage, v in closed_days.items()}
        out = {}
        for d in self.deals:
            if d.outcome != "open":
                continue
            current = [s for s in self.spells if s.deal is d][-1]
            limit = threshold.get(current.stage)
            if limit is None:
                continue
            in_stage = _days(current.entered, AS_OF) > limit
            idle = _days(d.created_at, AS_OF) > limit  # type: ignore[arg-type]
            if in_stage or idle:
                out[d.key] = (in_stage, idle)
        return out

    def funnel(self) -> dict[tuple[str, str], int]:
        """(mode, canonical stage) -> deals that reached it (all cohorts, all sources)."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        by_deal: dict[str, list[str]] = defaultdict(list)
        for s in self.spells:
            by_deal[s.deal.key].append(s.stage)
        for stages in by_deal.values():
            furthest = (
                max(ORDER.index(s) for s in stages if s != "closed_lost")
                if any(s != "closed_lost" for s in stages)
                else -1
            )
            for stage in ORDER:
                if stage == "closed_lost":
                    reached_any = stage in stages
                else:
                    reached_any = furthest >= ORDER.index(stage)
                out[("any_order", stage)] += reached_any
                out[("strict_order", stage)] += stage in stages
        out["funnel_deals", "*"] = len(by_deal)
        return dict(out)
