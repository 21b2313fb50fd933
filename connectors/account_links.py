"""The after-load rule for sources whose deals name one account each (CSV, Salesforce):
``deal_accounts`` mirrors ``deals.account_key``.

Links merge on (deal_key, account_key), so a deal re-read with another account, or with
none, would keep its old link. After each load the source's links that no longer match the
deal's ``account_key`` are deleted, so a deal keeps exactly one primary account and a
cleared one keeps none. (HubSpot and Pipedrive replace a deal's links through dlt's merge
key and hard-delete column instead: HubSpot deals carry several companies.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from connectors.base import SourceContext

KEY_BATCH = 10_000  # deal keys per DELETE when only some deals changed


def prune_stale_links(
    ctx: SourceContext, changed: Callable[[], Sequence[str] | None] | None = None
) -> None:
    """Register the clean-up to run once this pull's loads are in the warehouse.
    ``changed``, asked then, may name the only deals whose rows this pull wrote (None: any
    may have changed): every other deal's links were pruned when its row was last written."""

    def step(conn: sa.Connection, dataset: str) -> None:
        if not sa.inspect(conn).has_table("deal_accounts", schema=dataset):
            return
        keys = changed() if changed is not None else None
        if keys is not None and not keys:
            return
        only = "" if keys is None else "AND deal_key IN :keys "
        statement = sa.text(
            f"DELETE FROM {dataset}.deal_accounts WHERE source_name = :source {only}"
            f"AND NOT EXISTS (SELECT 1 FROM {dataset}.deals d "
            "WHERE d.deal_key = deal_accounts.deal_key "
            "AND d.account_key = deal_accounts.account_key)"
        )
        if keys is None:
            conn.execute(statement, {"source": ctx.name})
            return
        statement = statement.bindparams(sa.bindparam("keys", expanding=True))
        for start in range(0, len(keys), KEY_BATCH):
            conn.execute(
                statement, {"source": ctx.name, "keys": list(keys[start : start + KEY_BATCH])}
            )

    ctx.after_load(step)
