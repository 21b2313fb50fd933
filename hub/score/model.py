"""The learned deal score: regularised logistic regression, Platt-calibrated on the latest
closes, with per-factor contributions for the reason string.

Why this model (docs/metrics.md, "Deal score"): it fits a million rows in seconds, the same
data gives the same coefficients on the same machine (lbfgs on a convex loss, no sampling),
and its logit is a sum of per-feature terms, so "what moved this deal's score" is read off
exactly rather than estimated. Across machines the last bits may differ: OpenBLAS splits the
gradient's sums by its thread count and picks its kernels by CPU, and either changes the
order of the additions (measured: a one-thread fit differs between its SkylakeX, Haswell
and SandyBridge kernels), so pinning BLAS to one thread would not make the fit portable
and is not done. A cached model is reused by the warehouse that fitted it, so its scores do
not move between runs. The fitted model is plain numbers (:meth:`ScoreModel.to_json`), so the
warehouse caches it without pickles.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from hub.score.features import NUMERIC, FeatureTable

REGULARISATION_C = 0.1  # inverse L2 strength on standardised features
MIN_LEVEL_ROWS = 10  # a category level seen less often is folded into "other" (all zeros)
CALIBRATION_SHARE = 0.2  # the latest closes, by close time, that calibrate the fit
MIN_CALIBRATION_ROWS = 40
# Factors as a rep reads them: numeric features are grouped so "rep" or "account" is one reason.
GROUP_OF = {"rep_closed": "rep_win_rate", "account_lost": "account_won"}


class NotEnoughHistory(ValueError):
    """Too few closed deals (or only one outcome) to learn from."""


@dataclass
class ScoreModel:
    numeric: list[str]
    medians: list[float]
    means: list[float]
    stds: list[float]
    levels: dict[str, list[str]]
    coef: list[float]
    intercept: float
    column_means: list[float]  # of the encoded training matrix: contributions are vs average
    platt: tuple[float, float] = (1.0, 0.0)  # p = sigmoid(a * logit + b)
    n_train: int = 0
    n_calibration: int = 0
    base_rate: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    # -- encoding --------------------------------------------------------------------------
    def columns(self) -> list[tuple[str, str]]:
        """(group, column) for every encoded column, in matrix order."""
        out = [(GROUP_OF.get(name, name), name) for name in self.numeric]
        for name, levels in self.levels.items():
            out.extend((name, f"{name}={level}") for level in levels)
        return out

    def encode(self, table: FeatureTable) -> np.ndarray:
        """The model matrix, filled in place (one float64 array, no per-block copies)."""
        n = len(table)
        width = len(self.numeric) + sum(len(levels) for levels in self.levels.values())
        x = np.zeros((n, width))
        for j, name in enumerate(self.numeric):
            raw = _floats(table.numeric[name])
            x[:, j] = (np.where(np.isnan(raw), self.medians[j], raw) - self.means[j]) / self.stds[j]
        start = len(self.numeric)
        for name, levels in self.levels.items():
            values = table.categorical.get(name)
            if values is not None and levels:
                codes = _codes(values, levels)
                rows = np.flatnonzero(codes >= 0)
                x[rows, start + codes[rows]] = 1.0
            start += len(levels)
        return x

    # -- prediction ------------------------------------------------------------------------
    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ np.array(self.coef) + self.intercept

    def predict(self, table: FeatureTable) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Calibrated win probabilities, and each factor's push on the logit versus an
        average training deal (positive raises the score)."""
        x = self.encode(table)
        a, b = self.platt
        probability = _sigmoid(a * self.logits(x) + b)
        push = (x - np.array(self.column_means)) * np.array(self.coef) * a
        by_group: dict[str, np.ndarray] = {}
        for k, (group, _) in enumerate(self.columns()):
            by_group[group] = by_group.get(group, np.zeros(len(table))) + push[:, k]
        return probability, by_group

    # -- storage ---------------------------------------------------------------------------
    def to_json(self) -> str:
        data = asdict(self)
        data["levels"] = list(self.levels.items())  # the order is the matrix's column order
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ScoreModel:
        data = json.loads(text)
        data["platt"] = tuple(data["platt"])
        data["levels"] = {name: levels for name, levels in data["levels"]}
        return cls(**data)


