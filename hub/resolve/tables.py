"""The two result tables, ``hub_meta.hub_account_resolution`` and
``hub_meta.hub_deal_duplicates``, recreated on every write like the other hub.yml-derived
tables (hub.warehouse.config_tables), so dbt always reads the current rules' answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import sqlalchemy as sa

from hub.resolve.accounts import AccountResolution
from hub.resolve.duplicates import DealDuplicate
from hub.warehouse import meta

_CHUNK = 10_000


def write_tables(
    conn: sa.Connection,
    accounts: Sequence[AccountResolution],
    duplicates: Sequence[DealDuplicate],
) -> None:
    meta.ensure_hub_tables(conn)
    contents: list[tuple[sa.Table, Sequence[AccountResolution] | Sequence[DealDuplicate]]] = [
        (meta.hub_account_resolution, accounts),
        (meta.hub_deal_duplicates, duplicates),
    ]
    for table, rows in contents:
        table.drop(conn, checkfirst=True)
        table.create(conn)
        for start in range(0, len(rows), _CHUNK):
            conn.execute(table.insert(), [asdict(r) for r in rows[start : start + _CHUNK]])
