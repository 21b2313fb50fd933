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
  (a per-deal hash of the whole row, ``row_sum`` of :mod:`hub.warehouse.changes`'
  snapshot, taken in the same pass as the rest of it), is new, or is gone;
- the copies listed as duplicates of any of those (``is_duplicate`` reads the survivor),
  and the other deals of an account no accounts table holds (its ``company_name`` is the
  first name its deals give it);
- every deal, when the shared tables' digest differs from the last complete build's, or
  when there is no snapshot to compare with: rare, and one rule is easier to trust.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.warehouse.changes import CHANGED, INPUTS, NEXT_INPUTS, STAGING
from hub.warehouse.meta import HUB_SCHEMA, has_table

CHANGED_ROWS = f"{HUB_SCHEMA}.hub_changed_deal_rows"
SHARED = f"{HUB_SCHEMA}.hub_deal_rows_shared"
# What int_deal_facts (and int_deal_dimensions) read besides a deal's own rows: each
# source's tables of these names, and these hub_meta tables.
SHARED_SOURCE_TABLES = ("owners", "accounts", "pipelines", "stages", "field_definitions")
SHARED_HUB_TABLES = ("hub_fx_rates", "hub_account_resolution", "hub_deal_duplicates")
_DUPLICATES = f"{HUB_SCHEMA}.hub_deal_duplicates"


def write_changed(conn: sa.Connection, shared: str) -> int:
    """``hub_changed_deal_rows`` from ``hub_changed_deals``, this run's snapshot (taken first,
    with its ``row_changed`` flags) and the shared tables' digest; returns how many deals."""
    everything = stored_shared(conn) != shared or not has_table(conn, HUB_SCHEMA, "hub_deal_inputs")
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {CHANGED_ROWS}"))
    if everything:  # the snapshot's rows: this run's deals and the kept ones
        conn.execute(
            sa.text(
                f"CREATE TABLE {CHANGED_ROWS} AS SELECT deal_key FROM {CHANGED} "
                f"UNION SELECT deal_key FROM {NEXT_INPUTS} WHERE n_deals > 0 OR row_changed = 1"
            )
        )
    else:
        conn.execute(
            sa.text(
                f"CREATE TABLE {CHANGED_ROWS} AS SELECT deal_key FROM {CHANGED} "
                f"UNION SELECT deal_key FROM {NEXT_INPUTS} WHERE row_changed = 1"
            )
        )
        # company_name of an account no accounts table holds is the first name its deals
        # give it: the other deals of such an account read a changed deal's row too
        conn.execute(
            sa.text(
                f"INSERT INTO {CHANGED_ROWS} SELECT n.deal_key FROM {NEXT_INPUTS} AS n "
                "WHERE n.account_key IN ("
                f"SELECT r.account_key FROM {NEXT_INPUTS} AS r JOIN {CHANGED_ROWS} AS c "
                "ON c.deal_key = r.deal_key UNION "
                f"SELECT r.account_key FROM {INPUTS} AS r JOIN {CHANGED_ROWS} AS c "
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
    """The build ended complete: its shared digest is the next run's to compare with (the
    row hashes are kept with the deals part, :func:`changes.keep_snapshot`)."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {SHARED}"))
    conn.execute(sa.text(f"CREATE TABLE {SHARED} (digest varchar)"))
    conn.execute(sa.text(f"INSERT INTO {SHARED} (digest) VALUES (:d)"), {"d": shared})
