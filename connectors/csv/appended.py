"""Files that only grew since the last pull: read from where the last read stopped.

A CSV export has no "changed since", so a changed file is read again whole. Export tools
that keep a log (a stage history, an activity log) append to it: for those, a file whose
first N bytes are the N bytes the last pull read (the sha256 of the prefix equals the
fingerprint that pull recorded, N its size; mtime is never trusted) is read from byte N
only, with the header of line 1 and line numbers of the whole file. The rows go to the
warehouse by the same rules, quarantine and merge as a whole read's.

The result equals a whole re-read only when nothing in the prefix depends on what was
appended, and nothing appended depends on the prefix. So it is taken only for files whose
rows stand alone (:func:`why_not_kind`: stage history unless the deals' ``stage_dates``
write the same table, activities; never deals, accounts or owners), on DuckDB or
PostgreSQL, with unchanged options, when:

- the last read ended at a record's end (:func:`read_to`: the file ended with a line end
  outside quotes, proven by the last record read; a partial last line, an export still being
  written, is read as the whole read reads it, and the next pull reads the file whole);
- the appended bytes decode as the encoding the whole file was read with;
- no appended row has a key the warehouse already holds: a whole read would skip such a
  row as a repeat of the prefix's (activities: a duplicate id) or leave it out (a stage
  event exported twice), and the prefix's rows cannot be told from an older export's rows
  there. The appended part is read, held, and checked before anything is yielded; a repeat
  sends the file to the whole read, as does an appended part over ``MAX_APPENDED`` bytes.

The rows the last read loaded are assumed still in the warehouse, as the unchanged-file
skip assumes (the hub deletes no stage history or activity row; a dataset dropped by hand
needs ``hub pull --full-refresh``). Anything else (rewritten, truncated, reordered, another
header, options changed) is read whole; the run's notes say which path each file took.
The new fingerprint and end are recorded in the resource's state, which dlt commits with
the load: a run that dies before its load commits leaves the old ones.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from connectors.csv.reading import FileFacts, _check_readable, _sniff_delimiter, records
from models.canonical import make_key

if TYPE_CHECKING:
    from connectors.base import SourceContext
    from connectors.csv.driver import FileRead, TableSpec
    from connectors.csv.options import CsvFile, CsvOptions

_CHUNK = 1 << 20
_HEAD = 65536  # what inspect_file sniffs the delimiter from
_TAIL = 1 << 20  # the last line must be within this many bytes of the end
_LINE_BREAKS = ("\n", "\r")
# The appended part is held until its keys are checked: more than this is read whole.
MAX_APPENDED = 256 << 20


@dataclass(frozen=True)
class Digests:
    """One pass over a file: its sha256, and that of the first ``read_to`` bytes."""

    whole: str
    size: int
    head: bytes
    prefix: str | None = None  # None: the file is not longer than read_to
    prefix_lines: int = 0  # line ends in the prefix, as Python's csv counts them


def digests(path: Path, read_to: int | None) -> Digests:
    """The file's sha256 and, when it is longer than ``read_to``, the prefix's, with the
    prefix's lines: the one pass an unchanged or appended file costs."""
    _check_readable(path)
    whole = hashlib.sha256()
    size, head, prefix, lines = 0, b"", None, _Lines()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if len(head) < _HEAD:
                head += chunk[: _HEAD - len(head)]
            if read_to is not None and prefix is None and size + len(chunk) > read_to:
                cut = read_to - size
                whole.update(chunk[:cut])
                lines.add(chunk[:cut])
                prefix = whole.copy().hexdigest()
                whole.update(chunk[cut:])
            else:
                whole.update(chunk)
                if read_to is not None and prefix is None:
                    lines.add(chunk)
            size += len(chunk)
    return Digests(whole.hexdigest(), size, head, prefix, lines.count())


@dataclass
class _Lines:
    """Line ends as Python counts them (\\n, \\r\\n, a lone \\r), over chunks."""

    newlines: int = 0
    lone_returns: int = 0
    _ends_cr: bool = False

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.newlines += chunk.count(b"\n")
        if b"\r" in chunk:
            self.lone_returns += chunk.count(b"\r") - chunk.count(b"\r\n")
        if self._ends_cr and chunk.startswith(b"\n"):
            self.lone_returns -= 1  # a \r\n cut between two chunks
        self._ends_cr = chunk.endswith(b"\r")

    def count(self) -> int:
        return self.newlines + self.lone_returns


