"""Names in the warehouse: the hub's own schema ``hub_meta`` with its tables, and a source's
dataset ``src_<source>``."""

from __future__ import annotations

import sqlalchemy as sa

HUB_SCHEMA = "hub_meta"  # not "hub": DuckDB names the catalog of hub.duckdb "hub"

metadata = sa.MetaData(schema=HUB_SCHEMA)

hub_runs = sa.Table(
    "hub_runs",
    metadata,
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("command", sa.String, nullable=False),
    sa.Column("source_name", sa.String),
    sa.Column("crm", sa.String),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("rows_json", sa.Text),
    sa.Column("requests_json", sa.Text),
    sa.Column("requests_total", sa.Integer),
    sa.Column("retries", sa.Integer),
    sa.Column("throttled", sa.Integer),
    sa.Column("quarantined", sa.Integer),
    sa.Column("duration_s", sa.Double),
    sa.Column("warnings", sa.Text),
    sa.Column("error", sa.Text),
)
hub_canonical_stages = sa.Table(
    "hub_canonical_stages",
    metadata,
    sa.Column("stage_name", sa.String, nullable=False),
    sa.Column("display_order", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String),
    sa.Column("probability", sa.Double),
    sa.Column("stall_days", sa.Double),
)
hub_stage_map = sa.Table(
    "hub_stage_map",
    metadata,
    sa.Column("source_name", sa.String, nullable=False),
    sa.Column("pipeline", sa.String, nullable=False),
    sa.Column("native_stage", sa.String, nullable=False),
    sa.Column("canonical_stage", sa.String, nullable=False),
)
hub_fx_rates = sa.Table(
    "hub_fx_rates",
    metadata,
    sa.Column("currency", sa.String, nullable=False),
    sa.Column("rate_to_base", sa.Double, nullable=False),
)
hub_sources = sa.Table(
    "hub_sources",
    metadata,
    sa.Column("source_name", sa.String, nullable=False),
    sa.Column("crm", sa.String, nullable=False),
)
hub_quotas = sa.Table(
    "hub_quotas",
    metadata,
    sa.Column("owner_email", sa.String),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_type", sa.String, nullable=False),
    sa.Column("quota_base", sa.Double, nullable=False),
)
# Cross-CRM resolution (hub/resolve, docs/accounts.md), rewritten before every transform.
hub_account_resolution = sa.Table(
    "hub_account_resolution",
    metadata,
    sa.Column("account_key", sa.String, primary_key=True),
    sa.Column("company_key", sa.String, nullable=False),
    sa.Column("company_name", sa.String),
    sa.Column("rule", sa.String, nullable=False),  # domain, name, override, single
)
hub_deal_duplicates = sa.Table(
    "hub_deal_duplicates",
    metadata,
    sa.Column("deal_key", sa.String, primary_key=True),
    sa.Column("duplicate_of", sa.String, nullable=False),  # the copy the marts count
    sa.Column("rule", sa.String, nullable=False),  # legacy_id, account_name_dates
    sa.Column("score", sa.Double),
)

# One row per transform: written 'running' before dbt starts and finished after it, so a
# transform that was killed or failed half-way is visible to every reader of the marts
# (hub/warehouse/builds.py).
hub_transforms = sa.Table(
    "hub_transforms",
    metadata,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String, nullable=False),  # running, ok, tests_failed, failed, unchanged
    sa.Column("as_of", sa.String),
    sa.Column("selection", sa.String),  # dbt --select, when not every model
    sa.Column("models_built", sa.Integer),
    sa.Column("models_not_built", sa.Integer),
    sa.Column("built_bytes", sa.BigInteger),  # disk the built models took at the end
    sa.Column("holder", sa.String),  # command, pid, host
    sa.Column("error", sa.Text),
)


def dataset_name(source_name: str) -> str:
    return f"src_{source_name}"


def ensure_hub_tables(conn: sa.Connection) -> None:
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {HUB_SCHEMA}"))
    metadata.create_all(conn)


def has_table(conn: sa.Connection, schema: str, table: str) -> bool:
    return sa.inspect(conn).has_table(table, schema=schema)


def column_names(conn: sa.Connection, schema: str, table: str) -> list[str]:
    """A table's columns in order, from information_schema (SQLAlchemy's inspector asks
    DuckDB for PostgreSQL catalog tables it does not have)."""
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
        ),
        {"schema": schema, "table": table},
    )
    return [r[0] for r in rows]
