"""Duplicate deals across sources: the same deal entered in two CRMs (a migration, a
hand-over between teams), so that the marts count it once.

Two deals of different sources are one deal when

- ``legacy_id``: one's ``duplicates.legacy_id_field`` custom field holds the other's native
  id (``source_deal_id``) or key; when that id exists in several other sources, the deal of
  the same company is meant, and if that is still not one deal, none is;
- ``account_name_dates``: they belong to one resolved company, their names are similar
  (``names.deal_name_key``, difflib ratio >= ``duplicates.name_similarity``), they were
  created at most ``duplicates.max_days_apart`` days apart, and every fact both of them
  know agrees: amount and currency, owner (by e-mail), and when both are closed the outcome
  and the close date (within a day). A migrated deal keeps those; two different deals of one company
  seldom share them all.

Pairs join groups (``groups.Groups``) strongest first (legacy ids, then by score and nearer
dates); a group never holds two deals of one source, since one CRM's deals are never
duplicates of each other. In each group the copy the marts count is the one from the first
source in ``duplicates.prefer``, else the earliest created, ties by hub.yml source order;
every other member is a row: ``deal_key``, ``duplicate_of`` (the counted copy), the rule and
score of the pair that brought it in.

Comparisons stay few: only deals of one company, with the same amount and currency when
they have them, ordered by creation and compared within the date window.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from hub.resolve.groups import Groups
from hub.resolve.names import deal_name_key
from hub.resolve.records import DealRecord
from models.config import DuplicatesConfig

DuplicateRule = Literal["legacy_id", "account_name_dates"]
_DAY = 86_400.0
_CLOSED = frozenset({"won", "lost"})
_CLOSE_SLACK_S = 86_400.0


@dataclass(frozen=True, slots=True)
class DealDuplicate:
    deal_key: str
    duplicate_of: str
    rule: DuplicateRule
    score: float


@dataclass(frozen=True, slots=True)
class _Pair:
    rank: tuple[int, float, float, str, str]  # legacy first, then higher score, nearer dates
    a: str
    b: str
    rule: DuplicateRule
    score: float


def find_duplicates(
    deals: Sequence[DealRecord],
    company_of: dict[str, str],
    company_words: dict[str, frozenset[str]],
    settings: DuplicatesConfig,
    source_order: Sequence[str],
) -> list[DealDuplicate]:
    """The losing copies, sorted by deal_key. ``company_of`` maps account keys to company
    keys, ``company_words`` a company to the words of its names (left out of deal names)."""
    if not settings.enabled:
        return []
    by_key = {d.deal_key: d for d in deals}
    pairs = [
        *(legacy_pairs(deals, company_of) if settings.legacy_id_field else ()),
        *similar_pairs(deals, company_of, company_words, settings),
    ]
    pairs.sort(key=lambda p: p.rank)
    groups: Groups[str] = Groups()
    for deal in deals:
        groups.add(deal.deal_key, tags=[deal.source_name])
    joined_by: dict[str, _Pair] = {}
    for pair in pairs:
        if groups.find(pair.a) != groups.find(pair.b) and groups.join(pair.a, pair.b):
            joined_by.setdefault(pair.a, pair)
            joined_by.setdefault(pair.b, pair)

    prefer = {name: i for i, name in enumerate(settings.prefer)}
    order = {name: i for i, name in enumerate(source_order)}

    def counted(deal: DealRecord) -> tuple[int, float, int, str]:
        return (
            prefer.get(deal.source_name, len(prefer)),
            deal.created_at if deal.created_at is not None else math.inf,
            order.get(deal.source_name, len(order)),
            deal.deal_key,
        )

    out = []
    for members in groups.groups().values():
        if len(members) < 2:
            continue
        winner = min((by_key[k] for k in members), key=counted)
        for key in members:
            if key != winner.deal_key:
                pair = joined_by[key]
                out.append(DealDuplicate(key, winner.deal_key, pair.rule, pair.score))
    out.sort(key=lambda d: d.deal_key)
    return out


def legacy_pairs(deals: Sequence[DealRecord], company_of: dict[str, str]) -> list[_Pair]:
    if not any(d.legacy_id for d in deals):
        return []
    by_id: dict[str, list[DealRecord]] = {}
    for deal in deals:
        by_id.setdefault(deal.source_deal_id, []).append(deal)
        by_id.setdefault(deal.deal_key, []).append(deal)
    pairs = []
    for deal in deals:
        if deal.legacy_id is None:
            continue
        found = {d.deal_key: d for d in by_id.get(deal.legacy_id, ())}
        others = [d for d in found.values() if d.source_name != deal.source_name]
        if len(others) > 1:
            company = company_of.get(deal.account_key or "")
            others = [
                d for d in others if company and company_of.get(d.account_key or "") == company
            ]
        if len(others) == 1:
            a, b = sorted((deal.deal_key, others[0].deal_key))
            pairs.append(_Pair((0, -1.0, 0.0, a, b), a, b, "legacy_id", 1.0))
    return pairs


def similar_pairs(
    deals: Sequence[DealRecord],
    company_of: dict[str, str],
    company_words: dict[str, frozenset[str]],
    settings: DuplicatesConfig,
) -> list[_Pair]:
    window = settings.max_days_apart * _DAY
    blocks: dict[str, list[DealRecord]] = {}
    for deal in deals:
        company = company_of.get(deal.account_key or "")
        if company is not None and deal.created_at is not None:
            blocks.setdefault(company, []).append(deal)
    pairs: list[_Pair] = []
    for company, members in blocks.items():
        if len({d.source_name for d in members}) > 1:
            drop = company_words.get(company, frozenset())
            pairs.extend(_block_pairs(members, drop, window, settings.name_similarity))
    return pairs


def _block_pairs(
    members: list[DealRecord], drop: frozenset[str], window: float, threshold: float
) -> Iterable[_Pair]:
    names: dict[str, str] = {}
    for a, b in _candidates(members, window):
        if not facts_agree(a, b):
            continue
        for deal in (a, b):
            if deal.deal_key not in names:
                names[deal.deal_key] = deal_name_key(deal.name, drop)
        score = similarity(names[a.deal_key], names[b.deal_key], threshold)
        if score >= threshold:
            x, y = sorted((a.deal_key, b.deal_key))
            gap = abs(_created(a) - _created(b))
            yield _Pair((1, -score, gap, x, y), x, y, "account_name_dates", score)


def _candidates(
    members: list[DealRecord], window: float
) -> Iterable[tuple[DealRecord, DealRecord]]:
    """Pairs of one company's deals from different sources created within ``window``
    seconds: deals with an amount and currency meet only those with the same ones, and
    those without meet all."""
    priced: dict[tuple[str, object], list[DealRecord]] = {}
    unpriced: list[DealRecord] = []
    for deal in members:
        if deal.amount is not None and deal.currency is not None:
            priced.setdefault((deal.currency, deal.amount), []).append(deal)
        else:
            unpriced.append(deal)
    for block in priced.values():
        yield from _within(block, window)
    if not unpriced:
        return
    everyone = sorted(members, key=_created)
    stamps = [_created(d) for d in everyone]
    unpriced_keys = {d.deal_key for d in unpriced}
    for deal in unpriced:
        at = _created(deal)
        for other in everyone[bisect_left(stamps, at - window) : bisect_right(stamps, at + window)]:
            if other.source_name == deal.source_name:
                continue
            if other.deal_key in unpriced_keys and other.deal_key < deal.deal_key:
                continue  # two unpriced deals: the pair once
            yield deal, other


def _created(deal: DealRecord) -> float:
    return deal.created_at if deal.created_at is not None else 0.0


def _within(block: list[DealRecord], window: float) -> Iterable[tuple[DealRecord, DealRecord]]:
    if len(block) < 2:
        return
    block = sorted(block, key=_created)
    for i, deal in enumerate(block):
        start = _created(deal)
        for other in block[i + 1 :]:
            if _created(other) - start > window:
                break
            if other.source_name != deal.source_name:
                yield deal, other


def facts_agree(a: DealRecord, b: DealRecord) -> bool:
    """Whether every fact both deals know is the same (unknown on either side agrees)."""
    if a.amount is not None and b.amount is not None and a.amount != b.amount:
        return False
    if a.currency and b.currency and a.currency != b.currency:
        return False
    if a.owner and b.owner and a.owner != b.owner:
        return False
    if a.status in _CLOSED and b.status in _CLOSED:
        if a.status != b.status:
            return False
        # Closed the same day (a day's slack for time zones); the expected close date is no
        # guide: CRMs overwrite it with the close date, or keep a rep's old guess.
        if a.closed_at is not None and b.closed_at is not None:
            return abs(a.closed_at - b.closed_at) <= _CLOSE_SLACK_S
    return True


def similarity(a: str, b: str, threshold: float = 0.0) -> float:
    """difflib's ratio of two deal name keys (1.0 when equal); cheap upper bounds first,
    so pairs that cannot reach ``threshold`` cost little."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
        return 0.0
    return matcher.ratio()
