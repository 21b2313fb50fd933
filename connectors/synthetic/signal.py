"""Why a synthetic deal wins: drivers on the log-odds scale, plus noise.

A world with ``WorldSpec.signal`` set gives each deal a true win probability

    p = sigmoid(intercept + signal * (sum of effect * driver + noise * eps))

from standardised drivers a score can observe before the close: the skill of the rep who
owns the deal at creation (persistent per rep), the account's affinity (persistent per
company, so accounts with earlier wins win more), the deal's engagement (it scales how many
activities the deal gets and how late in its life they fall), its pace (slow deals sit long
in each stage), its amount relative to the team's norm and its lead source. ``intercept`` is
solved so that the mean of ``p`` over the world's deals is ``SignalEffects.base_win_rate``.

The outcome is drawn as the deal walks the stage funnel: from stage ``k`` it passes with
probability ``p ** w_k`` and is lost otherwise, where the weights ``w_k`` sum to 1, so the
deal wins with probability exactly ``p``. At ``signal = 1`` the weights follow the world's
``advance_rates`` (deals drop out early, as in life, and reaching a later stage is itself
evidence). As ``signal`` goes to 0 every weight but the last goes to 0 (every deal reaches
negotiation and is decided there), lost deals stop lingering, and ``p`` is the base rate for
every deal: the outcome is then independent of everything observable before the close.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

# Per-world draws of the persistent drivers (streams 0-2 are the world's, 6-9 companies').
_STREAM_REP_SKILL, _STREAM_ACCOUNT_AFFINITY = 10, 11
_exp = math.exp
_SQRT2 = math.sqrt(2.0)
_QUADRATURE_STEP = 0.1  # standard normal grid for solving the intercept
_QUADRATURE_HALF_WIDTH = 8.0


@dataclass(frozen=True)
class SignalEffects:
    """Effect sizes on the log-odds of winning at ``signal = 1``, each per standard
    deviation of its driver (positive helps), so a test can say how much a driver should
    move the win rate. ``signal`` scales all of them and the noise together."""

    base_win_rate: float = 0.13  # mean true probability over the world's deals
    rep_skill: float = 0.5
    account: float = 0.5
    activity: float = 0.5  # engagement: more and more recent activities
    dwell: float = 0.5  # per SD of pace; applied with a minus sign (slow deals lose)
    amount: float = 0.25  # per SD of log amount vs the team norm; minus sign (big deals lose)
    noise: float = 0.5  # unobservable per-deal luck
    lead_source: tuple[tuple[str, float], ...] = (
        ("Inbound", 0.2),
        ("Outbound", -0.4),
        ("Referral", 0.6),
        ("Partner", 0.3),
        ("Event", -0.2),
    )
    # How engagement shows in the activities the world emits (at any signal): activity
    # counts vary by exp(activity_spread * engagement) around activities_per_deal, and
    # an engaged deal's activities bunch toward the end of its life (activity_recency).
    activity_spread: float = 0.6
    activity_recency: float = 0.5


@dataclass(frozen=True)
class StageChain:
    """The world's stage chain, as far as the chance to win at a cutoff needs it."""

    stage_mu: tuple[float, ...]  # log of the median seconds in each open stage
    stage_sigma: float
    pace_sigma: float
    backward_rate: float
    skip_rate: float
    loss_slowdown: float  # at signal 1; a signal world uses loss_slowdown ** signal


@dataclass(slots=True)
class DealDrivers:
    """One deal's standardised drivers (each mean 0, SD 1 across deals) and its p."""

    rep_skill: float
    account: float
    engagement: float
    pace: float
    amount: float
    lead_source: str
    win_probability: float


