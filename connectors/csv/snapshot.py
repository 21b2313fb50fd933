"""Full-snapshot deals files: a deal a full export no longer holds was deleted in the CRM.

``deals.full_snapshot: true`` declares the deals file a complete export of the source's
deals (many teams export their whole pipeline every night). After a load that read the
file, every deal the warehouse holds as live but the file lacks gets ``is_deleted = true``;
nothing else in its row changes, and the metric marts stop counting it. A deal that comes
back in a later export is merged again from its row, which says ``is_deleted = false``.
Off by default: a filtered export ("my team only") would otherwise delete everything else.

- An unchanged file is skipped by its fingerprint; then nothing is read and nothing marked.
- A row that was skipped whole but names its deal id (an unknown status, say) still shows
  the deal exists: that deal is left as it is.
- A file that yields no deal row at all (a header only, every row broken) marks nothing and
  says so: an empty export tells more about the export than about the CRM.
- A run whose load fails marks nothing. The next run finishes that load (hub.pull's
  ``finish_interrupted``) but skips the now unchanged file, so the marking waits for the
  next changed export: late, never wrong.

A file DuckDB merged (:mod:`connectors.csv.duck`) is marked in the merge's transaction
instead (:func:`mark_missing_in_duck`): its rows are a table there, every one of them
loaded (DuckDB takes only files without a skipped row), so one anti-join marks the rest.

Otherwise the file's ids are known here, not in the warehouse: dlt loads the Arrow tables this
connector yields without a ``_dlt_load_id`` column, so no column tells this load's rows
from older ones. The step (run by ``hub pull`` after the load, see
:meth:`connectors.base.SourceContext.after_load`) reads the live deal ids back, one column,
and marks the missing ones by key in batches: plain SQL, the same on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Container, Hashable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from connectors.base import SourceContext
from connectors.csv.seen import SeenIds

_BATCH = 1000  # keys per UPDATE ... IN (...)


def after_full_snapshot(
    ctx: SourceContext, file_name: str, loaded: Collection[Hashable], skipped: Container[Hashable]
) -> None:
    """The deals file ``file_name`` was read in full: once it is loaded, mark deleted the
    deals of the source whose id is neither ``loaded`` nor ``skipped`` (rows the file holds
    that were quarantined whole)."""
    if not loaded:
        ctx.stats.warnings.append(
            f"{file_name}: full_snapshot: no deal was marked deleted, because not one deal row "
            "of this export could be loaded (it has a header only, or every row was skipped: "
            f"'hub status --quarantine {ctx.name}'); check the export"
        )
        return

    def step(conn: sa.Connection, dataset: str) -> None:
        marked, live = mark_missing_deleted(conn, dataset, ctx.name, loaded, skipped)
        if marked:
            ctx.stats.warnings.append(_marked(file_name, marked, live))

    ctx.after_load(step)


def _marked(file_name: str, marked: int, live: int) -> str:
    return (
        f"{file_name}: full_snapshot: {marked:,} of {live:,} live deal(s) are missing "
        "from this export and were marked deleted"
    )


def mark_missing_deleted(
    conn: sa.Connection, dataset: str, source_name: str, *present: Container[Hashable]
) -> tuple[int, int]:
    """Set ``is_deleted`` on the live deals of ``source_name`` whose id is in none of
    ``present``; returns (deals marked, live deals before)."""
    keys, ids = _live(conn, dataset, source_name)
    missing = _missing(keys, ids, present)
    update = sa.text(
        f"UPDATE {dataset}.deals SET is_deleted = true "
        "WHERE source_name = :source AND deal_key IN :keys"
    ).bindparams(sa.bindparam("keys", expanding=True))
    for start in range(0, len(missing), _BATCH):
        conn.execute(update, {"source": source_name, "keys": missing[start : start + _BATCH]})
    return len(missing), len(keys)


def _live(conn: sa.Connection, dataset: str, source_name: str) -> tuple[pa.Array, pa.Array]:
    """(deal_key, source_deal_id) of the source's live deals, as two Arrow columns: by
    COPY on PostgreSQL (a result row object per deal cost seconds at 300,000 deals)."""
    select = (
        f"SELECT deal_key, source_deal_id FROM {dataset}.deals "
        "WHERE source_name = :source AND NOT coalesce(is_deleted, false)"
    )
    if conn.dialect.name != "postgresql":
        rows = conn.execute(sa.text(select), {"source": source_name}).all()
        return (
            pa.array([key for key, _ in rows], pa.string()),
            pa.array([deal_id for _, deal_id in rows], pa.string()),
        )
    literal = "'" + source_name.replace("'", "''") + "'"
    buffer = io.BytesIO()
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.copy_expert(
        f"COPY ({select.replace(':source', literal)}) TO STDOUT WITH (FORMAT csv)", buffer
    )
    buffer.seek(0)
    table = pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=["deal_key", "source_deal_id"]),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={"deal_key": pa.string(), "source_deal_id": pa.string()},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    return (
        table.column("deal_key").combine_chunks(),
        table.column("source_deal_id").combine_chunks(),
    )


def _missing(keys: pa.Array, ids: pa.Array, present: tuple[Container[Hashable], ...]) -> list[str]:
    """The ``keys`` of the live deals whose id (``ids``) is in none of ``present``: one
    vectorised membership test per container, not a lookup per deal (300,000 lookups
    through the duplicate rule's id index cost seconds after every changed pull)."""
    found = pa.array([False] * len(keys), pa.bool_())
    for container in present:
        if isinstance(container, SeenIds):
            values = container.column()
        else:
            values = pa.array([str(v) for v in container], pa.string())  # type: ignore[attr-defined]
        found = pc.or_(found, pc.is_in(ids, value_set=values))
    return [str(key) for key in keys.filter(pc.invert(found)).to_pylist()]


def mark_missing_in_duck(con: Any, ctx: SourceContext, file_name: str, staged: str) -> None:
    """:func:`after_full_snapshot` for a file DuckDB merged: ``staged`` (its rows) is a
    table on ``con``, in the merge's open transaction; the same marks and message."""
    deals = f'"src_{ctx.name}"."deals"'
    live_deals = f"{deals} AS d WHERE d.source_name = ? AND NOT coalesce(d.is_deleted, false)"
    (live,) = con.execute(f"SELECT count(*) FROM {live_deals}", [ctx.name]).fetchone()
    (marked,) = con.execute(
        f"UPDATE {deals} SET is_deleted = true WHERE deal_key IN (SELECT d.deal_key FROM "
        f"{live_deals} AND NOT EXISTS (SELECT 1 FROM {staged} AS s "
        "WHERE s.source_deal_id = d.source_deal_id))",
        [ctx.name],
    ).fetchone()
    if marked:
        ctx.stats.warnings.append(_marked(file_name, marked, live))
