"""Checks shared by the tests that keep a stored resolution across runs."""

from __future__ import annotations

import sqlalchemy as sa

from hub.resolve import resolve
from hub.warehouse import Warehouse
from models.config import HubConfig


def assert_resolution_current(config: HubConfig) -> None:
    """The stored resolution tables (kept while their inputs stay the same) are what
    resolving the warehouse's data now gives."""
    with Warehouse(config).connect() as conn:
        expected = resolve(conn, config)
        companies = conn.execute(
            sa.text("SELECT account_key, company_key FROM hub_meta.hub_account_resolution")
        ).all()
        duplicates = conn.execute(
            sa.text("SELECT deal_key, duplicate_of FROM hub_meta.hub_deal_duplicates")
        ).all()
    assert sorted(map(tuple, companies)) == sorted(
        (a.account_key, a.company_key) for a in expected.accounts
    )
    assert sorted(map(tuple, duplicates)) == sorted(
        (d.deal_key, d.duplicate_of) for d in expected.duplicates
    )
