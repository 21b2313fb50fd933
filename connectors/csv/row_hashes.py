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

The hashes live beside the rows they describe, in ``src_<source>._hub_row_hashes`` (table,
key, hash), under one rule: a recorded hash is the hash of the row the table holds for that
key. So the hashes of the rows a read is about to send (changed, or no longer in the file)
are deleted before dlt loads anything, in their own transaction, and the new ones are
written after the load, in the transaction of the other post-load steps. A run that dies
between the two leaves those keys without a hash: they are sent again next time and the
merge finds them equal. A hash that matches by accident (a changed row with the same 63-bit
hash as its previous version) would keep the old row; at 2^-63 per changed row that is
accepted. A hash computed by another DuckDB version that hashes differently only makes
every row look changed once.

Not used on ``--full-refresh`` (every row is sent, and the hashes are recorded afresh), on
other warehouses, or outside a pull. Rows changed in the warehouse by hand are not seen (as
with the unchanged-file skip): ``hub pull --full-refresh`` re-reads them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

if TYPE_CHECKING:
    import sqlalchemy as sa

    from connectors.base import SourceContext
    from models.canonical import CanonicalRow

TABLE = "_hub_row_hashes"
HASHED = ("deals", "deal_accounts")  # the tables of a deals file whose keys are unique
_KEY_SEPARATOR = "\x1f"  # between the parts of a composite key (never in a key's text)


def for_file(ctx: SourceContext, option: str) -> RowHashes | None:
    """The row hashes of a ``deals`` file read on PostgreSQL in a pull; else None."""
    if option != "deals" or ctx.config.warehouse.kind != "postgres":
        return None
    if ctx.warehouse_connect is None:
        return None
    return RowHashes(ctx, compare=not ctx.full_refresh)


@dataclass
class _Seen:
    """One table's rows in this read: key, hash, and whether the row is sent."""

    parts: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    sent: int = 0


