"""Companies as several CRMs hold them, and deals migrated from one CRM to the next.

The world has one list of real companies. Each source shows a company its own way: the
name with or without its legal suffix, in another case, without accents or punctuation,
and the website written any of the ways people type it, or not at all. That is the input
cross-CRM account resolution meets in life, and :func:`resolution_truth` says which records
are truly one company: a source's record of a company is seeded from one world account, and
records seeded from the same ``account_id`` are the same company. Tests score the hub's
resolution against that (precision and recall).

Two companies are deliberate twins (same name up to the suffix, different country and
domain): a resolver that merges on the name alone, ignoring two different domains, is
caught by them.

A migrated copy is the same deal entered again in the next source during a migration: same
company, owner, amount, currency and dates (created up to two days later), its current
stage only, a slightly different name, no activities, and ``legacy_id`` = the original's
``deal_id`` (which is the native id where the original is a CSV export).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from connectors.synthetic.world import Account, StageVisit, SyntheticDeal, WorldSpec, derive_seed

if TYPE_CHECKING:
    from connectors.synthetic.world import World

_DAY = 86_400
_STREAM_COMPANY, _STREAM_VIEW, _STREAM_MIGRATED = 6, 7, 8
_FIXED_PROFILES = (  # domain, country, industry for the fixed accounts, in order
    ("mueller-gmbh.de", "DE", "Manufacturing"),
    ("cafe-ole.fr", "FR", "Food & Beverage"),
    ("smithjones.co.uk", "GB", "Professional Services"),
    ("thegoodcompany.com", "US", "Retail"),
    ("sondergaard.dk", "DK", "Logistics"),
    ("lodzlogistics.pl", "PL", "Logistics"),
    ("saopaulotextil.com.br", "BR", "Manufacturing"),
    ("sample.co.jp", "JP", "Software"),
)
_INDUSTRY_BY_KIND = {
    "Analytics": "Software", "Logistics": "Logistics", "Health": "Healthcare",
    "Foods": "Food & Beverage", "Energy": "Energy", "Robotics": "Manufacturing",
    "Media": "Media", "Capital": "Financial Services", "Software": "Software",
    "Retail": "Retail", "Labs": "Life Sciences", "Systems": "Software",
    "Motors": "Manufacturing", "Pharma": "Life Sciences", "Insurance": "Financial Services",
    "Telecom": "Telecommunications",
}  # fmt: skip
_COUNTRIES = (("US", ".com"), ("GB", ".co.uk"), ("DE", ".de"), ("FR", ".fr"), ("NL", ".nl"),
              ("SE", ".se"), ("US", ".io"), ("CA", ".ca"))  # fmt: skip
_NO_DOMAIN_SHARE = 0.10  # companies with no website anywhere
_WEBSITE_MISSING_SHARE = 0.15  # of the others, per source: the website field left empty
_TWINS = (10, 11)  # account indexes made twins when the world has that many
_LEGAL = ("Inc.", "Ltd", "GmbH", "LLC", "AG", "SAS", "BV", "Corp.", "plc")
_SUFFIX_SPELLINGS = {
    "Inc.": ("Inc", "Incorporated", "INC."),
    "Ltd": ("Ltd.", "Limited", "LTD"),
    "LLC": ("L.L.C.", "llc"),
    "Corp.": ("Corp", "Corporation"),
    "GmbH": ("GMBH", "Gmbh"),
    "plc": ("PLC", "Plc"),
}


def _segment(employees: int) -> str:
    return "Enterprise" if employees >= 1000 else "Mid-Market" if employees >= 100 else "SMB"


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_name).split())


def enrich(world: World) -> None:
    """Give every company its profile (domain, industry, country, owner, size, dates) from
    its own random stream, so deals and older worlds are unchanged."""
    spec = world.spec
    first = spec.as_of - timedelta(days=spec.history_days)
    for account in world.accounts:
        rng = random.Random(derive_seed(spec.seed, account.index, stream=_STREAM_COMPANY))
        k = account.index
        if k < len(_FIXED_PROFILES):
            domain, country, industry = _FIXED_PROFILES[k]
        else:
            words = account.name.split()
            country, tld = _COUNTRIES[int(rng.random() * len(_COUNTRIES))]
            industry = next(
                (_INDUSTRY_BY_KIND[w] for w in words if w in _INDUSTRY_BY_KIND), "Other"
            )
            slug = _slug(" ".join(w for w in words if w not in _LEGAL))
            domain = (slug if rng.random() < 0.5 else slug.replace("-", "")) + tld
            if rng.random() < _NO_DOMAIN_SHARE:
                domain = None
        employees = max(2, int(rng.lognormvariate(5.0, 1.6)))
        account.domain = domain
        account.country = country
        account.industry = industry
        account.employees = employees
        account.segment = _segment(employees)
        account.owner = world.reps[int(rng.random() * len(world.reps))].rep_id
        account.created_at = first - timedelta(days=int(rng.random() * 900), hours=9)
        account.updated_at = spec.as_of - timedelta(days=int(rng.random() * 60), hours=3)
    if len(world.accounts) > max(_TWINS):
        _make_twins(world.accounts[_TWINS[0]], world.accounts[_TWINS[1]])


def _make_twins(a: Account, b: Account) -> None:
    """Two different companies whose names differ only in the legal suffix."""
    base = " ".join(w for w in a.name.split() if w not in _LEGAL)
    a.name, b.name = f"{base} Inc.", f"{base} Ltd"
    slug = _slug(base)
    a.domain, a.country = f"{slug}.com", "US"
    b.domain, b.country = f"{slug.replace('-', '')}.co.uk", "GB"


def twins(world: World) -> tuple[Account, Account] | None:
    """The deliberate twins, when the world has them."""
    if len(world.accounts) > max(_TWINS):
        return world.accounts[_TWINS[0]], world.accounts[_TWINS[1]]
    return None


@dataclass(frozen=True, slots=True)
class AccountView:
    """A company as one source holds it."""

    name: str
    website: str | None


def account_view(account: Account, source_index: int, seed: int) -> AccountView:
    """How source ``source_index`` writes this company's name and website. Source 0 keeps
    the true name; others vary it the ways data entry does."""
    rng = random.Random(derive_seed(seed, account.index * 64 + source_index, _STREAM_VIEW))
    name = account.name
    if source_index > 0:
        name = _vary_name(name, rng)
    website = None
    twin = account.index in _TWINS
    if account.domain and (twin or rng.random() >= _WEBSITE_MISSING_SHARE):
        website = _vary_website(account.domain, rng)
    return AccountView(name=name, website=website)


def _vary_name(name: str, rng: random.Random) -> str:
    roll = rng.random()
    words = name.split()
    if roll < 0.25:
        return name
    if roll < 0.40 and words[-1] in _SUFFIX_SPELLINGS:
        return " ".join([*words[:-1], rng.choice(_SUFFIX_SPELLINGS[words[-1]])])
    if roll < 0.55 and len(words) > 2:
        return " ".join(words[:-1]) if words[-1] in _SUFFIX_SPELLINGS or words[-1] in (
            "AG", "SAS", "BV", "A/S", "Ltda") else name  # fmt: skip
    if roll < 0.70:
        return name.upper()
    if roll < 0.85:
        return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode() or name
    return name.replace(",", "").replace('"', "").replace(".", "")


def _vary_website(domain: str, rng: random.Random) -> str:
    forms = (
        f"https://www.{domain}",
        f"https://www.{domain}/",
        f"http://{domain}",
        domain,
        f"www.{domain}",
        f"https://{domain.upper()}/about",
    )
    return forms[int(rng.random() * len(forms))]


# ----- deals entered twice: migrated copies ---------------------------------------------------


def is_migrated(spec: WorldSpec, i: int) -> bool:
    """Whether deal ``i`` also sits in the next source as a migrated copy."""
    if spec.duplicate_share <= 0:
        return False
    return (
        random.Random(derive_seed(spec.seed, i, _STREAM_MIGRATED)).random() < spec.duplicate_share
    )


def migrated_copy(deal: SyntheticDeal, spec: WorldSpec) -> SyntheticDeal:
    """The same deal as entered in the next CRM: see the module docstring."""
    rng = random.Random(derive_seed(spec.seed, deal.index, _STREAM_MIGRATED + 1))
    created = deal.created_at + timedelta(seconds=int(rng.random() * 2 * _DAY))
    last = deal.path[-1]
    entered: datetime = max(created, last.entered_at) if deal.closed_at is None else last.entered_at
    created = min(created, entered)
    roll = rng.random()
    if roll < 0.3:
        name = deal.name
    elif roll < 0.55:
        name = deal.name.lower()
    elif roll < 0.8:
        name = f"{deal.name} (migrated)"
    else:
        name = deal.name.replace(" - ", ": ")
    return replace(
        deal,
        deal_id=f"M{deal.index:07d}",
        name=name,
        created_at=created,
        path=[StageVisit(last.stage, entered)],
        activities=[],
        is_reopened=False,
        legacy_id=deal.deal_id,
    )


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    copy_source: int
    copy_deal_id: str
    original_source: int
    original_deal_id: str


def duplicate_truth(world: World, n_sources: int) -> list[DuplicatePair]:
    """Every migrated copy and the deal it copies (by world deal_id and source index)."""
    pairs: list[DuplicatePair] = []
    if world.spec.duplicate_share <= 0 or n_sources < 2:
        return pairs
    for i in range(world.spec.n_deals):
        if is_migrated(world.spec, i):
            source = i % n_sources
            pairs.append(DuplicatePair((source + 1) % n_sources, f"M{i:07d}", source, f"D{i:07d}"))
    return pairs
