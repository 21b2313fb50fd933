"""Ground truth for synthetic deals, counted in plain Python.

Tests compare the dbt metric marts against these numbers, so they are computed from the
deals directly (streaming, counters only) and never from the warehouse or the CSV files.
In a world with a signal (``WorldSpec.signal``), :func:`open_at` gives what a deal score
is measured against: each deal open at a cutoff with the probability it won with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.synthetic.world import (
    ACTIVITY_TYPES,
    CANONICAL_STAGES,
    SyntheticDeal,
    World,
)

_STAGE_INDEX = {s: k for k, s in enumerate(CANONICAL_STAGES)}
_CLOSED_WON = CANONICAL_STAGES.index("closed_won")
_CLOSED_LOST = CANONICAL_STAGES.index("closed_lost")


def _zeros(keys: Iterable[str]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


@dataclass
class GroundTruth:
    """What the metric marts must report for exactly these deals.

    ``reached_stage[s]`` counts deals that visited ``s`` or any later stage in canonical
    order (reaching a later stage counts as passing it); ``closed_lost`` counts only real
    ``closed_lost`` visits, and a lost deal does not count as passing the stages after the
    one it was lost from. Per-owner counts are keyed by ``rep_id``.
    """

    n_deals: int = 0
    deals_by_status: dict[str, int] = field(default_factory=lambda: _zeros(("open", "won", "lost")))
    deals_by_current_stage: dict[str, int] = field(default_factory=lambda: _zeros(CANONICAL_STAGES))
    reached_stage: dict[str, int] = field(default_factory=lambda: _zeros(CANONICAL_STAGES))
    won_amount_by_currency: dict[str, Decimal] = field(default_factory=dict)
    open_amount_by_currency: dict[str, Decimal] = field(default_factory=dict)
    deals_by_currency: dict[str, int] = field(default_factory=dict)
    deals_by_owner: dict[str, int] = field(default_factory=dict)
    won_deals_by_owner: dict[str, int] = field(default_factory=dict)
    lost_by_reason: dict[str, int] = field(default_factory=dict)
    activities_by_type: dict[str, int] = field(default_factory=lambda: _zeros(ACTIVITY_TYPES))
    n_activities: int = 0
    n_stage_visits: int = 0
    n_reopened: int = 0

    @property
    def win_rate(self) -> float | None:
        """won / (won + lost); None while nothing has closed."""
        won, lost = self.deals_by_status["won"], self.deals_by_status["lost"]
        return won / (won + lost) if won + lost else None

    def add(self, deal: SyntheticDeal) -> None:
        """Count one deal (lets exporters build the truth in the same streaming pass)."""
        self.n_deals += 1
        self.deals_by_status[deal.status] += 1
        self.deals_by_current_stage[deal.path[-1].stage] += 1
        self.deals_by_currency[deal.currency] = self.deals_by_currency.get(deal.currency, 0) + 1
        self.deals_by_owner[deal.owner] = self.deals_by_owner.get(deal.owner, 0) + 1
        if deal.status == "won":
            cur = deal.currency
            self.won_amount_by_currency[cur] = self.won_amount_by_currency.get(cur, 0) + deal.amount
            self.won_deals_by_owner[deal.owner] = self.won_deals_by_owner.get(deal.owner, 0) + 1
        elif deal.status == "open":
            cur = deal.currency
            self.open_amount_by_currency[cur] = (
                self.open_amount_by_currency.get(cur, 0) + deal.amount
            )
        elif deal.lost_reason is not None:
            reason = deal.lost_reason
            self.lost_by_reason[reason] = self.lost_by_reason.get(reason, 0) + 1
        self.n_reopened += deal.is_reopened

        furthest, was_lost = -1, False
        for visit in deal.path:
            k = _STAGE_INDEX[visit.stage]
            if k == _CLOSED_LOST:
                was_lost = True
            elif k > furthest:
                furthest = k
        for k in range(furthest + 1):
            self.reached_stage[CANONICAL_STAGES[k]] += 1
        self.reached_stage["closed_lost"] += was_lost
        self.n_stage_visits += len(deal.path)

        self.n_activities += len(deal.activities)
        for activity in deal.activities:
            self.activities_by_type[activity.type] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts as exact decimal strings, ``win_rate`` included."""
        data = asdict(self)
        for key in ("won_amount_by_currency", "open_amount_by_currency"):
            data[key] = {cur: str(amount) for cur, amount in sorted(data[key].items())}
        for key in ("deals_by_currency", "deals_by_owner", "won_deals_by_owner", "lost_by_reason"):
            data[key] = dict(sorted(data[key].items()))
        data["win_rate"] = self.win_rate
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        """Read back what :meth:`to_json` wrote (amounts become ``Decimal`` again)."""
        data = json.loads(text)
        data.pop("win_rate", None)
        for key in ("won_amount_by_currency", "open_amount_by_currency"):
            data[key] = {cur: Decimal(amount) for cur, amount in data[key].items()}
        return cls(**data)


