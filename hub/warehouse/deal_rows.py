"""Which deals' rows of ``int_deal_facts`` an incremental transform rebuilds.

``int_deal_facts`` holds ``int_deals_enriched`` but what moves continuously with ``as_of``
(``int_deals_enriched`` is a view adding that), per deal and incremental. A deal's row there
reads its whole ``stg_deals`` row, its ``int_deal_state`` row (rebuilt for the deals in
``hub_changed_deals``), the row of the deal it is listed as a duplicate of, and tables many
deals share: owners, accounts and their resolution, duplicates, pipelines, stages, FX rates,
field definitions. So the deals rebuilt there (``hub_changed_deal_rows``) are:

- every deal in ``hub_changed_deals`` (its per-deal state changed, or ``as_of`` crossed one
  of its instants: ``is_won``, ``is_open``, ``is_counted`` compare those with ``as_of``);
- every deal whose ``stg_deals`` row differs in any column from the last complete build's
  (a per-deal hash of the whole row, ``hub_deal_rows``), is new, or is gone;
- the copies listed as duplicates of any of those (``is_duplicate`` reads the survivor),
  and the other deals of an account no accounts table holds (its ``company_name`` is the
  first name its deals give it);
- every deal, when the shared tables' digest differs from the last complete build's, or
  when there is no snapshot to compare with: rare, and one rule is easier to trust.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.warehouse.changes import CHANGED, STAGING
from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import column_types, row_hash

ROWS = f"{HUB_SCHEMA}.hub_deal_rows"
NEXT_ROWS = f"{HUB_SCHEMA}.hub_deal_rows_next"
CHANGED_ROWS = f"{HUB_SCHEMA}.hub_changed_deal_rows"
SHARED = f"{HUB_SCHEMA}.hub_deal_rows_shared"
# What int_deal_facts (and int_deal_dimensions) read besides a deal's own rows: each
# source's tables of these names, and these hub_meta tables.
SHARED_SOURCE_TABLES = ("owners", "accounts", "pipelines", "stages", "field_definitions")
SHARED_HUB_TABLES = ("hub_fx_rates", "hub_account_resolution", "hub_deal_duplicates")
_DUPLICATES = f"{HUB_SCHEMA}.hub_deal_duplicates"


def snapshot(conn: sa.Connection) -> None:
    """``hub_deal_rows_next``: per deal, how many ``stg_deals`` rows and the sum of a hash of
    every column of each."""
    (columns,) = column_types(conn, [(STAGING, "stg_deals")]).values()
    hashed = row_hash(conn.dialect.name, "stg_deals", columns)
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {NEXT_ROWS}"))
    conn.execute(
        sa.text(
            f"CREATE TABLE {NEXT_ROWS} AS SELECT deal_key, count(*) AS n_rows, "
            f"sum({hashed}) AS sum_hash, min(account_key) AS account_key "
            f"FROM {STAGING}.stg_deals GROUP BY deal_key"
        )
    )


def write_changed(conn: sa.Connection, shared: str) -> int:
    """``hub_changed_deal_rows`` from ``hub_changed_deals``, this run's snapshot (taken
    first) and the shared tables' digest; returns how many deals."""
    everything = stored_shared(conn) != shared or not has_table(conn, HUB_SCHEMA, "hub_deal_rows")
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {CHANGED_ROWS}"))
    if everything:
        known = (
            f" UNION SELECT deal_key FROM {ROWS}"
            if has_table(conn, HUB_SCHEMA, "hub_deal_rows")
            else ""
        )
        conn.execute(
            sa.text(
                f"CREATE TABLE {CHANGED_ROWS} AS SELECT deal_key FROM {CHANGED} "
                f"UNION SELECT deal_key FROM {NEXT_ROWS}{known}"
            )
        )
    else:
        conn.execute(
            sa.text(
                f"CREATE TABLE {CHANGED_ROWS} AS SELECT deal_key FROM {CHANGED} UNION "
                f"SELECT coalesce(n.deal_key, o.deal_key) AS deal_key FROM {NEXT_ROWS} AS n "
                f"FULL OUTER JOIN {ROWS} AS o ON o.deal_key = n.deal_key "
                "WHERE n.deal_key IS NULL OR o.deal_key IS NULL OR n.n_rows <> o.n_rows "
                "OR n.sum_hash <> o.sum_hash"
            )
        )
        # company_name of an account no accounts table holds is the first name its deals
        # give it: the other deals of such an account read a changed deal's row too
        conn.execute(
            sa.text(
                f"INSERT INTO {CHANGED_ROWS} SELECT n.deal_key FROM {NEXT_ROWS} AS n "
                "WHERE n.account_key IN ("
                f"SELECT r.account_key FROM {NEXT_ROWS} AS r JOIN {CHANGED_ROWS} AS c "
                "ON c.deal_key = r.deal_key UNION "
                f"SELECT r.account_key FROM {ROWS} AS r JOIN {CHANGED_ROWS} AS c "
                "ON c.deal_key = r.deal_key) "
                f"AND n.account_key NOT IN (SELECT account_key FROM {STAGING}.stg_accounts "
                "WHERE account_key IS NOT NULL) "
                f"AND n.deal_key NOT IN (SELECT deal_key FROM {CHANGED_ROWS})"
            )
        )
        if has_table(conn, HUB_SCHEMA, "hub_deal_duplicates"):
            conn.execute(
                sa.text(
                    f"INSERT INTO {CHANGED_ROWS} SELECT DISTINCT copies.deal_key "
                    f"FROM {_DUPLICATES} AS copies WHERE copies.duplicate_of IN "
                    f"(SELECT deal_key FROM {CHANGED_ROWS}) AND copies.deal_key NOT IN "
                    f"(SELECT deal_key FROM {CHANGED_ROWS})"
                )
            )
    return int(conn.execute(sa.text(f"SELECT count(*) FROM {CHANGED_ROWS}")).scalar() or 0)


def stored_shared(conn: sa.Connection) -> str | None:
    if not has_table(conn, HUB_SCHEMA, "hub_deal_rows_shared"):
        return None
    return conn.execute(sa.text(f"SELECT digest FROM {SHARED}")).scalar()


def keep(conn: sa.Connection, shared: str) -> None:
    """The build ended complete: this run's snapshot and shared digest are the next run's
    to compare with."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {ROWS}"))
    conn.execute(sa.text(f"ALTER TABLE {NEXT_ROWS} RENAME TO hub_deal_rows"))
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {SHARED}"))
    conn.execute(sa.text(f"CREATE TABLE {SHARED} (digest varchar)"))
    conn.execute(sa.text(f"INSERT INTO {SHARED} (digest) VALUES (:d)"), {"d": shared})
