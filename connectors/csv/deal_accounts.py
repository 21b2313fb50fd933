"""Deals linked to their account: one ``deal_accounts`` row per deal that names an account.

A deals file names one account per deal (``columns.account_id``), so each link is the
primary one and ``deals.account_key`` repeats it. The key is made from the id alone
(:func:`models.canonical.make_key`): a deal naming an account the accounts file lacks still
links to it, and the link resolves once an accounts file holds that id. A deal with only
an account name is not linked, since a name is not an identity (two companies can share
one); an export that identifies companies by name maps that column as ``account_id`` in
both files.

A re-export that moves a deal to another account (or drops its account) would leave the
old link behind, merged on (deal_key, account_key); after each load of the file, the links
of the source's deals that no longer match ``deals.account_key`` are deleted
(``connectors.account_links.prune_stale_links``), so a deal keeps exactly one primary account.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.csv.driver import assemble
from connectors.csv.rows import ArrowBatch
from models.canonical import DealAccount


class DealLinks:
    """The deal_accounts rows of one deals file, from rows and from clean blocks."""

    def __init__(self, source: dict[str, str]) -> None:
        self.source = source
        self.batch = ArrowBatch(DealAccount)

    def row(self, values: dict[str, Any]) -> None:
        if values.get("account_key"):
            self.batch.append(self._link(values["deal_key"], values["account_key"]))

    def block(self, values: dict[str, Any]) -> pa.Table | None:
        account_keys = values.get("account_key")
        if account_keys is None or account_keys.null_count == len(account_keys):
            return None
        named = pc.is_valid(account_keys)
        deal_keys, account_keys = values["deal_key"].filter(named), account_keys.filter(named)
        return assemble(DealAccount, len(deal_keys), self._link(deal_keys, account_keys))

    def flush(self) -> pa.Table | None:
        return self.batch.flush()

    def _link(self, deal_key: Any, account_key: Any) -> dict[str, Any]:
        return {
            **self.source,
            "deal_key": deal_key,
            "account_key": account_key,
            "is_primary": True,
            "label": None,
        }
