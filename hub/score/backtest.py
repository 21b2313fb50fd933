"""``hub score --backtest``: the score against honest baselines, cutoff by cutoff.

At each cutoff the model is fitted only on snapshots taken before it of deals closed before
it; the deals open at the cutoff that closed by ``as_of`` are the test set. Baselines:
``base_rate`` (the win rate of every deal closed before the cutoff), ``stage_rate`` (the win
rate of the training snapshots in the deal's canonical stage and pipeline, smoothed toward
the stage's and then the overall rate) and ``static`` (hub.yml's stage probabilities).
Every run, its calibration deciles and every prediction are stored in ``hub_meta``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from hub.score.features import FeatureTable, naive_utc
from hub.score.model import NotEnoughHistory, fit, training_rows
from hub.score.store import features_for
from hub.score.tables import (
    ensure_score_tables,
    hub_score_backtests,
    hub_score_calibration,
    hub_score_predictions,
)
from hub.warehouse import Warehouse
from models.config import HubConfig
from models.errors import HubError

MODELS = ("score", "base_rate", "stage_rate", "static")
DEFAULT_CUTOFFS = 4
MIN_TRAIN_DEALS = 50  # closed deals behind a cutoff's training snapshots
MIN_TEST_DEALS = 20  # deals open at the cutoff that closed by as_of
STAGE_PRIOR = 20.0  # pseudo-deals pulling a stage (and pipeline) rate toward the broader one
LOG_LOSS_EPS = 1e-3  # probabilities are clipped to [eps, 1 - eps] for log loss


class BacktestError(HubError):
    exit_code = 1


@dataclass
class CutoffResult:
    cutoff: datetime
    deal_keys: list[str]
    won: list[bool]
    predicted: dict[str, list[float]]
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    deciles: dict[str, list[tuple[int, int, float, float]]] = field(default_factory=dict)

    @property
    def n_scored(self) -> int:
        return len(self.won)

    @property
    def n_won(self) -> int:
        return sum(self.won)

    def as_json(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(),
            "n_scored": self.n_scored,
            "n_won": self.n_won,
            "models": {m: self.metrics[m] for m in MODELS},
        }


@dataclass
class BacktestRun:
    run_id: str
    as_of: datetime
    cutoffs: list[CutoffResult]


# -- metrics ---------------------------------------------------------------------------------


def brier(p: Sequence[float], y: Sequence[bool]) -> float:
    return sum((pi - yi) ** 2 for pi, yi in zip(p, y, strict=True)) / len(p)


def log_loss(p: Sequence[float], y: Sequence[bool]) -> float:
    total = 0.0
    for pi, yi in zip(p, y, strict=True):
        q = min(max(pi, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS)
        total -= math.log(q) if yi else math.log(1 - q)
    return total / len(p)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve by the rank-sum statistic, ties counted half."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: pair[0])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += (i + 1 + j) / 2 * sum(1 for _, won in ranked[i:j] if won)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def deciles(p: Sequence[float], y: Sequence[bool]) -> list[tuple[int, int, float, float]]:
    """(decile, n, mean predicted, observed win rate) per tenth of the 0-1 range, non-empty."""
    bins: dict[int, list[tuple[float, bool]]] = {}
    for pi, yi in zip(p, y, strict=True):
        bins.setdefault(min(int(pi * 10), 9), []).append((pi, yi))
    return [
        (d, len(b), sum(x for x, _ in b) / len(b), sum(w for _, w in b) / len(b))
        for d, b in sorted(bins.items())
    ]


# -- baselines --------------------------------------------------------------------------------


def stage_rates(train: FeatureTable, test: FeatureTable) -> list[float]:
    """Win rate of training snapshots in the test deal's stage and pipeline, smoothed."""
    overall = sum(bool(w) for w in train.won) / len(train)
    by_stage: dict[str, list[int]] = {}
    by_pair: dict[tuple[str, str], list[int]] = {}
    for i in range(len(train)):
        stage, pipeline = train.categorical["canonical_stage"][i], train.categorical["pipeline"][i]
        for counts in (
            by_stage.setdefault(stage, [0, 0]),
            by_pair.setdefault((stage, pipeline), [0, 0]),
        ):
            counts[0] += bool(train.won[i])
            counts[1] += 1
    out = []
    for i in range(len(test)):
        stage, pipeline = test.categorical["canonical_stage"][i], test.categorical["pipeline"][i]
        won, n = by_stage.get(stage, [0, 0])
        stage_rate = (won + STAGE_PRIOR * overall) / (n + STAGE_PRIOR)
        won, n = by_pair.get((stage, pipeline), [0, 0])
        out.append((won + STAGE_PRIOR * stage_rate) / (n + STAGE_PRIOR))
    return out