class RowHashes:
    """Which rows of a deals file's tables changed since the last pull (see the module)."""

    def __init__(self, ctx: SourceContext, *, compare: bool) -> None:
        import duckdb

        self.ctx = ctx
        self.compare = compare  # False: send every row, record every hash afresh
        self.dataset = f"src_{ctx.name}"
        self.con = duckdb.connect()
        self.seen: dict[str, _Seen] = {}
        self.stored_tables: set[str] = set()
        self._sent_deals: list[str] | None = None  # known once the file is read (finish)

    def changed(self, model: type[CanonicalRow], table: pa.Table) -> pa.Table:
        """The rows of ``table`` (of ``model``) to send: those whose hash differs from the
        one recorded for their key, or that have none."""
        name = model.table_name
        if name not in HASHED:
            return table
        seen = self.seen.get(name)
        if seen is None:
            seen = self.seen[name] = _Seen()
            self._load_stored(name)
        rows = table.num_rows
        if rows == 0:
            return table
        columns = ", ".join(f'"{c}"' for c in table.column_names)
        key = _key_sql(model.primary_key)
        stored = f'"stored_{name}"'
        self.con.register("hub_block", table.append_column("hub_row", pa.array(range(rows))))
        try:
            marks = self.con.sql(
                f"SELECT b.row_key, b.row_hash, s.row_hash IS DISTINCT FROM b.row_hash AS sent "
                f"FROM (SELECT hub_row, {key} AS row_key, "
                f"CAST(hash({columns}) >> 1 AS BIGINT) AS row_hash FROM hub_block) AS b "
                f"LEFT JOIN {stored} AS s ON s.row_key = b.row_key ORDER BY b.hub_row"
            ).to_arrow_table()
        finally:
            self.con.unregister("hub_block")
        marks = pa.table(
            {
                "row_key": marks.column("row_key"),
                "row_hash": marks.column("row_hash"),
                "sent": marks.column("sent"),
            }
        )
        seen.parts.append(marks)
        sent = marks.column("sent").combine_chunks()
        seen.rows += rows
        n_sent = int(pc.sum(sent).as_py() or 0)
        seen.sent += n_sent
        return table if n_sent == rows else table.filter(sent)

    def _load_stored(self, name: str) -> None:
        """The hashes recorded for ``name`` (none when not comparing) as a DuckDB table."""
        stored = pa.table(
            {"row_key": pa.array([], pa.string()), "row_hash": pa.array([], pa.int64())}
        )
        if self.compare:
            assert self.ctx.warehouse_connect is not None
            with self.ctx.warehouse_connect() as conn:
                if _exists(conn, self.dataset):
                    self.stored_tables.add(name)
                    stored = _copy_out(
                        conn,
                        f"SELECT row_key, row_hash FROM {self.dataset}.{TABLE} "
                        f"WHERE table_name = '{name}'",
                    )
        self.con.register(f"stored_{name}_arrow", stored)
        self.con.execute(f'CREATE TABLE "stored_{name}" AS SELECT * FROM "stored_{name}_arrow"')
        self.con.unregister(f"stored_{name}_arrow")

    def finish(self, file_name: str) -> None:
        """The whole file was read: forget the hashes of the rows about to be sent or gone
        from the file (now, before the load), and record the new ones once the load is in."""
        if not self.seen:
            return
        forget: dict[str, pa.Table] = {}
        record: dict[str, pa.Table] = {}
        for name, seen in self.seen.items():
            marks = pa.concat_tables(seen.parts) if seen.parts else None
            if marks is None:
                marks = pa.table(
                    {
                        "row_key": pa.array([], pa.string()),
                        "row_hash": pa.array([], pa.int64()),
                        "sent": pa.array([], pa.bool_()),
                    }
                )
            self.con.register("hub_marks", marks)
            forget[name] = self.con.sql(
                f'SELECT s.row_key FROM "stored_{name}" AS s LEFT JOIN hub_marks AS m '
                "ON m.row_key = s.row_key WHERE m.row_key IS NULL OR m.sent"
            ).to_arrow_table()
            self.con.unregister("hub_marks")
            record[name] = marks.filter(marks.column("sent")).select(["row_key", "row_hash"])
        if self.compare and "deals" in self.stored_tables and "deals" in record:
            self._sent_deals = record["deals"].column("row_key").to_pylist()
        self.con.close()
        assert self.ctx.warehouse_connect is not None
        with self.ctx.warehouse_connect() as conn:
            if _exists(conn, self.dataset):
                for name, keys in forget.items():
                    if not self.compare:
                        conn.exec_driver_sql(
                            f"DELETE FROM {self.dataset}.{TABLE} WHERE table_name = '{name}'"
                        )
                    elif keys.num_rows:
                        _delete_keys(conn, self.dataset, name, keys)
        deals = self.seen.get("deals")
        if self.compare and deals is not None and deals.rows:
            self.ctx.notes.append(
                f"{file_name}: {deals.rows - deals.sent:,} of {deals.rows:,} deal row(s) "
                "unchanged since the last pull, not loaded again"
            )

        def step(conn: sa.Connection, dataset: str) -> None:
            _record(conn, dataset, record)

        self.ctx.after_load(step)

    def sent_deals(self) -> list[str] | None:
        """The keys of the deals this read sent, when every other deal's row is known to be
        stored as the file has it (None: the first read with hashes, or a full refresh)."""
        return self._sent_deals


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
    """``select``'s (row_key, row_hash) rows by COPY, as an Arrow table."""
    buffer = io.BytesIO()
    _cursor(conn).copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", buffer)
    buffer.seek(0)
    return pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=["row_key", "row_hash"]),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={"row_key": pa.string(), "row_hash": pa.int64()},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _copy_in(conn: sa.Connection, target: str, table: pa.Table) -> None:
    """``table``'s rows into ``target`` by COPY."""
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, write_options=pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    columns = ", ".join(table.column_names)
    _cursor(conn).copy_expert(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


def _delete_keys(conn: sa.Connection, dataset: str, name: str, keys: pa.Table) -> None:
    conn.exec_driver_sql("CREATE TEMP TABLE hub_forget (row_key text) ON COMMIT DROP")
    _copy_in(conn, "hub_forget", keys)
    conn.exec_driver_sql(
        f"DELETE FROM {dataset}.{TABLE} AS h USING hub_forget AS f "
        f"WHERE h.table_name = '{name}' AND h.row_key = f.row_key"
    )
    conn.exec_driver_sql("DROP TABLE hub_forget")


def _record(conn: sa.Connection, dataset: str, record: dict[str, pa.Table]) -> None:
    """After the load: the hashes of the rows it wrote (any left for those keys first go)."""
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {dataset}.{TABLE} "
        "(table_name text NOT NULL, row_key text NOT NULL, row_hash bigint NOT NULL)"
    )
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_key ON {dataset}.{TABLE} (table_name, row_key)"
    )
    for name, rows in record.items():
        if not rows.num_rows:
            continue
        conn.exec_driver_sql(
            "CREATE TEMP TABLE hub_new_hashes (row_key text, row_hash bigint) ON COMMIT DROP"
        )
        _copy_in(conn, "hub_new_hashes", rows)
        conn.exec_driver_sql(
            f"DELETE FROM {dataset}.{TABLE} AS h USING hub_new_hashes AS n "
            f"WHERE h.table_name = '{name}' AND h.row_key = n.row_key"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {dataset}.{TABLE} (table_name, row_key, row_hash) "
            f"SELECT '{name}', row_key, row_hash FROM hub_new_hashes"
        )
        conn.exec_driver_sql("DROP TABLE hub_new_hashes")
