"""Deals files on PostgreSQL: hand dlt only the rows that changed since the last pull.

A deals export is re-read whole whenever it changed at all (a nightly full snapshot
changes about 1 % of its rows). On DuckDB the file is merged in SQL
(:mod:`connectors.csv.duck`); on PostgreSQL every row went through dlt: normalize wrote each
one to a CSV file, COPY staged it, and the merge (``hub.warehouse.pg_merge``) found most of
them equal to the stored rows and left them alone. Here the rows are compared before dlt
sees them: each row of ``deals`` and ``deal_accounts`` is hashed (DuckDB's 64-bit ``hash``
of every column, as Arrow holds it, cut to 63 bits), and a row whose hash equals the one
recorded for its key is not yielded. Every check of the file still runs over all of its
rows (duplicate ids, quarantine, the stages named, the full snapshot's deletions: those see
the rows before this filter).

The hashes live beside the rows they describe, in ``src_<source>._hub_row_hashes`` (table, a
63-bit hash of the key, the row's hash), under one rule: a recorded row hash is the hash of the
row the table holds for that key. Two keys with one key hash can only make a row look changed,
never unchanged (its row hash covers its key), and forgetting a key hash forgets both. The
recorded hashes are searched in a sorted array, so comparing costs one binary search per row,
not a join over every recorded hash per block. So the hashes of the rows a read is about to
send (changed, or no longer in the file) are deleted before dlt loads anything, in their own
transaction, and the new ones are written after the load, in the transaction of the other
post-load steps. A run that dies between the two leaves those keys without a hash: they are
sent again next time and the merge finds them equal. A hash that matches by accident (a changed
row with the same 63-bit hash as its previous version) would keep the old row; at 2^-63 per
changed row that is accepted. A hash computed by another DuckDB version that hashes differently
only makes every row look changed once.

The hashes are trusted only when they were recorded by the read the dlt state names (a marker
row holds that file's fingerprint): a hub without row hashes, an older version, may have loaded
other rows since, and then every row is sent once and the hashes recorded afresh, as on
``--full-refresh``. Not used on other warehouses, or outside a pull. Rows changed in the
warehouse by hand are not seen (as with the unchanged-file skip): ``hub pull --full-refresh``
re-reads them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

if TYPE_CHECKING:
    import sqlalchemy as sa

    from connectors.base import SourceContext
    from models.canonical import CanonicalRow

TABLE = "_hub_row_hashes"
MARKER = "_read"  # its row_hash: the fingerprint of the file read when the hashes were recorded
HASHED = ("deals", "deal_accounts")  # the tables of a deals file whose keys are unique
_KEY_SEPARATOR = "\x1f"  # between the parts of a composite key, before it is hashed


def for_file(ctx: SourceContext, option: str) -> RowHashes | None:
    """The row hashes of a ``deals`` file read on PostgreSQL in a pull; else None."""
    if option != "deals" or ctx.config.warehouse.kind != "postgres":
        return None
    if ctx.warehouse_connect is None:
        return None
    return RowHashes(ctx, compare=not ctx.full_refresh)


@dataclass
class _Seen:
    """One table's rows in this read: key hash, row hash, and whether the row is sent."""

    key_hashes: list[np.ndarray] = field(default_factory=list)
    row_hashes: list[np.ndarray] = field(default_factory=list)
    sent_masks: list[np.ndarray] = field(default_factory=list)
    matched: list[np.ndarray] = field(default_factory=list)  # stored positions found unchanged
    rows: int = 0
    sent: int = 0


