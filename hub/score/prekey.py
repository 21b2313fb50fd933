"""A cheap key of everything the score's training table is computed from, so an unchanged
warehouse reuses its fitted model without rebuilding that table.

The training table (hub/score/features.py) reads four dbt relations in ``hub_staging``. For
each, one SQL aggregate (row count and the sum of a hash of every column the feature query
reads) summarises its content; the key hashes those with the training cut, the feature
version and the dimensions. Two warehouses whose key matches hold the same inputs, so they
would build the same training table and fit the same model. The relations already carry the
hub's FX conversion (``amount_base``), the stage mapping (``canonical_stage``) and the
current amount, rep, account and dimensions, which is why they are hashed rather than the
incremental transform's ``hub_meta.hub_deal_inputs`` (that snapshot leaves those out).

What moves with ``as_of`` alone is left out: the days of a spell still open (the view counts
them up to ``as_of``; the feature query reads days of closed spells only). A column the
feature query starts to read must be added here, or a stale model could be reused.
DuckDB and PostgreSQL only; elsewhere there is no key and the training table is always built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa

from hub.score.features import STAGING

SUPPORTED_DIALECTS = ("duckdb", "postgresql")

# (relation, hashed expressions, filter): the columns snapshot_sql and first_created read.
_INPUTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "int_deals_enriched",
        ("deal_key", "source_name", "crm", "source_deal_id", "pipeline_key", "rep_key",
         "company_key", "amount_base", "created_at", "closed_at", "status", "is_counted",
         "is_deleted"),
        "",
    ),
    (
        "int_deal_stage_spells",
        ("deal_key", "spell_index", "canonical_stage", "is_open_stage", "is_backward",
         "entered_at", "exited_at", "case when exited_at is null then null else days end"),
        "",
    ),
    ("stg_activities", ("deal_key", "activity_type", "occurred_at", "is_deleted"), ""),
)  # fmt: skip
_DIMENSIONS = ("int_deal_dimensions", ("deal_key", "dimension", "dimension_value"), "")


def _row_hash(dialect: str, tag: str, columns: Sequence[str]) -> str:
    if dialect == "duckdb":
        return f"hash('{tag}', {', '.join(columns)})"
    # row(...)::text keeps NULLs apart from values; a 64-bit hash of that text.
    return f"hashtextextended(row('{tag}', {', '.join(columns)})::text, 0)"


def input_key(conn: sa.Connection, salt: str, with_dimensions: bool) -> str | None:
    """The key of the training inputs under ``salt`` (version, dimensions, training cut);
    None where the warehouse's SQL is not known here."""
    dialect = conn.dialect.name
    if dialect not in SUPPORTED_DIALECTS:
        return None
    inputs = [*_INPUTS, _DIMENSIONS] if with_dimensions else list(_INPUTS)
    parts = [
        f"select '{name}' as relation, count(*) as n, "
        f"cast(coalesce(sum({_row_hash(dialect, name, columns)}), 0) as varchar) as h "
        f"from {STAGING}.{name}" + (f" where {where}" if where else "")
        for name, columns, where in inputs
    ]
    rows = conn.execute(sa.text(" union all ".join(parts) + " order by relation")).all()
    digest = hashlib.sha256(salt.encode())
    for relation, n, total in rows:
        digest.update(f"|{relation}:{n}:{total}".encode())
    return digest.hexdigest()[:32]


__all__ = ["input_key"]
