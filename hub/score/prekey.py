"""The training key: a cheap hash of everything the training table is built from.

The training table (``hub.score.store.training_table``) holds monthly snapshots, taken
before the training cut (the UTC day start of ``as_of``), of the deals closed by the cut;
every cross-deal figure in a snapshot at T (stage norms, median amounts, the rep's and the
account's record) reads only deals closed by T (``hub.score.features.closed_by``). So it is
a function of the deals closed by the cut alone: their rows in ``int_deals_enriched``, their
spells, their activities before the cut and their dimension values. For each, one SQL
aggregate (row count and the sum of a hash of every column read) summarises it; the key
hashes those with the feature version, the dimensions and the cut.

Deals still open, new today, closed or deleted today are outside that set, so an hourly
sync whose changes are only theirs keeps the key, and the cached model is reused without
building the table. Only a new day (a new cut) or an edit of a deal closed before it moves
the key. What moves with ``as_of`` alone is left out: the days of a spell still open (the
view counts them up to ``as_of``). A closed spell's days are not hashed either: the view
computes them from its ``entered_at`` and ``exited_at`` alone (``hub_days_between``), both
hashed, and computing them for every spell was a third of the spells' hashing on
PostgreSQL (a change of that macro's meaning must bump ``FEATURE_VERSION``). A column the
feature query starts to read must be added here, or a stale model could be reused. DuckDB
and PostgreSQL only; elsewhere there is no key and the training table is always built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

from hub.score.features import STAGING

SUPPORTED_DIALECTS = ("duckdb", "postgresql")

# The deals the training table is built from (snapshot_sql's deals, closed by the cut).
TRAINING_DEALS = (
    "is_counted and not coalesce(is_deleted, false) and created_at is not null "
    "and status in ('won', 'lost') and closed_at <= :cut"
)
_OF_TRAINING_DEALS = (
    f"deal_key in (select deal_key from {STAGING}.int_deals_enriched where {TRAINING_DEALS})"
)

# (relation, hashed expressions, filter): what snapshot_sql reads for the training rows.
_INPUTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "int_deals_enriched",
        ("deal_key", "source_name", "crm", "source_deal_id", "pipeline_key", "rep_key",
         "company_key", "amount_base", "created_at", "closed_at", "status"),
        TRAINING_DEALS,
    ),
    (
        "int_deal_stage_spells",
        ("deal_key", "spell_index", "canonical_stage", "is_open_stage", "is_backward",
         "entered_at", "exited_at"),
        _OF_TRAINING_DEALS,
    ),
    (
        "stg_activities",
        ("deal_key", "activity_type", "occurred_at"),
        f"not is_deleted and occurred_at < :cut and {_OF_TRAINING_DEALS}",
    ),
)  # fmt: skip
_DIMENSIONS = (
    "int_deal_dimensions",
    ("deal_key", "dimension", "dimension_value"),
    _OF_TRAINING_DEALS,
)

# PostgreSQL's memory for the key's statement: each relation's semi-join hashes every
# training deal's key (about 100 bytes a deal), and at the default 4 MB (8 MB for a hash)
# it split into batches at 300k deals and wrote the probe side, every spell, activity and
# dimension row, to temporary files (46k pages; 21 % of the key's server CPU). 128 MB
# (256 MB for a hash) holds about 2.5M closed deals; the key has no sorts to grow with it.
KEY_WORK_MEM = "128MB"


def _row_hash(dialect: str, tag: str, columns: Sequence[str]) -> str:
    if dialect == "duckdb":
        return f"hash('{tag}', {', '.join(columns)})"
    # A 64-bit hash of the row, from each column type's own hash function: no text. The
    # hash of row(...)::text it replaced spent most of the key's time printing values
    # (timestamps above all): 2.1-2.6 s against 1.4-1.6 s for 500k activities (0.7 s of
    # that the scan), 2.1-3.0 s against 1.0-1.2 s for 339k spells, under load 16.
    # hash_record_extended is PostgreSQL 14 and later (CI runs 15).
    return f"hash_record_extended(row('{tag}'::text, {', '.join(columns)}), 0)"


def training_key(
    conn: sa.Connection, cut: datetime, salt: str, with_dimensions: bool
) -> str | None:
    """The key of the training table at the (naive UTC) ``cut``, under ``salt`` (feature
    version, dimensions); None where the warehouse's SQL is not known here."""
    dialect = conn.dialect.name
    if dialect not in SUPPORTED_DIALECTS:
        return None
    inputs = [*_INPUTS, _DIMENSIONS] if with_dimensions else list(_INPUTS)
    parts = [
        f"select '{name}' as relation, count(*) as n, "
        f"cast(coalesce(sum({_row_hash(dialect, name, columns)}), 0) as varchar) as h "
        f"from {STAGING}.{name} where {where}"
        for name, columns, where in inputs
    ]
    query = sa.text(" union all ".join(parts) + " order by relation").bindparams(
        sa.bindparam("cut", type_=sa.DateTime())
    )
    with work_mem_at_least(conn, KEY_WORK_MEM):
        rows = conn.execute(query, {"cut": cut}).all()
    digest = hashlib.sha256(f"{salt}|cut={cut.isoformat()}".encode())
    for relation, n, total in rows:
        digest.update(f"|{relation}:{n}:{total}".encode())
    return key_prefix(cut) + digest.hexdigest()[:32]


@contextmanager
def work_mem_at_least(conn: sa.Connection, size: str) -> Iterator[None]:
    """On PostgreSQL, ``work_mem`` raised to ``size`` (never lowered) for the statements of
    the block, then set back: a transaction-local setting, so the training query that may
    follow on the same connection keeps the server's own (its sorts were measured no faster
    with more, and there are many of them)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    before: str = conn.execute(sa.text("select current_setting('work_mem')")).scalar_one()
    conn.execute(
        sa.text(
            "select set_config('work_mem', greatest(pg_size_bytes(current_setting('work_mem')), "
            "pg_size_bytes(:size)) / 1024 || 'kB', true)"
        ),
        {"size": size},
    )
    yield  # on an error the transaction ends, and the setting with it: nothing to restore
    conn.execute(sa.text("select set_config('work_mem', :before, true)"), {"before": before})


def key_prefix(cut: datetime) -> str:
    """What every key of the training cut ``cut`` starts with: a run finds out in one
    look-up whether any model was recorded for its cut (none: the key cannot match, so the
    training table is built without waiting for it)."""
    return f"{cut:%Y-%m-%d}/"


__all__ = ["KEY_WORK_MEM", "TRAINING_DEALS", "key_prefix", "training_key", "work_mem_at_least"]