def _codes(values: Sequence[str], levels: Sequence[str]) -> np.ndarray:
    """Each value's position in ``levels`` (-1 if absent): looked up once per distinct
    value (Arrow's dictionary encoding), not once per row."""
    encoded = pa.array(values, pa.string()).dictionary_encode()
    index = {level: k for k, level in enumerate(levels)}
    lookup = np.array([index.get(v, -1) for v in encoded.dictionary.to_pylist()], np.int64)
    return lookup[encoded.indices.to_numpy(zero_copy_only=False)]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def _floats(values: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """A numeric column as float64, missing values (None) as NaN."""
    return np.asarray(values, dtype=float)


def _encoding(table: FeatureTable) -> ScoreModel:
    medians, means, stds = [], [], []
    for name in NUMERIC:
        raw = _floats(table.numeric[name])
        present = raw[~np.isnan(raw)]
        median = float(np.median(present)) if len(present) else 0.0
        filled = np.where(np.isnan(raw), median, raw)
        medians.append(median)
        means.append(float(filled.mean()) if len(filled) else 0.0)
        std = float(filled.std()) if len(filled) else 0.0
        stds.append(std if std > 1e-9 else 1.0)
    levels = {}
    for name, values in table.categorical.items():
        counts = Counter(values)
        levels[name] = sorted(v for v, c in counts.items() if c >= MIN_LEVEL_ROWS and v)
    return ScoreModel(list(NUMERIC), medians, means, stds, levels, [], 0.0, [])


def split_by_close(table: FeatureTable) -> tuple[list[int], list[int]]:
    """Rows of the earlier closes (fit) and of the latest ``CALIBRATION_SHARE`` of closed
    deals by close time (calibrate); a deal's snapshots never straddle the two."""
    closes = sorted(set(zip(table.closed_at, table.deal_key, strict=True)))
    n_late = int(len(closes) * CALIBRATION_SHARE)
    late = {key for _, key in closes[len(closes) - n_late :]} if n_late else set()
    is_late = [key in late for key in table.deal_key]
    fit = [i for i, in_late in enumerate(is_late) if not in_late]
    calibrate = [i for i, in_late in enumerate(is_late) if in_late]
    return fit, calibrate


def fit(table: FeatureTable, *, extra: dict[str, str] | None = None) -> ScoreModel:
    """Fit on labelled snapshot rows (``won`` set on every row): the entry point a benchmark
    or a recovery test calls with a table built any way it likes."""
    from sklearn.linear_model import LogisticRegression  # heavy: only when fitting

    if any(w is None for w in table.won):
        raise ValueError("every training row needs an outcome (won true or false)")
    labels = np.array([bool(w) for w in table.won])
    if len(labels) < 20 or labels.all() or not labels.any():
        raise NotEnoughHistory(
            f"{len(labels)} training rows with {int(labels.sum())} won: the score needs "
            "at least 20 snapshots of closed deals and both outcomes"
        )
    fit_rows, calibration_rows = split_by_close(table)
    calibration_labels = labels[calibration_rows]
    calibrate = (
        len(calibration_rows) >= MIN_CALIBRATION_ROWS
        and calibration_labels.any()
        and not calibration_labels.all()
        and labels[fit_rows].any()
        and not labels[fit_rows].all()
    )
    if not calibrate:
        fit_rows, calibration_rows = list(range(len(table))), []
    train = table.take(fit_rows)
    model = _encoding(train)
    x = model.encode(train)
    regression = LogisticRegression(C=REGULARISATION_C, max_iter=2000)
    regression.fit(x, labels[fit_rows])
    model.coef = [float(c) for c in regression.coef_[0]]
    model.intercept = float(regression.intercept_[0])
    model.column_means = [float(m) for m in x.mean(axis=0)] if len(x) else []
    model.n_train = len(fit_rows)
    model.base_rate = float(labels.mean())
    model.extra = dict(extra or {})
    if calibration_rows:
        held = table.take(calibration_rows)
        z = model.logits(model.encode(held)).reshape(-1, 1)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(z, labels[calibration_rows])
        model.platt = (float(platt.coef_[0][0]), float(platt.intercept_[0]))
        model.n_calibration = len(calibration_rows)
    return model


# -- reasons --------------------------------------------------------------------------------


def _plural(n: float, word: str) -> str:
    count = round(n)
    return f"{count} {word}" + ("" if count == 1 else "s")


def _present(value: float | None) -> float | None:
    """A feature or fact value, None where missing (None in lists, NaN in arrays)."""
    if value is None or value != value:
        return None
    return float(value)


def describe(group: str, table: FeatureTable, i: int) -> str:
    """One factor of deal row ``i`` in a rep's words."""
    return phrase(group, table)(i)


def phrase(group: str, table: FeatureTable) -> Callable[[int], str]:
    """:func:`describe` of ``group`` as a function of the row: the factor's branch and
    columns are chosen once, not for every row (at a million deals the reasons of 106k open
    deals called it 320k times, and finding the branch was much of its time)."""
    stages = table.categorical["canonical_stage"]
    facts = table.facts

    def stage(i: int) -> str:
        return stages[i] or "its stage"

    def numeric(name: str) -> Callable[[int], float]:
        values = table.numeric[name]
        return lambda i: _present(values[i]) or 0.0

    if group == "stage_dwell_ratio":
        in_stage, norms = facts["days_in_stage"], facts["norm_days"]
        return lambda i: _dwell(_present(in_stage[i]) or 0.0, _present(norms[i]), stage(i))
    if group == "canonical_stage":
        return lambda i: f"in {stage(i)}"
    if group == "days_since_activity":
        idle = facts["idle_days"]
        return lambda i: _idle(_present(idle[i]))
    if group.endswith("s_30d"):
        kind, count = group.removesuffix("s_30d"), numeric(group)
        return lambda i: _recent(math.expm1(count(i)), kind)
    if group == "rep_win_rate":
        rates = table.numeric["rep_win_rate"]
        return lambda i: _win_rate(_present(rates[i]))
    if group in ("amount_vs_rep", "amount_vs_pipeline"):
        amounts = table.numeric[group]
        whose = "the rep's" if group == "amount_vs_rep" else "the pipeline's"
        return lambda i: _amount(_present(amounts[i]), whose)
    if group == "deal_age_days":
        age = numeric(group)
        return lambda i: f"open {math.expm1(age(i)):.0f} days"
    if group == "backward_moves":
        moves = numeric(group)
        return lambda i: _moves(moves(i))
    if group == "account_won":
        won, lost = numeric("account_won"), numeric("account_lost")
        return lambda i: _account(round(math.expm1(won(i))), round(math.expm1(lost(i))))
    if group == "source_name":
        sources = table.categorical["source_name"]
        return lambda i: f"from {sources[i]}"
    if group == "pipeline":
        pipelines = table.categorical["pipeline"]
        return lambda i: f"pipeline {pipelines[i].split(':', 1)[-1]}"
    if group.startswith("dim_"):
        name, values = group.removeprefix("dim_"), table.categorical[group]
        return lambda i: f"{name} {values[i] or 'not set'}"
    return lambda i: group


def _dwell(days: float, norm: float | None, stage: str) -> str:
    if norm:
        ratio = days / norm
        if ratio >= 1.5:
            return f"{ratio:.1f} times longer in {stage} than usual"
        if ratio <= 0.67:
            return f"{days:.0f} days in {stage}, quicker than the usual {norm:.0f}"
        return f"{days:.0f} days in {stage}, about the usual {norm:.0f}"
    return f"{days:.0f} days in {stage}"


def _idle(since: float | None) -> str:
    if since is not None and since >= 7:
        return f"no activity in {since:.0f} days"
    return "active this week"


def _recent(n: float, kind: str) -> str:
    return f"{_plural(n, kind) if n >= 0.5 else 'no ' + kind + 's'} in the last 30 days"


def _win_rate(rate: float | None) -> str:
    if rate is None:
        return "rep has no closed deals in the last year"
    return f"rep wins {100 * rate:.0f}% of deals"


def _amount(value: float | None, whose: str) -> str:
    if value is None:
        return "no amount"
    return f"amount {math.exp(value):.1f}x {whose} median"


def _moves(n: float) -> str:
    return f"moved back {_plural(n, 'time')}" if n else "never moved back a stage"


def _account(won: int, lost: int) -> str:
    if not won and not lost:
        return "first deal with this account"
    return f"account won {won} and lost {lost} earlier deals"


def _as_lists(table: FeatureTable) -> FeatureTable:
    def lists(columns: dict[str, Any]) -> dict[str, Any]:
        return {
            name: values.tolist() if isinstance(values, np.ndarray) else values
            for name, values in columns.items()
        }

    return FeatureTable(
        table.deal_key,
        table.at,
        table.closed_at,
        table.won,
        table.ids,
        lists(table.numeric),
        table.categorical,
        lists(table.facts),
    )


def reasons(table: FeatureTable, pushes: dict[str, np.ndarray], *, top: int = 3) -> list[str]:
    """Per row: the ``top`` factors that moved the score most from an average deal, the
    strongest first (ties by factor name), each marked as raising or lowering it; a push
    under 0.05 is not a reason. The ranking is one sort of the whole matrix; only the
    chosen factors are put in words.

    The picks are read from flat lists, not a list per row: at 106k open deals the 320k
    small lists that ``tolist`` of the (rows x top) arrays made kept Python's cycle
    collector busy for a third of this function's time."""
    groups = sorted(pushes)  # a stable sort on strength then breaks ties by name
    if not groups or not len(table):
        return ["close to the average deal"] * len(table)
    matrix = np.column_stack([pushes[g] for g in groups])
    table = _as_lists(table)  # describe() reads single values: list items, not numpy scalars
    strength = np.abs(matrix)
    order = np.argsort(-strength, axis=1, kind="stable")[:, :top]
    strong = np.take_along_axis(strength, order, axis=1) >= 0.05
    # a row's reasons are its picks up to the first weak one
    leading = np.where(strong.all(axis=1), strong.shape[1], np.argmin(strong, axis=1))
    width = order.shape[1]
    picks = order.ravel().tolist()
    signs = np.where(np.take_along_axis(matrix, order, axis=1) > 0, " (+)", " (-)")
    marks = signs.ravel().tolist()
    words = [phrase(group, table) for group in groups]
    out = []
    for i, count in enumerate(leading.tolist()):
        first = i * width
        out.append(
            "; ".join([words[picks[j]](i) + marks[j] for j in range(first, first + count)])
            or "close to the average deal"
        )
    return out


def training_rows(table: FeatureTable, *, fit_time: datetime) -> FeatureTable:
    """Snapshots taken before ``fit_time`` of deals that closed by then, labelled won."""

    return table.take(
        [
            i
            for i, (at, closed) in enumerate(zip(table.at, table.closed_at, strict=True))
            if at < fit_time and closed is not None and closed <= fit_time
        ]
    )


def snapshot_instants(first: datetime, fit_time: datetime) -> list[datetime]:
    """Month starts after ``first`` up to ``fit_time`` (exclusive): where training rows are taken."""
    year, month = first.year, first.month
    out: list[datetime] = []
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        at = datetime(year, month, 1)
        if at >= fit_time:
            return out
        out.append(at)


__all__: Sequence[str] = [
    "NotEnoughHistory",
    "ScoreModel",
    "describe",
    "fit",
    "reasons",
    "snapshot_instants",
    "training_rows",
]