@dataclass(frozen=True)
class _Stored:
    """The hashes recorded for one table, sorted by key hash (one search per block row)."""

    key_hashes: np.ndarray
    row_hashes: np.ndarray

    def same(self, key_hashes: np.ndarray, row_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether each (key, row) hash pair is recorded, and the positions of the recorded
        pairs found. Two keys with one key hash can only make a row look changed (its row
        hash, which covers the key, differs)."""
        if not len(self.key_hashes):
            return np.zeros(len(key_hashes), dtype=bool), np.zeros(0, dtype=np.intp)
        at = np.minimum(np.searchsorted(self.key_hashes, key_hashes), len(self.key_hashes) - 1)
        same = (self.key_hashes[at] == key_hashes) & (self.row_hashes[at] == row_hashes)
        return same, at[same]


class RowHashes:
    """Which rows of a deals file's tables changed since the last pull (see the module)."""

    def __init__(self, ctx: SourceContext, *, compare: bool) -> None:
        import duckdb

        self.ctx = ctx
        self.compare = compare  # False: send every row, record every hash afresh
        # The fingerprints of the file the last read took (dlt state) and of this one: the
        # hashes are trusted only if they were recorded by that read (MARKER).
        self.previous: str | None = None
        self.current: str | None = None
        self.dataset = f"src_{ctx.name}"
        self.con = duckdb.connect()
        self.seen: dict[str, _Seen] = {}
        self.stored: dict[str, _Stored] = {}

    def changed(self, model: type[CanonicalRow], table: pa.Table) -> pa.Table:
        """The rows of ``table`` (of ``model``) to send: those whose hash differs from the
        one recorded for their key, or that have none."""
        name = model.table_name
        if name not in HASHED:
            return table
        seen = self.seen.get(name)
        if seen is None:
            seen = self.seen[name] = _Seen()
            self.stored[name] = self._load_stored(name)
        rows = table.num_rows
        if rows == 0:
            return table
        columns = ", ".join(f'"{c}"' for c in table.column_names)
        key = _key_sql(model.primary_key)
        # A projection keeps the rows' order (as connectors.csv.seen relies on too).
        hashes = (
            self.con.from_arrow(table)
            .project(
                f"CAST(hash({key}) >> 1 AS BIGINT) AS key_hash, "
                f"CAST(hash({columns}) >> 1 AS BIGINT) AS row_hash"
            )
            .to_arrow_table()
        )
        key_hashes = hashes.column("key_hash").to_numpy()
        row_hashes = hashes.column("row_hash").to_numpy()
        same, matched = self.stored[name].same(key_hashes, row_hashes)
        sent = ~same
        n_sent = int(sent.sum())
        seen.key_hashes.append(key_hashes)
        seen.row_hashes.append(row_hashes)
        seen.sent_masks.append(sent)
        seen.matched.append(matched)
        seen.rows += rows
        seen.sent += n_sent
        return table if n_sent == rows else table.filter(pa.array(sent))

    def _load_stored(self, name: str) -> _Stored:
        """The hashes recorded for ``name`` (none when not comparing)."""
        key_hashes = row_hashes = np.zeros(0, dtype=np.int64)
        if self.compare:
            assert self.ctx.warehouse_connect is not None
            with self.ctx.warehouse_connect() as conn:
                if _exists(conn, self.dataset) and not self._recorded_by_last_read(conn):
                    self.compare = False
                if self.compare and _exists(conn, self.dataset):
                    stored = _copy_out(
                        conn,
                        f"SELECT key_hash, row_hash FROM {self.dataset}.{TABLE} "
                        f"WHERE table_name = '{name}'",
                    )
                    key_hashes = stored.column("key_hash").to_numpy()
                    row_hashes = stored.column("row_hash").to_numpy()
        order = np.argsort(key_hashes, kind="stable")
        return _Stored(key_hashes[order], row_hashes[order])

    def _recorded_by_last_read(self, conn: sa.Connection) -> bool:
        """Whether the hashes were recorded by the read the dlt state names: a hub without
        row hashes (an older version) may have loaded other rows since."""
        marker = conn.exec_driver_sql(
            f"SELECT row_hash FROM {self.dataset}.{TABLE} WHERE table_name = '{MARKER}'"
        ).all()
        return self.previous is not None and marker == [(_fingerprint_hash(self.previous),)]

    def finish(self, file_name: str) -> None:
        """The whole file was read: forget the hashes of the rows about to be sent or gone
        from the file (now, before the load), and record the new ones once the load is in."""
        if not self.seen:
            return
        forget: dict[str, np.ndarray] = {}
        record: dict[str, pa.Table] = {}
        for name, seen in self.seen.items():
            key_hashes = _concat(seen.key_hashes)
            row_hashes = _concat(seen.row_hashes)
            sent = np.concatenate(seen.sent_masks) if seen.sent_masks else np.zeros(0, bool)
            stored = self.stored[name]
            # Kept: the recorded rows this read found unchanged; every other goes. (Marked
            # by the positions the comparison found, not searched again: np.isin sorted
            # both sides, about 2 CPU-s per table of a million rows.)
            kept = np.zeros(len(stored.key_hashes), dtype=bool)
            kept[_concat(seen.matched)] = True
            forget[name] = stored.key_hashes[~kept]
            record[name] = pa.table({"key_hash": key_hashes[sent], "row_hash": row_hashes[sent]})
        self.con.close()
        deals = self.seen.get("deals")
        assert self.ctx.warehouse_connect is not None
        with self.ctx.warehouse_connect() as conn:
            if _exists(conn, self.dataset):
                for name, keys in forget.items():
                    if not self.compare:
                        conn.exec_driver_sql(
                            f"DELETE FROM {self.dataset}.{TABLE} WHERE table_name = '{name}'"
                        )
                    elif len(keys):
                        _delete_keys(conn, self.dataset, name, keys)
        if self.compare and deals is not None and deals.rows:
            self.ctx.notes.append(
                f"{file_name}: {deals.rows - deals.sent:,} of {deals.rows:,} deal row(s) "
                "unchanged since the last pull, not loaded again"
            )

        current, afresh = self.current, not self.compare

        def step(conn: sa.Connection, dataset: str) -> None:
            _record(conn, dataset, record, current, afresh=afresh)

        self.ctx.after_load(step)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _key_sql(primary_key: tuple[str, ...] | list[str]) -> str:
    if len(primary_key) == 1:
        return f'"{primary_key[0]}"'
    parts = ", ".join(f'CAST("{k}" AS VARCHAR)' for k in primary_key)
    return f"concat_ws(chr({ord(_KEY_SEPARATOR)}), {parts})"


def _exists(conn: sa.Connection, dataset: str) -> bool:
    import sqlalchemy as sa

    return bool(sa.inspect(conn).has_table(TABLE, schema=dataset))


def _cursor(conn: sa.Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _copy_out(conn: sa.Connection, select: str) -> pa.Table:
    """``select``'s (key_hash, row_hash) rows by COPY, as an Arrow table."""
    buffer = io.BytesIO()
    _cursor(conn).copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", buffer)
    buffer.seek(0)
    return pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=["key_hash", "row_hash"]),
        convert_options=pa_csv.ConvertOptions(
            column_types={"key_hash": pa.int64(), "row_hash": pa.int64()}
        ),
    )


