"""The after-load rule for sources whose deals name one account each (CSV, Salesforce):
``deal_accounts`` mirrors ``deals.account_key``.

Links merge on (deal_key, account_key), so a deal re-read with another account, or with
none, would keep its old link. After each load the source's links that no longer match the
deal's ``account_key`` are deleted, so a deal keeps exactly one primary account and a
cleared one keeps none. (HubSpot and Pipedrive replace a deal's links through dlt's merge
key and hard-delete column instead: HubSpot deals carry several companies.)
"""

from __future__ import annotations

import sqlalchemy as sa

from connectors.base import SourceContext


def prune_stale_links(ctx: SourceContext) -> None:
    """Register the clean-up to run once this pull's loads are in the warehouse."""

    def step(conn: sa.Connection, dataset: str) -> None:
        if not sa.inspect(conn).has_table("deal_accounts", schema=dataset):
            return
        conn.execute(
            sa.text(
                f"DELETE FROM {dataset}.deal_accounts WHERE source_name = :source "
                f"AND NOT EXISTS (SELECT 1 FROM {dataset}.deals d "
                "WHERE d.deal_key = deal_accounts.deal_key "
                "AND d.account_key = deal_accounts.account_key)"
            ),
            {"source": ctx.name},
        )

    ctx.after_load(step)
