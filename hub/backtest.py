"""``hub score --backtest``: does the deal score beat the CRM's static stage probabilities?

The ``deal_scores`` model is compiled (not built) with ``score_cutoff`` set in the past: it
learns only from deals closed before the cutoff and scores the deals open at it. Those
that closed between the cutoff and ``as_of`` are the test set. Running the compiled SQL
leaves ``analytics.deal_scores`` as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.transform import TransformError, prepare_warehouse, run_dbt
from hub.warehouse import Warehouse
from models.config import HubConfig


@dataclass(frozen=True)
class Scored:
    deal_key: str
    canonical_stage: str
    score: float
    static: float
    won: bool


@dataclass(frozen=True)
class BacktestResult:
    cutoff: datetime
    as_of: datetime
    scored: list[Scored]

    @property
    def n(self) -> int:
        return len(self.scored)

    @property
    def n_won(self) -> int:
        return sum(s.won for s in self.scored)

    def brier(self, which: str) -> float | None:
        if not self.scored:
            return None
        return sum((getattr(s, which) - s.won) ** 2 for s in self.scored) / len(self.scored)

    def auc(self, which: str) -> float | None:
        return auc([getattr(s, which) for s in self.scored], [s.won for s in self.scored])


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """Area under the ROC curve by the rank-sum statistic, ties counted half."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: pair[0])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2
        rank_sum += average_rank * sum(1 for _, won in ranked[i:j] if won)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def compiled_deal_scores(config: HubConfig, *, as_of: datetime, cutoff: datetime) -> str:
    cutoff_text = cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    result = run_dbt(
        config,
        ["compile", "--select", "deal_scores"],
        as_of=as_of,
        extra_vars={"score_cutoff": cutoff_text},
        want_compiled=True,
    )
    if not result.compiled:
        raise TransformError("dbt compiled nothing for deal_scores; run 'hub transform' first")
    return result.compiled["deal_scores"]


def backtest(
    config: HubConfig, *, cutoff: datetime | None = None, as_of: datetime | None = None
) -> BacktestResult:
    as_of = as_of or config.effective_as_of(datetime.now(UTC))
    cutoff = cutoff or as_of - timedelta(days=90)
    if cutoff >= as_of:
        raise TransformError(f"the cutoff {cutoff:%Y-%m-%d} must be before as_of {as_of:%Y-%m-%d}")
    prepare_warehouse(config)
    sql = compiled_deal_scores(config, as_of=as_of, cutoff=cutoff)
    static = {s.name: s.probability for s in config.stages}
    with Warehouse(config).connect() as conn:
        rows: Sequence[Any] = conn.execute(
            sa.text(
                f"SELECT deal_key, canonical_stage, win_probability, actual_outcome FROM ({sql}) AS scores"
            )
        ).all()
    scored = [
        Scored(
            deal_key, stage, float(probability), float(static.get(stage) or 0.0), outcome == "won"
        )
        for deal_key, stage, probability, outcome in rows
        if outcome in ("won", "lost") and probability is not None
    ]
    return BacktestResult(cutoff=cutoff, as_of=as_of, scored=scored)


__all__ = ["BacktestResult", "auc", "backtest"]