def _copy_in(conn: sa.Connection, target: str, table: pa.Table) -> None:
    """``table``'s rows into ``target`` by COPY."""
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, write_options=pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    columns = ", ".join(table.column_names)
    _cursor(conn).copy_expert(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


def _delete_keys(conn: sa.Connection, dataset: str, name: str, keys: np.ndarray) -> None:
    conn.exec_driver_sql("CREATE TEMP TABLE hub_forget (key_hash bigint) ON COMMIT DROP")
    _copy_in(conn, "hub_forget", pa.table({"key_hash": keys}))
    conn.exec_driver_sql("ANALYZE hub_forget")
    conn.exec_driver_sql(
        f"DELETE FROM {dataset}.{TABLE} AS h USING hub_forget AS f "
        f"WHERE h.table_name = '{name}' AND h.key_hash = f.key_hash"
    )
    conn.exec_driver_sql("DROP TABLE hub_forget")


def _record(
    conn: sa.Connection,
    dataset: str,
    record: dict[str, pa.Table],
    fingerprint: str | None,
    *,
    afresh: bool,
) -> None:
    """After the load: the hashes of the rows it wrote (any left for those keys first
    go). Recorded afresh (a first pull, a full refresh, untrusted hashes), the tables'
    hashes are replaced whole, the rows first and the index after."""
    target = f"{dataset}.{TABLE}"
    made = not _exists(conn, dataset)
    if made:
        conn.exec_driver_sql(
            f"CREATE TABLE {target} "
            "(table_name text NOT NULL, key_hash bigint NOT NULL, row_hash bigint NOT NULL)"
        )
    elif afresh:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {dataset}.{TABLE}_key")
        names = ", ".join(f"'{name}'" for name in record)
        if names:
            conn.exec_driver_sql(f"DELETE FROM {target} WHERE table_name IN ({names})")
        made = True  # the tables' rows are gone: copy straight in
    for name, rows in record.items():
        if not rows.num_rows:
            continue
        named = rows.append_column("table_name", pa.array([name] * rows.num_rows, pa.string()))
        if made:
            _copy_in(conn, target, named)
            continue
        conn.exec_driver_sql(
            "CREATE TEMP TABLE hub_new_hashes (key_hash bigint, row_hash bigint) ON COMMIT DROP"
        )
        _copy_in(conn, "hub_new_hashes", rows)
        conn.exec_driver_sql("ANALYZE hub_new_hashes")
        conn.exec_driver_sql(
            f"DELETE FROM {target} AS h USING hub_new_hashes AS n "
            f"WHERE h.table_name = '{name}' AND h.key_hash = n.key_hash"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {target} (table_name, key_hash, row_hash) "
            f"SELECT '{name}', key_hash, row_hash FROM hub_new_hashes"
        )
        conn.exec_driver_sql("DROP TABLE hub_new_hashes")
    conn.exec_driver_sql(f"DELETE FROM {target} WHERE table_name = '{MARKER}'")
    if fingerprint is not None:
        conn.exec_driver_sql(
            f"INSERT INTO {target} (table_name, key_hash, row_hash) "
            f"VALUES ('{MARKER}', 0, {_fingerprint_hash(fingerprint)})"
        )
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_key ON {target} (table_name, key_hash)"
    )


def _fingerprint_hash(fingerprint: str) -> int:
    """A file's sha256 fingerprint as a bigint (its first 60 bits)."""
    return int(fingerprint[:15], 16)
