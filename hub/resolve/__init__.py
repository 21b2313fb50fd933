"""Cross-CRM resolution before every transform: which accounts are one company, and which
deals are the same deal entered in two CRMs (docs/accounts.md).

``resolve`` reads every enabled source's canonical accounts and deals, ``write_resolution``
also writes the answer to ``hub_meta.hub_account_resolution`` and
``hub_meta.hub_deal_duplicates`` for dbt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from hub.resolve.accounts import AccountResolution, company_words, resolve_accounts
from hub.resolve.duplicates import DealDuplicate, find_duplicates
from hub.resolve.records import read_accounts, read_deals
from hub.resolve.tables import write_tables
from models.config import HubConfig

__all__ = ["Resolution", "reads_deals", "resolve", "source_rank", "write_resolution"]

log = logging.getLogger(__name__)


@dataclass
class Resolution:
    accounts: list[AccountResolution]
    duplicates: list[DealDuplicate]
    deals_read: int = 0
    warnings: list[str] = field(default_factory=list)


def source_rank(config: HubConfig) -> dict[str, int]:
    """Sources by preference: ``duplicates.prefer`` first, then hub.yml order."""
    ordered = [*config.duplicates.prefer, *(s.name for s in config.sources)]
    return {name: i for i, name in enumerate(dict.fromkeys(ordered))}


def reads_deals(config: HubConfig) -> bool:
    """Whether resolution reads the deals (and their owners) at all. Duplicates are copies in
    two different CRMs: with one enabled source, or detection off, there are none to find,
    and reading every deal into Python would cost seconds per 100,000 deals for nothing."""
    return config.duplicates.enabled and sum(s.enabled for s in config.sources) > 1


def resolve(conn: sa.Connection, config: HubConfig) -> Resolution:
    sources = [s.name for s in config.sources if s.enabled]
    records = read_accounts(conn, sources)
    resolved = resolve_accounts(records, config.accounts, source_rank(config))
    company_of = resolved.company_of()
    settings = config.duplicates
    deals = read_deals(conn, sources, settings.legacy_id_field) if reads_deals(config) else []
    duplicates = find_duplicates(
        deals, company_of, company_words(records, company_of), settings, sources
    )
    return Resolution(resolved.rows, duplicates, len(deals), resolved.warnings)


def write_resolution(conn: sa.Connection, config: HubConfig) -> list[str]:
    """Resolve and write both tables; returns warnings (override keys not found)."""
    result = resolve(conn, config)
    write_tables(conn, result.accounts, result.duplicates)
    for warning in result.warnings:
        log.warning(warning)
    return result.warnings