def why_not_kind(ctx: SourceContext, options: CsvOptions, spec: TableSpec) -> str | None:
    """Why this kind of file is never read from its last end (None: it may be). Deals
    files are whole by nature (a full snapshot's absent deal is a deletion; stage dates,
    links and typed custom fields are judged over the file); owners and accounts are small."""
    if spec.option not in ("stage_history", "activities"):
        return "its rows depend on the whole file"
    if spec.shares_table(options):
        return "the deals file's stage_dates write the same table"
    if ctx.config.warehouse.kind not in ("duckdb", "postgres"):
        return "not a DuckDB or PostgreSQL warehouse"
    return None


@dataclass
class Attempt:
    """What :func:`attempt` found: the appended part's items, or why the file is read whole."""

    why: str  # a note for the run: which path, and why
    items: list[Any] | None = None
    read: FileRead | None = None


def attempt(
    ctx: SourceContext,
    options: CsvOptions,
    spec: TableSpec,
    file: CsvFile,
    path: Path,
    state: dict[str, Any],
    found: Digests,
) -> Attempt:
    """Read the part appended since the last read, if the file only grew and every check
    above holds; else say why the whole file is read."""
    from connectors.csv.driver import FileRead

    name = path.name
    read_to = state.get("read_to")
    whole = f"{name} read whole"
    if "read_to" not in state:
        return Attempt(f"{whole}: the last read recorded no end to start from (an older hub)")
    if read_to is None:
        return Attempt(f"{whole}: the last read did not end at a complete line")
    if found.size < read_to:
        return Attempt(f"{whole}: it is shorter than at the last read (rewritten or truncated)")
    if found.prefix != state["fingerprint"]:
        return Attempt(f"{whole}: its first {read_to:,} bytes changed since the last read")
    encoding = state.get("encoding")
    if encoding is None:
        return Attempt(f"{whole}: the last read recorded no encoding")
    if not _decodes(path, read_to, encoding):
        return Attempt(f"{whole}: the appended bytes are not {encoding}")
    if found.size - read_to > MAX_APPENDED:
        grown = found.size - read_to
        return Attempt(
            f"{whole}: {grown:,} bytes were appended (at most {MAX_APPENDED:,} are held)"
        )
    delimiter = file.delimiter or _sniff(found.head, encoding)
    if delimiter != (file.delimiter or _sniff(found.head[:read_to], encoding)):
        return Attempt(f"{whole}: the delimiter sniffed from its first lines changed")
    facts = FileFacts(path, found.whole, encoding, delimiter, found.size)
    notes, warnings = len(ctx.notes), len(ctx.stats.warnings)
    read = FileRead(ctx, options, spec, file, facts)
    first_line = found.prefix_lines + 1
    read.start = (read_to, first_line)
    items = list(read.read())
    repeats = _known(ctx, spec, read)
    if repeats:
        del ctx.notes[notes:], ctx.stats.warnings[warnings:]
        return Attempt(
            f"{whole}: {repeats:,} appended row(s) repeat a key already loaded "
            "(a whole read decides which row wins)"
        )
    return Attempt(
        f"{name}: read from line {first_line:,} (byte {read_to:,}): it only grew since "
        "the last read",
        items,
        read,
    )


def _sniff(head: bytes, encoding: str) -> str:
    """The delimiter inspect_file sniffs from these first bytes."""
    return _sniff_delimiter(head.decode(encoding, errors="ignore"))