def compute_truth(deals: Iterable[SyntheticDeal]) -> GroundTruth:
    """Stream ``deals`` once and count everything the marts should agree with."""
    truth = GroundTruth()
    for deal in deals:
        truth.add(deal)
    return truth


@dataclass(frozen=True, slots=True)
class OpenDealTruth:
    """One deal open at a cutoff, and what the world knows about how it ends.

    ``win_probability`` is the p its outcome was drawn from (fixed at creation).
    ``probability_at_cutoff`` is its chance to win given its drivers and its path up to
    the cutoff (the stages it passed, how long it has sat in the current one): what a
    perfect score would say at the cutoff. Deals open at a cutoff are not a fair sample of
    p: losing deals linger, so they are over-represented there. ``stage`` is the stage at
    the cutoff (``closed_lost`` during a reopened deal's false loss); ``status`` is how the
    deal stands at the world's ``as_of``.
    """

    deal: SyntheticDeal
    stage: str
    furthest_stage: str
    win_probability: float
    probability_at_cutoff: float
    status: str


def open_at(
    world: World, cutoff: datetime, deals: Iterable[SyntheticDeal] | None = None
) -> Iterator[OpenDealTruth]:
    """Stream the deals created at or before ``cutoff`` and not closed by then (their
    final ``closed_at`` is later or unset) with their true win probabilities; ``deals``
    defaults to the whole world. Needs a world with a signal."""
    model = world.signal_model
    if model is None:
        raise ValueError("open_at needs a world with a signal: set WorldSpec.signal")
    for deal in world.iter_deals() if deals is None else deals:
        if deal.created_at > cutoff or (deal.closed_at is not None and deal.closed_at <= cutoff):
            continue
        drivers = deal.drivers
        if drivers is None:
            raise ValueError(f"deal {deal.deal_id} does not come from a world with a signal")
        seen = [v for v in deal.path if v.entered_at <= cutoff]
        ks = [_STAGE_INDEX[v.stage] for v in seen]
        furthest = max(k for k in ks if k < _CLOSED_WON)
        current = ks[-1]
        went_back = any(b < a < _CLOSED_WON for a, b in zip(ks, ks[1:], strict=False))
        in_stage = (cutoff - seen[-1].entered_at).total_seconds() if current < _CLOSED_WON else 0
        yield OpenDealTruth(
            deal=deal,
            stage=seen[-1].stage,
            furthest_stage=CANONICAL_STAGES[furthest],
            win_probability=drivers.win_probability,
            probability_at_cutoff=model.probability_at(
                drivers,
                stage=current if current < _CLOSED_WON else furthest,
                furthest_stage=furthest,
                went_back=went_back,
                seconds_in_stage=in_stage,
            ),
            status=deal.status,
        )
