"""A deterministic, streaming world of fake-but-realistic CRM deals.

Every deal is a pure function of ``(spec, i)``: its own ``random.Random`` is seeded from the
world seed and the deal index (never Python's salted ``hash()``), so ``world.deal(i)`` is the
same in every process, in any order, for any ``n_deals``. That is what lets CSV exports, CRM
sandboxes and benchmarks share one world without materialising it.

Internally times are integer epoch seconds (fast, second precision); they become aware UTC
datetimes only when a deal is assembled.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from connectors.synthetic.signal import DealDrivers, SignalEffects, SignalModel, StageChain

CANONICAL_STAGES: tuple[str, ...] = (
    "prospecting",
    "qualification",
    "meeting",
    "proposal",
    "negotiation",
    "closed_won",
    "closed_lost",
)
OPEN_STAGES: tuple[str, ...] = CANONICAL_STAGES[:5]
ACTIVITY_TYPES: tuple[str, ...] = ("call", "email", "meeting", "note", "task")
LEAD_SOURCES: tuple[tuple[str, float], ...] = (
    ("Inbound", 0.35),
    ("Outbound", 0.25),
    ("Referral", 0.15),
    ("Partner", 0.15),
    ("Event", 0.10),
)
LOST_REASONS: tuple[str, ...] = (
    "No budget",
    "Chose competitor",
    "No decision",
    "Bad timing",
    "Price too high",
    "Went dark",
    "Not a fit",
)
TEAMS: tuple[str, ...] = ("Enterprise", "Mid-Market", "SMB")

_DAY = 86_400
_WON, _LOST = 5, 6
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Epoch day 0 (1970-01-01) was a Thursday; Monday == 0.
_EPOCH_WEEKDAY = 3
# Lognormal draws are written inline as exp(mu + sigma * gauss()): same distribution as
# random.lognormvariate, but Box-Muller ``gauss`` is about twice as fast.
_REOPEN_MU = math.log(30 * _DAY)  # lost deals that come back do so after ~a month
_EXPECTED_MU = math.log(45)  # reps guess ~45 days to close at creation
_FIRST_TOUCH_MU = math.log(4 * 3600)  # first activity ~4 hours after creation (median)
# A signal world's reopened deals are false losses, drawn per stage (not per loss) so that
# reopening says nothing of the outcome; this share of reopen_rate keeps ~2% of deals.
_FALSE_LOSS_SHARE = 0.35
_ACCOUNT_SKEW = 1.6  # account = accounts[int(n * u ** skew)]: low indexes get most deals


@dataclass(frozen=True)
class WorldSpec:
    """Everything that shapes a world; equal specs give byte-identical worlds."""

    seed: int = 42
    n_deals: int = 2000
    n_reps: int = 12
    n_accounts: int = 400
    as_of: datetime = datetime(2026, 6, 30, tzinfo=UTC)
    history_days: int = 540
    activities_per_deal: float = 3.0
    currencies: tuple[tuple[str, float], ...] = (("USD", 0.6), ("EUR", 0.3), ("GBP", 0.1))
    median_amount: float = 20_000.0
    # Chance to move k -> k+1 from each open stage; the last entry is negotiation -> won.
    advance_rates: tuple[float, ...] = (0.60, 0.65, 0.70, 0.75, 0.60)
    median_stage_days: tuple[float, ...] = (5.0, 10.0, 12.0, 15.0, 10.0)
    stage_days_sigma: float = 0.8
    # Per-decision rates, calibrated so ~5% / ~8% / ~2% of all deals show the behaviour.
    pace_sigma: float = 0.5
    loss_slowdown: float = 2.5
    backward_rate: float = 0.065
    skip_rate: float = 0.068
    reopen_rate: float = 0.026
    probability_override_rate: float = 0.10
    inactive_rep_share: float = 0.17
    # Share of each source's deals that the next source (index + 1, wrapping) also holds as
    # a migrated copy (companies.migrated_copy); 0 keeps sources disjoint.
    duplicate_share: float = 0.0
    # Drivers of winning (connectors.synthetic.signal): None keeps the original world, whose
    # outcomes follow the stage funnel alone; 1.0 gives realistic drivers plus noise; 0.0
    # makes the outcome independent of everything observable before the close.
    signal: float | None = None
    signal_effects: SignalEffects = SignalEffects()


@dataclass(slots=True)
class Rep:
    """A sales rep; inactive reps left at ``left_at`` but keep their closed deals."""

    index: int
    rep_id: str
    name: str
    email: str
    team: str
    is_active: bool
    left_at: datetime | None = None


@dataclass(slots=True)
class Account:
    """One real company; each source shows it its own way (companies.account_view)."""

    index: int
    account_id: str
    name: str
    domain: str | None = None
    industry: str | None = None
    country: str | None = None
    owner: str | None = None
    employees: int | None = None
    segment: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class StageVisit:
    stage: str
    entered_at: datetime


@dataclass(slots=True)
class SyntheticActivity:
    activity_id: str
    type: str
    occurred_at: datetime
    owner: str
    subject: str
    completed: bool
    duration_s: int | None
    direction: str | None
    outcome: str | None


@dataclass(slots=True)
class SyntheticDeal:
    index: int
    deal_id: str
    name: str
    owner: str
    account: Account
    currency: str
    amount: Decimal
    created_at: datetime
    expected_close_date: date
    path: list[StageVisit]
    status: str
    closed_at: datetime | None
    lost_reason: str | None
    probability: float | None
    activities: list[SyntheticActivity] = field(default_factory=list)
    updated_at: datetime | None = None
    is_reopened: bool = False
    lead_source: str | None = None
    # Set on a migrated copy only: the world deal it copies (legacy_id = that deal's deal_id).
    legacy_id: str | None = None
    # Only in a world with a signal: what drove the outcome, and the p it was drawn from.
    drivers: DealDrivers | None = None

    @property
    def win_probability(self) -> float | None:
        """The true probability the outcome was drawn from (None without a signal)."""
        return None if self.drivers is None else self.drivers.win_probability

    @property
    def stage(self) -> str:
        """The canonical stage the deal is in now (its last visit)."""
        return self.path[-1].stage


# --- name material (small, hand-written; a few unicode names on purpose) -------------------

# fmt: off
_FIRST = (
    ("Alice", "alice"), ("Bruno", "bruno"), ("Chidi", "chidi"), ("Dana", "dana"),
    ("Émile", "emile"), ("Fatima", "fatima"), ("Grace", "grace"), ("Hiro", "hiro"),
    ("Ingrid", "ingrid"), ("José", "jose"), ("Kofi", "kofi"), ("Łukasz", "lukasz"),
    ("Mei", "mei"), ("Nora", "nora"), ("Omar", "omar"), ("Priya", "priya"),
    ("Quinn", "quinn"), ("Rafael", "rafael"), ("Sofia", "sofia"), ("Tomás", "tomas"),
    ("Uma", "uma"), ("Viktor", "viktor"), ("Wen", "wen"), ("Zoë", "zoe"),
)
_LAST = (
    ("Andersen", "andersen"), ("Bianchi", "bianchi"), ("Chen", "chen"), ("Dubois", "dubois"),
    ("Eriksson", "eriksson"), ("Fischer", "fischer"), ("García", "garcia"), ("Haddad", "haddad"),
    ("Ivanova", "ivanova"), ("Jensen", "jensen"), ("Kowalski", "kowalski"), ("Larsen", "larsen"),
    ("Müller", "mueller"), ("Nakamura", "nakamura"), ("O'Brien", "obrien"), ("Patel", "patel"),
    ("Rossi", "rossi"), ("Schmidt", "schmidt"), ("Tanaka", "tanaka"), ("Novák", "novak"),
)
_EMAIL_DOMAIN = "northwind-sales.example"
# Fixed accounts first: unicode and CSV-hostile names (commas, quotes) appear in every world.
_FIXED_ACCOUNTS = (
    "Müller GmbH",
    "Café Olé",
    "Smith, Jones & Partners",
    'The "Good" Company',
    "Søndergaard A/S",
    "Łódź Logistics Sp. z o.o.",
    "São Paulo Têxtil Ltda",
    "株式会社サンプル",
)
_ACCOUNT_STEMS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Tyrell", "Cyberdyne", "Aperture", "Nakatomi", "Oscorp", "Wonka", "Gringotts", "Monarch",
    "Pied Piper", "Bluth", "Dunder", "Prestige", "Sterling", "Zürich", "Nordic", "Atlas",
    "Helix", "Quantum", "Summit", "Evergreen", "Ironclad", "Bright", "Blue Harbor",
)
_ACCOUNT_KINDS = (
    "Analytics", "Logistics", "Health", "Foods", "Energy", "Robotics", "Media", "Capital",
    "Software", "Retail", "Labs", "Systems", "Motors", "Pharma", "Insurance", "Telecom",
)
_ACCOUNT_SUFFIXES = ("Inc.", "Ltd", "GmbH", "LLC", "AG", "SAS", "BV", "Corp.", "plc", "")
_PRODUCTS = (
    "Platform", "Analytics add-on", "Renewal", "Expansion", "Pilot", "Enterprise licence",
    "Support plan", "Onboarding", "Data migration", "Seats upgrade",
)
# fmt: on
_TEAM_AMOUNT_FACTOR = {"Enterprise": 1.8, "Mid-Market": 1.0, "SMB": 0.55}
_STAGE_PROBABILITY = (0.1, 0.2, 0.4, 0.6, 0.8)

_SUBJECTS = {
    "call": ("Discovery call", "Follow-up call", "Call with {a}", "Check-in call"),
    "email": ("Re: {d}", "Intro: {a}", "Pricing for {a}", "Next steps", "Proposal for {a}"),
    "meeting": ("Demo for {a}", "Kick-off with {a}", "Technical deep dive", "Exec sync"),
    "note": ("Notes: {a}", "Internal note", "Champion identified", "Budget confirmed"),
    "task": ("Send proposal", "Follow up with {a}", "Prepare demo", "Update close date"),
}
_CALL_OUTCOMES = ("connected", "connected", "left_voicemail", "no_answer", "busy")
_MEETING_OUTCOMES = ("completed", "completed", "completed", "no_show", "rescheduled")
_MEETING_SECONDS = (900, 1800, 1800, 2700, 3600)
# Activity type weights (call, email, meeting, note, task) by canonical stage index; meetings
# cluster in the meeting and proposal stages.
_TYPE_WEIGHTS = (
    (0.35, 0.40, 0.05, 0.10, 0.10),
    (0.30, 0.35, 0.10, 0.15, 0.10),
    (0.20, 0.25, 0.35, 0.10, 0.10),
    (0.20, 0.30, 0.25, 0.10, 0.15),
    (0.25, 0.35, 0.15, 0.10, 0.15),
    (0.15, 0.45, 0.10, 0.20, 0.10),
    (0.15, 0.45, 0.05, 0.25, 0.10),
)


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    total = sum(weights)
    acc, out = 0.0, []
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


_TYPE_CUM = tuple(_cumulative(w) for w in _TYPE_WEIGHTS)


def derive_seed(seed: int, i: int, stream: int = 0) -> int:
    """A collision-free, process-independent integer seed for item ``i`` of a stream."""
    zigzag = seed * 2 if seed >= 0 else -seed * 2 - 1
    return (((zigzag << 8) | stream) << 40) + i


_fromtimestamp = datetime.fromtimestamp
_exp = math.exp


def _dt(ts: int) -> datetime:
    return _fromtimestamp(ts, UTC)


class World:
    """Reps and accounts (small, eager) plus a lazily generated, indexable stream of deals."""

    def __init__(self, spec: WorldSpec | None = None) -> None:
        self.spec = spec or WorldSpec()
        s = self.spec
        if s.n_reps < 1 or s.n_accounts < 1 or s.n_deals < 0 or s.history_days < 1:
            raise ValueError("a world needs at least one rep, one account and one day of history")
        if s.as_of.tzinfo is None:
            raise ValueError("WorldSpec.as_of must be timezone-aware (UTC)")
        self._as_of_ts = int(s.as_of.timestamp())
        # Business days end strictly before as_of's calendar day, so creation is never later.
        self._first_day = self._as_of_ts // _DAY - s.history_days
        self.reps: list[Rep] = self._make_reps()
        self.accounts: list[Account] = self._make_accounts()
        self.active_reps: list[Rep] = [r for r in self.reps if r.is_active]
        self.rep_by_id: dict[str, Rep] = {r.rep_id: r for r in self.reps}
        self._left_ts: list[int | None] = [
            int(r.left_at.timestamp()) if r.left_at else None for r in self.reps
        ]
        from connectors.synthetic import companies  # imports this module

        companies.enrich(self)
        names, weights = zip(*s.currencies, strict=True)
        self._currency_names: tuple[str, ...] = names
        self._currency_cum = _cumulative(weights)
        self._stage_mu = tuple(math.log(d * _DAY) for d in s.median_stage_days)
        self._lead_cum = _cumulative(tuple(w for _, w in LEAD_SOURCES))
        self.signal_model: SignalModel | None = None
        if s.signal is not None:
            n = s.n_accounts
            self.signal_model = SignalModel(
                seed=s.seed,
                signal=s.signal,
                effects=s.signal_effects,
                rep_weights=[1.0] * s.n_reps,
                account_weights=[
                    ((k + 1) / n) ** (1 / _ACCOUNT_SKEW) - (k / n) ** (1 / _ACCOUNT_SKEW)
                    for k in range(n)
                ],
                lead_sources=LEAD_SOURCES,
                advance_rates=s.advance_rates,
                chain=StageChain(
                    stage_mu=self._stage_mu,
                    stage_sigma=s.stage_days_sigma,
                    pace_sigma=s.pace_sigma,
                    backward_rate=s.backward_rate,
                    skip_rate=s.skip_rate,
                    loss_slowdown=s.loss_slowdown,
                ),
            )

    def __len__(self) -> int:
        return self.spec.n_deals

    # --- small eager tables ---------------------------------------------------------------

    def _make_reps(self) -> list[Rep]:
        s = self.spec
        rng = random.Random(derive_seed(s.seed, 0, stream=1))
        n_inactive = round(s.n_reps * s.inactive_rep_share) if s.n_reps >= 3 else 0
        inactive = set(rng.sample(range(s.n_reps), n_inactive))
        reps, used = [], set()
        for k in range(s.n_reps):
            first, first_ascii = rng.choice(_FIRST)
            last, last_ascii = rng.choice(_LAST)
            local = f"{first_ascii}.{last_ascii}"
            if local in used:
                local = f"{local}{k}"
            used.add(local)
            left_at = None
            if k in inactive:
                days_ago = rng.randint(30, max(31, int(s.history_days * 0.8)))
                left_at = _dt(self._as_of_ts - days_ago * _DAY)
            reps.append(
                Rep(
                    index=k,
                    rep_id=f"rep-{k:03d}",
                    name=f"{first} {last}",
                    email=f"{local}@{_EMAIL_DOMAIN}",
                    team=TEAMS[k % len(TEAMS)],
                    is_active=k not in inactive,
                    left_at=left_at,
                )
            )
        return reps

    def _make_accounts(self) -> list[Account]:
        s = self.spec
        rng = random.Random(derive_seed(s.seed, 0, stream=2))
        accounts, used = [], set()
        for k in range(s.n_accounts):
            if k < len(_FIXED_ACCOUNTS):
                name = _FIXED_ACCOUNTS[k]
            else:
                suffix = rng.choice(_ACCOUNT_SUFFIXES)
                stem, kind = rng.choice(_ACCOUNT_STEMS), rng.choice(_ACCOUNT_KINDS)
                # Distinct companies never share a name up to the legal suffix (only the
                # deliberate twins of companies.enrich do), so resolution truth is clear.
                if (stem, kind) in used:
                    name = f"{stem} {kind} {k} {suffix}".strip()
                else:
                    name = f"{stem} {kind} {suffix}".strip()
                used.add((stem, kind))
            accounts.append(Account(index=k, account_id=f"ACC{k:05d}", name=name))
        return accounts

    # --- deals ------------------------------------------------------------------------------

    def iter_deals(self, start: int = 0, stop: int | None = None) -> Iterator[SyntheticDeal]:
        """Stream deals ``start..stop-1`` (clamped to the world) in index order."""
        stop = self.spec.n_deals if stop is None else min(stop, self.spec.n_deals)
        build = self._build
        for i in range(max(start, 0), stop):
            yield build(i)

    def iter_deals_for(self, source_index: int, n_sources: int) -> Iterator[SyntheticDeal]:
        """Stream this source's share of the world: deals with ``i % n_sources == source_index``."""
        if not 0 <= source_index < n_sources:  # checked eagerly, not on first next()
            raise ValueError(f"source_index {source_index} not in [0, {n_sources})")
        return map(self._build, range(source_index, self.spec.n_deals, n_sources))

    def iter_source_deals(self, source_index: int, n_sources: int) -> Iterator[SyntheticDeal]:
        """What one source holds: its own share, then migrated copies of some of the previous
        source's deals (``spec.duplicate_share``; none when 0 or a single source)."""
        from connectors.synthetic import companies  # imports this module

        yield from self.iter_deals_for(source_index, n_sources)
        if self.spec.duplicate_share > 0 and n_sources > 1:
            previous = (source_index - 1) % n_sources
            for i in range(previous, self.spec.n_deals, n_sources):
                if companies.is_migrated(self.spec, i):
                    yield companies.migrated_copy(self._build(i), self.spec)

    def source_accounts(self, source_index: int, n_sources: int) -> list[Account]:
        """The companies one source holds: those its deals (copies included) belong to."""
        seen = {d.account.index for d in self.iter_source_deals(source_index, n_sources)}
        return [a for a in self.accounts if a.index in seen]

    def deal(self, i: int) -> SyntheticDeal:
        """Deal ``i``, identical to the ``i``-th item of :meth:`iter_deals`."""
        if not 0 <= i < self.spec.n_deals:
            raise IndexError(f"deal index {i} outside 0..{self.spec.n_deals - 1}")
        return self._build(i)

    def true_win_probability(self, deal: SyntheticDeal | int) -> float:
        """The probability deal ``deal`` (a deal or its index) won with: what its outcome
        was drawn from. Only a world with ``WorldSpec.signal`` set has one."""
        if self.signal_model is None:
            raise ValueError(
                "this world has no win probabilities: set WorldSpec.signal (0.0 to 1.0)"
            )
        built = self.deal(deal) if isinstance(deal, int) else deal
        if built.drivers is None:
            raise ValueError(f"deal {built.deal_id} does not come from a world with a signal")
        return built.drivers.win_probability

    def _build(self, i: int) -> SyntheticDeal:
        """One deal's whole life from its own RNG; hot path, hence the local bindings."""
        s = self.spec
        rng = random.Random(derive_seed(s.seed, i))
        rand, gauss = rng.random, rng.gauss
        as_of = self._as_of_ts
        reps = self.reps

        # Creation: weekday business hours, slightly more deals recently (a growing company).
        day = self._first_day + int(s.history_days * rand() ** 0.9)
        weekday = (day + _EPOCH_WEEKDAY) % 7
        if weekday >= 5:
            day -= weekday - 4
        created = day * _DAY + 8 * 3600 + 60 * int(rand() * 600)

        account = self.accounts[int(s.n_accounts * rand() ** _ACCOUNT_SKEW)]
        owner_idx = int(rand() * len(reps))
        left = self._left_ts[owner_idx]
        if left is not None and created >= left - 14 * _DAY:
            owner_idx = self.active_reps[int(rand() * len(self.active_reps))].index
            left = None
        currency = self._currency_names[bisect_right(self._currency_cum, rand())]
        raw = s.median_amount * _TEAM_AMOUNT_FACTOR[reps[owner_idx].team]
        amount_z = gauss(0.0, 1.0)
        raw *= _exp(0.8 * amount_z)
        cents = max(10_000, round(raw * 100))
        if rand() < 0.3:
            cents = max(100_000, round(cents, -5))
        drivers = None
        if self.signal_model is None:
            win_factor = min(1.25, max(0.75, (s.median_amount * 100 / cents) ** 0.1))
            stages, times, status, closed, lost_reason, reopened = self._path(
                rng, created, win_factor
            )
        else:
            lead = LEAD_SOURCES[bisect_right(self._lead_cum, rand())][0]
            engagement, pace, noise = gauss(0.0, 1.0), gauss(0.0, 1.0), gauss(0.0, 1.0)
            drivers = self.signal_model.drivers(
                owner_idx, account.index, lead, engagement, pace, amount_z, noise
            )
            stages, times, status, closed, lost_reason, reopened = self._path(
                rng, created, drivers=drivers
            )

        # Handover: a rep who left keeps closed deals only if they closed before leaving.
        original_idx = owner_idx
        if left is not None and (closed is None or closed > left):
            owner_idx = self.active_reps[int(rand() * len(self.active_reps))].index
        else:
            left = None

        end = closed if closed is not None else as_of
        created_day = created // _DAY
        expected_day = created_day + int(_exp(_EXPECTED_MU + 0.5 * gauss(0.0, 1.0)))
        if closed is not None:
            if rand() < 0.7:
                expected_day = closed // _DAY
        elif expected_day < as_of // _DAY and rand() < 0.5:
            expected_day = as_of // _DAY + 7 + int(rand() * 54)

        probability = None
        if rand() < s.probability_override_rate:
            if status == "won":
                probability = 1.0
            elif status == "lost":
                probability = 0.0
            else:
                base = _STAGE_PROBABILITY[stages[-1]] + rng.uniform(-0.15, 0.15)
                probability = round(min(0.95, max(0.05, base)), 2)

        deal_name = f"{account.name} - {_PRODUCTS[int(rand() * len(_PRODUCTS))]}"
        activities, last_activity = self._activities(
            rng,
            i,
            account.name,
            deal_name,
            created,
            end,
            stages,
            times,
            original_idx,
            owner_idx,
            left,
            drivers,
        )
        stage_names = CANONICAL_STAGES
        return SyntheticDeal(
            index=i,
            deal_id=f"D{i:07d}",
            name=deal_name,
            owner=reps[owner_idx].rep_id,
            account=account,
            currency=currency,
            amount=Decimal(cents).scaleb(-2),
            created_at=_dt(created),
            expected_close_date=date.fromordinal(_EPOCH_ORDINAL + expected_day),
            path=[
                StageVisit(stage_names[k], _fromtimestamp(ts, UTC))
                for k, ts in zip(stages, times, strict=True)
            ],
            status=status,
            closed_at=_dt(closed) if closed is not None else None,
            lost_reason=lost_reason,
            probability=probability,
            activities=activities,
            updated_at=_dt(min(as_of, max(times[-1], last_activity))),
            is_reopened=reopened,
            # Drawn last so every earlier draw (and so every older world) is unchanged; a
            # signal world drew it before the outcome, as a driver.
            lead_source=(
                LEAD_SOURCES[bisect_right(self._lead_cum, rand())][0]
                if drivers is None
                else drivers.lead_source
            ),
            drivers=drivers,
        )

    def _path(
        self,
        rng: random.Random,
        created: int,
        win_factor: float = 1.0,
        drivers: DealDrivers | None = None,
    ) -> tuple[list[int], list[int], str, int | None, str | None, bool]:
        """The deal's stage path: a small Markov chain in time, stopped by as_of. Each deal
        has its own pace, it may skip a stage or move back once, and a dying deal lingers
        before someone marks it lost, which keeps a realistic tail of stale open pipeline.

        Without ``drivers`` (the original world) the funnel's advance rates decide, bigger
        deals win a little less (``win_factor``) and a lost deal may come back later. With
        them the outcome is drawn from the deal's true win probability p: leaving stage
        ``k`` passes with ``stage_pass[k]`` (product p), a skip passes both stages'
        decisions at once and a stage re-entered after a back move is passed freely, so the
        deal wins with probability exactly p; a reopened deal is a false loss (lost, then
        back in the same stage a month later) at a rate that does not depend on the outcome.
        Each world keeps its own order of draws, so both stay byte for byte what they were.
        """
        s = self.spec
        rand, gauss = rng.random, rng.gauss
        as_of = self._as_of_ts
        mu, sigma = self._stage_mu, s.stage_days_sigma
        passing: tuple[float, ...] | None = None
        if drivers is None:
            adv = s.advance_rates
            pace = s.pace_sigma * gauss(0.0, 1.0)
            slowdown, win_chance = s.loss_slowdown, adv[4] * win_factor
        else:
            model = self.signal_model
            assert model is not None
            passing = model.stage_pass(drivers.win_probability)
            pace = s.pace_sigma * drivers.pace
            slowdown, win_chance = model.loss_slowdown, passing[4]
            false_loss_rate = s.reopen_rate * _FALSE_LOSS_SHARE
        stages = [0]
        times = [created]
        stage, t, decided = 0, created, 0
        status, closed, lost_reason = "open", None, None
        went_back = reopened = False
        while True:
            if passing is not None and not reopened and rand() < false_loss_rate:
                lost_at = t + max(600, int(_exp(mu[stage] + pace + sigma * gauss(0.0, 1.0))))
                back_at = lost_at + int(_exp(_REOPEN_MU + 0.6 * gauss(0.0, 1.0)))
                if back_at <= as_of:
                    reopened = True
                    stages += (_LOST, stage)
                    times += (lost_at, back_at)
                    t = back_at
                    continue
            if stage >= 2 and not went_back and rand() < s.backward_rate:
                nxt = 1 + int(rand() * (stage - 1))
            elif stage < 4:
                if passing is None:  # advance (maybe skipping a stage), else lost
                    if rand() < adv[stage]:
                        nxt = stage + 2 if stage <= 2 and rand() < s.skip_rate else stage + 1
                    else:
                        nxt = _LOST
                else:  # pick the target, then pass every decision up to it
                    target = stage + 2 if stage <= 2 and rand() < s.skip_rate else stage + 1
                    chance = 1.0
                    for k in range(max(stage, decided), target):
                        chance *= passing[k]
                    if rand() < chance:
                        nxt = target
                        decided = max(decided, target)
                    else:
                        nxt = _LOST
            else:
                nxt = _WON if rand() < win_chance else _LOST
            dwell = _exp(mu[stage] + pace + sigma * gauss(0.0, 1.0))
            if nxt == _LOST:
                dwell *= slowdown
            nt = t + max(600, int(dwell))
            if nt > as_of:
                break
            stages.append(nxt)
            times.append(nt)
            t = nt
            if nxt == _WON:
                status, closed = "won", nt
                break
            if nxt == _LOST:
                if passing is None and not reopened and rand() < s.reopen_rate:
                    back_at = nt + int(_exp(_REOPEN_MU + 0.6 * gauss(0.0, 1.0)))
                    if back_at <= as_of:
                        reopened = True
                        stage, t = max(1, stage), back_at
                        stages.append(stage)
                        times.append(t)
                        continue
                status, closed = "lost", nt
                lost_reason = LOST_REASONS[int(rand() * len(LOST_REASONS))]
                break
            if nxt < stage:
                went_back = True
            stage = nxt
        return stages, times, status, closed, lost_reason, reopened

    def _activities(
        self,
        rng: random.Random,
        i: int,
        account_name: str,
        deal_name: str,
        created: int,
        end: int,
        stages: list[int],
        times: list[int],
        original_idx: int,
        owner_idx: int,
        handover: int | None,
        drivers: DealDrivers | None = None,
    ) -> tuple[list[SyntheticActivity], int]:
        """Poisson-many activities over the deal's life; the first soon after creation.

        In a signal world the deal's engagement scales the count (mean kept) and, through
        ``spread = u ** recency``, moves an engaged deal's activities toward its end."""
        lam = self.spec.activities_per_deal
        recency = 1.0
        if drivers is not None:
            effects = self.spec.signal_effects
            spread = effects.activity_spread
            lam *= _exp(spread * drivers.engagement - spread * spread / 2)
            recency = _exp(-effects.activity_recency * drivers.engagement)
        if lam <= 0:
            return [], created
        rand, gauss = rng.random, rng.gauss
        if lam < 30:
            n, p, limit = 0, rand(), math.exp(-lam)
            while p > limit:
                n += 1
                p *= rand()
        else:
            n = max(0, round(gauss(lam, math.sqrt(lam))))
        if n == 0:
            return [], created
        span = end - created
        first = created + min(span, int(_exp(_FIRST_TOUCH_MU + 1.3 * gauss(0.0, 1.0))))
        if drivers is None:
            stamps = [first] + [created + int(span * rand()) for _ in range(n - 1)]
        else:
            stamps = [first] + [created + int(span * rand() ** recency) for _ in range(n - 1)]
        stamps.sort()
        reps, active = self.reps, self.active_reps
        out: list[SyntheticActivity] = []
        for k, ts in enumerate(stamps):
            stage = stages[bisect_right(times, ts) - 1]
            typ = ACTIVITY_TYPES[bisect_right(_TYPE_CUM[stage], rand())]
            if rand() < 0.9:
                who = original_idx if handover is not None and ts < handover else owner_idx
                owner = reps[who].rep_id
            else:
                owner = active[int(rand() * len(active))].rep_id
            subjects = _SUBJECTS[typ]
            subject = subjects[int(rand() * len(subjects))]
            if "{" in subject:
                subject = subject.format(a=account_name, d=deal_name)
            duration = direction = outcome = None
            completed = True
            if typ == "call":
                duration = int(_exp(5.5 + 0.7 * gauss(0.0, 1.0)))
                direction = "inbound" if rand() < 0.3 else "outbound"
                outcome = _CALL_OUTCOMES[int(rand() * 5)]
                if outcome != "connected":
                    duration = min(duration, 45)
            elif typ == "email":
                direction = "inbound" if rand() < 0.4 else "outbound"
            elif typ == "meeting":
                duration = _MEETING_SECONDS[int(rand() * 5)]
                outcome = _MEETING_OUTCOMES[int(rand() * 5)]
                completed = outcome == "completed"
            elif typ == "task":
                completed = rand() < 0.75
            # Positional on purpose: this line runs millions of times in benchmarks.
            out.append(
                SyntheticActivity(
                    f"A{i:07d}-{k}",
                    typ,
                    _fromtimestamp(ts, UTC),
                    owner,
                    subject,
                    completed,
                    duration,
                    direction,
                    outcome,
                )
            )
        return out, stamps[-1]
