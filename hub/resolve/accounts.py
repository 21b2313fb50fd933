"""Company resolution: which accounts of all sources are one company.

In order, each step only joining what the ones before left apart:

1. ``accounts.same_company`` (hub.yml) joins the accounts it lists;
2. accounts with the same company domain (``domains.company_domain``) are one company;
3. accounts with the same company name key (``names.company_name_key``) are one company,
   except that two groups that both carry a domain are never joined by name (different
   domains mean different companies: the twins "Acme Inc." acme.com and "Acme Ltd"
   acme.co.uk). Groups without a domain join the one group of that name that has one; when
   several do, which one is meant is unknown, and they join none of them.

``accounts.different_companies`` wins over steps 2 and 3: no step puts two accounts of one
entry together. An entry of both lists naming the same accounts is a configuration error.

Each company is named after its primary account: the one from the most preferred source
(``duplicates.prefer``, then hub.yml order), ties by earliest created, then key; its key is
the company's ``company_key``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from hub.resolve.domains import company_domain
from hub.resolve.groups import Groups
from hub.resolve.names import company_name_key, words
from hub.resolve.records import AccountRecord
from models.config import AccountsConfig
from models.errors import ConfigError

AccountRule = Literal["domain", "name", "override", "single"]


@dataclass(frozen=True, slots=True)
class AccountResolution:
    account_key: str
    company_key: str
    company_name: str | None
    rule: AccountRule


@dataclass
class ResolvedAccounts:
    rows: list[AccountResolution]
    warnings: list[str] = field(default_factory=list)

    def company_of(self) -> dict[str, str]:
        return {r.account_key: r.company_key for r in self.rows}


def resolve_accounts(
    records: Sequence[AccountRecord], overrides: AccountsConfig, source_rank: dict[str, int]
) -> ResolvedAccounts:
    """One row per account; ``source_rank`` orders sources by preference (lower first)."""
    by_key = {r.account_key: r for r in records}
    warnings = _unknown_keys(overrides, by_key)
    groups: Groups[str] = Groups()
    for record in records:
        apart = [
            i
            for i, entry in enumerate(overrides.different_companies)
            if record.account_key in entry
        ]
        groups.add(record.account_key, tags=apart)

    overridden = _join_same_company(groups, overrides, by_key)
    domain_of = {r.account_key: company_domain(r.domain) for r in records}
    _join(groups, _buckets(domain_of))
    _join_by_name(groups, records, domain_of)

    rows: list[AccountResolution] = []
    for members in groups.groups().values():
        primary = min(
            (by_key[k] for k in members),
            key=lambda r: (
                source_rank.get(r.source_name, len(source_rank)),
                r.created_at if r.created_at is not None else math.inf,
                r.account_key,
            ),
        )
        name = primary.name if (primary.name or "").strip() else _any_name(members, by_key)
        domains = Counter(domain_of[k] for k in members if domain_of[k])
        for key in members:
            rule: AccountRule
            if len(members) == 1:
                rule = "single"
            elif key in overridden:
                rule = "override"
            elif domains[domain_of[key]] > 1:
                rule = "domain"
            else:
                rule = "name"
            rows.append(AccountResolution(key, primary.account_key, name, rule))
    rows.sort(key=lambda r: r.account_key)
    return ResolvedAccounts(rows, warnings)


def _any_name(members: list[str], by_key: dict[str, AccountRecord]) -> str | None:
    names = sorted(n for k in members if (n := by_key[k].name) and n.strip())
    return names[0] if names else None


def _buckets(key_of: dict[str, str | None]) -> dict[str, list[str]]:
    buckets: dict[str, list[str]] = {}
    for member, key in key_of.items():
        if key:
            buckets.setdefault(key, []).append(member)
    return buckets


def _join(groups: Groups[str], buckets: dict[str, list[str]]) -> None:
    """Join every bucket's members (a different_companies clash leaves that member out)."""
    for _key, members in sorted(buckets.items()):
        first, *rest = sorted(members)
        for member in rest:
            groups.join(first, member)


def _join_by_name(
    groups: Groups[str], records: Sequence[AccountRecord], domain_of: dict[str, str | None]
) -> None:
    domains: dict[str, set[str]] = {}
    for record in records:
        domain = domain_of[record.account_key]
        if domain:
            domains.setdefault(groups.find(record.account_key), set()).add(domain)
    names = _buckets({r.account_key: company_name_key(r.name) for r in records})
    for _name, members in sorted(names.items()):
        roots = sorted({groups.find(m) for m in members})
        with_domain = [r for r in roots if domains.get(r)]
        bare = [r for r in roots if not domains.get(r)]
        targets = with_domain if len(with_domain) == 1 else []
        for root in [*targets, *bare][1:]:
            anchor = groups.find(targets[0] if targets else bare[0])
            if groups.join(anchor, root):
                joined = groups.find(anchor)
                domains[joined] = domains.pop(anchor, set()) | domains.pop(root, set())


def _join_same_company(
    groups: Groups[str], overrides: AccountsConfig, by_key: dict[str, AccountRecord]
) -> set[str]:
    joined: set[str] = set()
    for entry in overrides.same_company:
        present = [k for k in entry if k in by_key]
        for key in present[1:]:
            if not groups.join(present[0], key):
                clash = sorted(groups.tags(present[0]) & groups.tags(key))
                apart = overrides.different_companies[clash[0]]
                raise ConfigError(
                    f"hub.yml accounts: same_company {entry} puts {present[0]} and {key} in "
                    f"one company, but different_companies {apart} keeps them apart; remove "
                    "one of the two entries"
                )
        if len(present) > 1:
            joined.update(present)
    return joined


def _unknown_keys(overrides: AccountsConfig, by_key: dict[str, AccountRecord]) -> list[str]:
    out = []
    for section in ("same_company", "different_companies"):
        for entry in getattr(overrides, section):
            for key in entry:
                if key not in by_key:
                    out.append(
                        f"hub.yml accounts.{section}: no live account {key!r} in the warehouse "
                        "(not pulled yet, deleted, or misspelt); the entry ignores it"
                    )
    return out


def company_words(
    records: Sequence[AccountRecord], company_of: dict[str, str]
) -> dict[str, frozenset[str]]:
    """Company key -> the words of all its accounts' names (deal names repeat them)."""
    out: dict[str, set[str]] = {}
    for record in records:
        company = company_of.get(record.account_key)
        if company is not None:
            out.setdefault(company, set()).update(words(record.name))
    return {k: frozenset(v) for k, v in out.items()}