def _decodes(path: Path, offset: int, encoding: str) -> bool:
    """Whether the bytes after ``offset`` decode as ``encoding`` (the prefix ends with a line
    end, so no character is cut)."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        decoder = codecs.getincrementaldecoder(codec)()
    except LookupError:
        return False
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _known(ctx: SourceContext, spec: TableSpec, read: FileRead) -> int:
    """How many keys of the rows ``read`` loaded the warehouse table holds already."""
    keys = _keys(ctx, spec, read)
    if keys.num_rows == 0:
        return 0
    if ctx.config.warehouse.kind == "postgres":
        return _known_by_sql(ctx, spec, keys)
    return _known_in_duckdb(ctx, spec, keys)


def _known_by_sql(ctx: SourceContext, spec: TableSpec, keys: pa.Table) -> int:
    """:func:`_known` through the hub's sqlalchemy connection (PostgreSQL): the keys go
    in one batch, by COPY, into a temporary table typed like the warehouse table's key,
    and one join counts them (an ``IN`` list per batch scanned the table once per batch:
    its dlt-made table has no index on the key)."""
    import pyarrow.csv as pa_csv
    import sqlalchemy as sa

    if ctx.warehouse_connect is None:
        return keys.num_rows  # no warehouse to ask (not in a pull): read whole
    schema, table = f"src_{ctx.name}", spec.model.table_name
    names = ", ".join(f'"{name}"' for name in keys.column_names)
    buffer = io.BytesIO()
    pa_csv.write_csv(keys, buffer, write_options=pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    with ctx.warehouse_connect() as conn:
        if not sa.inspect(conn).has_table(table, schema=schema):
            return keys.num_rows  # the prefix's rows are not there: read whole
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE hub_appended_keys ON COMMIT DROP AS SELECT {names} "
            f'FROM "{schema}"."{table}" LIMIT 0'
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.copy_expert(f"COPY hub_appended_keys ({names}) FROM STDIN WITH (FORMAT csv)", buffer)
        conn.exec_driver_sql("ANALYZE hub_appended_keys")
        known: int = conn.exec_driver_sql(
            f'SELECT count(*) FROM "{schema}"."{table}" JOIN hub_appended_keys USING ({names})'
        ).scalar_one()
    return int(known)


def _known_in_duckdb(ctx: SourceContext, spec: TableSpec, keys: pa.Table) -> int:
    """:func:`_known` on a DuckDB warehouse: the keys registered as a table and joined, in
    the warehouse's turn (:data:`connectors.csv.duck.WAREHOUSE_TURN`: never beside a merge)."""
    import duckdb

    from connectors.csv.duck import WAREHOUSE_TURN

    settings = ctx.config.warehouse
    schema, table = f"src_{ctx.name}", spec.model.table_name
    with (
        WAREHOUSE_TURN,
        duckdb.connect(
            str(ctx.config.resolve_path(settings.path)),
            config={"memory_limit": settings.memory_limit, "preserve_insertion_order": False},
        ) as con,
    ):
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
        if not exists:
            return keys.num_rows  # the prefix's rows are not there: read whole
        con.register("hub_appended_keys", keys)
        match = " AND ".join(f't."{k}" = k."{k}"' for k in keys.column_names)
        ((known,),) = con.execute(
            f'SELECT count(*) FROM "{schema}"."{table}" AS t JOIN hub_appended_keys AS k ON {match}'
        ).fetchall()
        con.unregister("hub_appended_keys")
    return int(known)


def _keys(ctx: SourceContext, spec: TableSpec, read: FileRead) -> pa.Table:
    """The table keys of the rows ``read`` loaded: from the ids of the duplicate-id rule,
    or the fields of the repeat rule, as the model's primary key."""
    fields = (spec.record_id,) if spec.duplicate is not None else spec.repeat
    seen = read.seen if spec.duplicate is not None else read.repeats
    assert seen is not None
    made = {id_field: key for key, id_field in spec.keys.items()}
    rows: list[tuple[Hashable, ...]] = [
        value if isinstance(value, tuple) else (value,) for value in seen
    ]
    columns: dict[str, list[Any]] = {}
    for n, field_ in enumerate(fields):
        values = [row[n] for row in rows]
        if field_ in made:
            columns[made[field_]] = [make_key(ctx.name, v) for v in values]
        else:
            columns[field_] = values
    assert set(columns) == set(spec.model.primary_key), columns.keys()
    return pa.table(columns)


def read_to(read: FileRead, facts: FileFacts) -> int | None:
    """Where a later read may start (the file's size), if this read ended at a record's
    end, else None. Proof: the file ends with a line end and its last line holds text; the
    last record read holds no line break (a record still open in quotes at the end would
    hold the final one). When the last lines were taken one record a line (the fast path,
    DuckDB), that record is the last line read alone."""
    size = facts.size
    with facts.path.open("rb") as handle:
        handle.seek(max(0, size - _TAIL))
        tail = handle.read()
    if not tail.endswith(b"\n"):
        return None
    body = tail[:-1].removesuffix(b"\r")
    start = body.rfind(b"\n") + 1
    if start == 0 and size > _TAIL:
        return None
    last = body[start:]
    if b"\r" in last:
        return None
    try:  # with its line end: a quote still open there takes it into the value
        text = tail[start:].decode(facts.encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    if not text.strip():
        return None
    cells = read.tail_cells
    if cells is None:
        parsed = list(records(io.StringIO(text, newline=""), facts))
        if len(parsed) != 1:
            return None
        cells = parsed[0][1]
    if any(brk in cell for cell in cells for brk in _LINE_BREAKS):
        return None
    return size