def _standardised(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Shift and scale so the weighted mean is 0 and the weighted SD is 1."""
    total = sum(weights)
    mean = sum(v * w for v, w in zip(values, weights, strict=True)) / total
    var = sum((v - mean) ** 2 * w for v, w in zip(values, weights, strict=True)) / total
    sd = math.sqrt(var) or 1.0
    return [(v - mean) / sd for v in values]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class SignalModel:
    """The drivers of one world: per-rep skill, per-account affinity, the intercept and the
    funnel weights. Built once per world; :meth:`probability` runs once per deal."""

    def __init__(
        self,
        *,
        seed: int,
        signal: float,
        effects: SignalEffects,
        rep_weights: Sequence[float],
        account_weights: Sequence[float],
        lead_sources: Sequence[tuple[str, float]],
        advance_rates: Sequence[float],
        chain: StageChain,
    ) -> None:
        from connectors.synthetic.world import derive_seed  # world imports this module

        if not 0.0 <= signal <= 1.0:
            raise ValueError(f"WorldSpec.signal must be between 0 and 1 (or None), not {signal}")
        if not 0.0 < effects.base_win_rate < 1.0:
            raise ValueError("SignalEffects.base_win_rate must be strictly between 0 and 1")
        offsets = dict(effects.lead_source)
        names = [name for name, _ in lead_sources]
        if set(offsets) != set(names):
            raise ValueError(
                f"SignalEffects.lead_source must name exactly the lead sources {names}, "
                f"not {sorted(offsets)}"
            )
        if len(advance_rates) != 5 or not all(0.0 < a < 1.0 for a in advance_rates):
            raise ValueError("WorldSpec.advance_rates needs five rates strictly between 0 and 1")
        self.signal = signal
        self.effects = effects
        self.chain = chain
        self.loss_slowdown = chain.loss_slowdown**signal
        rng = random.Random(derive_seed(seed, 0, stream=_STREAM_REP_SKILL))
        self.rep_skill = _standardised([rng.gauss(0.0, 1.0) for _ in rep_weights], rep_weights)
        rng = random.Random(derive_seed(seed, 0, stream=_STREAM_ACCOUNT_AFFINITY))
        self.account_affinity = _standardised(
            [rng.gauss(0.0, 1.0) for _ in account_weights], account_weights
        )
        self.lead_offset = offsets
        self._lead_weights = [(offsets[name], weight) for name, weight in lead_sources]
        self.intercept = self._solve_intercept()
        # Funnel weights: the share of the decision made when leaving each open stage.
        logs = [math.log(a) for a in advance_rates]
        shares = [x / sum(logs) for x in logs]
        self.stage_weights = tuple(
            [signal * w for w in shares[:4]] + [1.0 - signal * sum(shares[:4])]
        )
        # Remaining weight from stage k on: p ** remaining[k] is the chance to win once
        # every decision before k is passed.
        self.remaining_weights = tuple(sum(self.stage_weights[k:]) for k in range(5))

    def _solve_intercept(self) -> float:
        """The intercept whose mean p over the drivers' distribution is the base rate: the
        lead-source mixture times a normal for the rest, integrated on a grid, bisected."""
        e, s = self.effects, self.signal
        target = e.base_win_rate
        if s == 0.0:
            return math.log(target / (1.0 - target))
        sd = s * math.sqrt(
            e.rep_skill**2 + e.account**2 + e.activity**2 + e.dwell**2 + e.amount**2 + e.noise**2
        )
        n = round(_QUADRATURE_HALF_WIDTH / _QUADRATURE_STEP)
        grid = [k * _QUADRATURE_STEP for k in range(-n, n + 1)]
        dens = [math.exp(-0.5 * z * z) for z in grid]
        total_w = sum(w for _, w in self._lead_weights)
        nodes = [
            (s * offset + sd * z, weight * d / (total_w * sum(dens)))
            for offset, weight in self._lead_weights
            for z, d in zip(grid, dens, strict=True)
        ]
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if sum(w * _sigmoid(mid + x) for x, w in nodes) < target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def drivers(
        self,
        rep_index: int,
        account_index: int,
        lead_source: str,
        engagement: float,
        pace: float,
        amount: float,
        noise: float,
    ) -> DealDrivers:
        """One deal's drivers and true win probability (``noise`` is a standard normal)."""
        e = self.effects
        skill = self.rep_skill[rep_index]
        affinity = self.account_affinity[account_index]
        logit = (
            e.rep_skill * skill
            + e.account * affinity
            + e.activity * engagement
            - e.dwell * pace
            - e.amount * amount
            + self.lead_offset[lead_source]
            + e.noise * noise
        )
        x = self.intercept + self.signal * logit
        p = 1.0 / (1.0 + _exp(-x)) if x > -700.0 else 0.0
        return DealDrivers(skill, affinity, engagement, pace, amount, lead_source, p)

    def stage_pass(self, p: float) -> tuple[float, ...]:
        """The chance to pass each open stage (the last one: to win), whose product is p."""
        w0, w1, w2, w3, w4 = self.stage_weights
        return (p**w0, p**w1, p**w2, p**w3, p**w4)

    def remaining_probability(self, p: float, furthest_stage: int) -> float:
        """The chance to win once every decision before ``furthest_stage`` is passed: the
        truth for a deal open there, short of what its time in the stage says."""
        return p ** self.remaining_weights[furthest_stage]

    def probability_at(
        self,
        drivers: DealDrivers,
        *,
        stage: int,
        furthest_stage: int,
        went_back: bool,
        seconds_in_stage: float,
    ) -> float:
        """The chance to win of a deal in open ``stage`` since ``seconds_in_stage``, given
        its drivers and path: P(win | p, stages passed, no move yet).

        From the stage the deal either moves back (no decision), advances past the
        decisions still ahead (so it wins with ``p ** remaining[furthest]`` whichever way
        it goes) or is lost, which takes ``loss_slowdown`` times longer. Having sat
        ``seconds_in_stage`` weighs each branch by its lognormal survival. (A false loss
        is as likely on every branch, so it cancels; the 10-minute floor on a dwell is
        ignored.)
        """
        c = self.chain
        p = drivers.win_probability
        win = p ** self.remaining_weights[furthest_stage]
        passing = self.stage_pass(p)
        back = c.backward_rate if stage >= 2 and not went_back else 0.0
        if stage < 4:
            skip = c.skip_rate if stage <= 2 else 0.0
            one = two = 1.0
            for k in range(max(stage, furthest_stage), stage + 1):
                one *= passing[k]
            for k in range(max(stage, furthest_stage), stage + 2):
                two *= passing[k]
            advance = (1.0 - skip) * one + skip * two
        else:
            advance = passing[4]
        lose = (1.0 - back) * (1.0 - advance)
        if seconds_in_stage <= 0:
            return win
        mu = c.stage_mu[stage] + c.pace_sigma * drivers.pace
        z = (math.log(seconds_in_stage) - mu) / c.stage_sigma
        survive = 0.5 * math.erfc(z / _SQRT2)
        survive_lost = 0.5 * math.erfc((z - math.log(self.loss_slowdown) / c.stage_sigma) / _SQRT2)
        denominator = survive * (1.0 - lose) + survive_lost * lose
        if denominator <= 0.0:  # far in the tail: only the slow (losing) branch is left
            return 0.0
        return win * survive / denominator