def closed_before(conn: sa.Connection, cutoff: datetime) -> tuple[int, int]:
    """(closed, won) among counted deals closed before the cutoff."""
    row = conn.execute(
        sa.text(
            "select count(*), sum(case when status = 'won' then 1 else 0 end) "
            "from hub_staging.int_deals_enriched where is_counted and status in ('won', 'lost') "
            "and closed_at < :cutoff"
        ),
        {"cutoff": naive_utc(cutoff)},
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


# -- the run ------------------------------------------------------------------------------------


def quarter_starts_before(as_of: datetime, n: int) -> list[datetime]:
    year, quarter = as_of.year, (as_of.month - 1) // 3
    out: list[datetime] = []
    while len(out) < n:
        start = datetime(year, quarter * 3 + 1, 1, tzinfo=UTC)
        if start < as_of:
            out.append(start)
        quarter -= 1
        if quarter < 0:
            year, quarter = year - 1, 3
    return out


def _split(
    table: FeatureTable, cutoff: datetime, as_of: datetime
) -> tuple[FeatureTable, FeatureTable]:
    at, end = naive_utc(cutoff), naive_utc(as_of)
    train = training_rows(table, fit_time=at)

    def open_at_cutoff_closed_by_end(i: int) -> bool:
        closed = table.closed_at[i]
        return table.at[i] == at and closed is not None and closed <= end

    test = table.where(open_at_cutoff_closed_by_end)
    return train, test


def evaluate(
    config: HubConfig, conn: sa.Connection, table: FeatureTable, cutoff: datetime, as_of: datetime
) -> CutoffResult | None:
    train, test = _split(table, cutoff, as_of)
    if len(set(train.deal_key)) < MIN_TRAIN_DEALS or len(test) < MIN_TEST_DEALS:
        return None
    try:
        model = fit(train)
    except NotEnoughHistory:
        return None
    probability, _ = model.predict(test)
    closed, won = closed_before(conn, cutoff)
    static = {s.name: float(s.probability or 0.0) for s in config.stages}
    predicted = {
        "score": [float(p) for p in probability],
        "base_rate": [won / closed if closed else 0.0] * len(test),
        "stage_rate": stage_rates(train, test),
        "static": [static.get(s, 0.0) for s in test.categorical["canonical_stage"]],
    }
    result = CutoffResult(cutoff, list(test.deal_key), [bool(w) for w in test.won], predicted)
    for name, p in predicted.items():
        result.metrics[name] = {
            "brier": brier(p, result.won),
            "log_loss": log_loss(p, result.won),
            "auc": auc(p, result.won),
        }
        result.deciles[name] = deciles(p, result.won)
    return result


def run_backtest(
    config: HubConfig, *, cutoffs: Sequence[datetime] = (), as_of: datetime | None = None
) -> BacktestRun:
    """Evaluate at the given cutoffs, or at the last four quarter starts with enough deals."""
    as_of = as_of or config.effective_as_of(datetime.now(UTC))
    for cutoff in cutoffs:
        if cutoff >= as_of:
            raise BacktestError(
                f"the cutoff {cutoff:%Y-%m-%d} must be before as_of {as_of:%Y-%m-%d}"
            )
    candidates = sorted(cutoffs) or quarter_starts_before(as_of, 12)
    warehouse = Warehouse(config)
    with warehouse.connect() as conn:
        if not sa.inspect(conn).has_table("int_deals_enriched", schema="hub_staging"):
            raise BacktestError("no per-deal tables in the warehouse; run 'hub transform' first")
        table = features_for(conn, config, as_of, list(candidates))
        results: list[CutoffResult] = []
        for cutoff in candidates:
            if table is None or (not cutoffs and len(results) == DEFAULT_CUTOFFS):
                break
            found = evaluate(config, conn, table, cutoff, as_of)
            if found is not None:
                results.append(found)
            elif cutoffs:
                raise BacktestError(
                    f"cutoff {cutoff:%Y-%m-%d}: fewer than {MIN_TRAIN_DEALS} closed deals before "
                    f"it or {MIN_TEST_DEALS} deals open at it and closed by {as_of:%Y-%m-%d} "
                    "(or only one outcome); choose a later cutoff"
                )
        if not results:
            raise BacktestError(
                "no quarter start before as_of has enough history: the backtest needs "
                f"{MIN_TRAIN_DEALS} deals closed before a cutoff and {MIN_TEST_DEALS} open at it "
                "that closed since"
            )
        results.sort(key=lambda r: r.cutoff)
        run = BacktestRun(f"backtest-{uuid.uuid4().hex[:12]}", as_of, results)
        store_run(conn, run)
    return run


def store_run(conn: sa.Connection, run: BacktestRun) -> None:
    ensure_score_tables(conn)
    run_at = datetime.now(UTC)
    summary: list[dict[str, Any]] = []
    calibration: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    for r in run.cutoffs:
        for name in MODELS:
            summary.append(
                {
                    "run_id": run.run_id,
                    "run_at": run_at,
                    "as_of": run.as_of,
                    "cutoff": r.cutoff,
                    "model": name,
                    "n_scored": r.n_scored,
                    "n_won": r.n_won,
                    **r.metrics[name],
                }
            )
            calibration.extend(
                {
                    "run_id": run.run_id,
                    "cutoff": r.cutoff,
                    "model": name,
                    "decile": d,
                    "n": n,
                    "mean_predicted": mean,
                    "observed_rate": observed,
                }
                for d, n, mean, observed in r.deciles[name]
            )
            predictions.extend(
                {
                    "run_id": run.run_id,
                    "cutoff": r.cutoff,
                    "model": name,
                    "deal_key": key,
                    "predicted": p,
                    "won": won,
                }
                for key, p, won in zip(r.deal_keys, r.predicted[name], r.won, strict=True)
            )
    conn.execute(hub_score_backtests.insert(), summary)
    conn.execute(hub_score_calibration.insert(), calibration)
    conn.execute(hub_score_predictions.insert(), predictions)


__all__ = ["MODELS", "BacktestError", "BacktestRun", "CutoffResult", "auc", "run_backtest"]
