"""Resolution's results kept while its inputs stay the same.

Account resolution and duplicate detection read every source's accounts and deals into
Python (seconds per 100,000 deals), and run before every transform. Their output depends only
on the tables they read (``READ``: each source's accounts, and its deals and owners where
duplicate detection reads them, :func:`hub.resolve.reads_deals`) and hub.yml, so
``prepare_warehouse`` keeps a digest of those (row count and sum of row hashes of each such
table, and hub.yml as loaded but its as_of) in
``hub_meta.hub_resolution_state``, written in the transaction that writes the results: when
the digest is unchanged, the tables already hold what resolving again would write, and its
warnings are the ones stored. A sync that only brought activities, stage history or
observations therefore resolves nothing again, nor, with one source, a sync that changed
deals: the digest then leaves out the deals it would otherwise hash (a million rows).
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from hub.incremental import table_sums
from hub.resolve import reads_deals
from hub.warehouse.meta import HUB_SCHEMA, has_table
from models.config import HubConfig

STATE = f"{HUB_SCHEMA}.hub_resolution_state"
OUTPUTS = ("hub_account_resolution", "hub_deal_duplicates")
# The source tables hub.resolve.records reads: a table it starts to read must be added here.
READ = ("accounts", "deals", "owners")
ACCOUNTS_ONLY = ("accounts",)  # what it reads when it reads no deals (reads_deals)


def inputs_digest(conn: sa.Connection, config: HubConfig) -> str:
    sources = [s.name for s in config.sources if s.enabled]
    read = READ if reads_deals(config) else ACCOUNTS_ONLY
    return hashlib.sha256(
        repr(
            [config.model_dump_json(exclude={"as_of"}), table_sums(conn, sources, only=read)]
        ).encode()
    ).hexdigest()


def kept_warnings(conn: sa.Connection, digest: str) -> list[str] | None:
    """The stored warnings when the stored results match ``digest``, else None."""
    if conn.dialect.name not in ("duckdb", "postgresql"):
        return None
    if not has_table(conn, HUB_SCHEMA, "hub_resolution_state"):
        return None
    if not all(has_table(conn, HUB_SCHEMA, t) for t in OUTPUTS):
        return None
    row = conn.execute(sa.text(f"SELECT digest, warnings FROM {STATE}")).first()
    return json.loads(row[1]) if row and row[0] == digest else None


def keep(conn: sa.Connection, digest: str, warnings: list[str]) -> None:
    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {STATE} (digest varchar, warnings varchar)"))
    conn.execute(sa.text(f"DELETE FROM {STATE}"))
    conn.execute(
        sa.text(f"INSERT INTO {STATE} (digest, warnings) VALUES (:d, :w)"),
        {"d": digest, "w": json.dumps(warnings)},
    )
