"""One driver for every kind of CSV file: fingerprint, read, convert, quarantine, yield.

A kind of file is data, a :class:`TableSpec`: its canonical table, the keys, constants and
defaults that complete a row, the field rules its values pass (:mod:`connectors.csv.rules`).
A spec that names a ``custom_entity`` keeps the columns its options list under
``custom_fields``, typed (:mod:`connectors.csv.custom`), and yields their
``field_definitions``. What a spec cannot say (the deals file's stage events, stage
catalogue and account links) is an :class:`Extras` the spec names. Files are read in blocks (see :mod:`connectors.csv.fast`):
a block the fast path proves clean becomes Arrow tables by vectorised conversion
(:meth:`FileRead.block`); any other block goes through :meth:`FileRead.row`, the row path,
which is what defines the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from connectors.base import SourceContext
from connectors.canonical_tables import (
    arrow_schema,
    canonical_hints,
    model_columns,
    quarantine_hints,
)
from connectors.csv import appended, duck, fast, row_hashes
from connectors.csv.background import in_background
from connectors.csv.custom import CustomFields, custom_columns
from connectors.csv.fast import Block, BlockFile, ColumnConverter, NotClean
from connectors.csv.options import CsvFile, CsvOptions
from connectors.csv.parsing import zone
from connectors.csv.reading import (
    FileFacts,
    inspect_file,
    read_header,
    read_rows,
)
from connectors.csv.rows import ArrowBatch, Quarantine, RowReader, RowRejected
from connectors.csv.rules import AMOUNT, Dropped, Rule
from connectors.csv.seen import SeenIds
from models.canonical import CanonicalRow, FieldDefinition, QuarantinedRecord, make_key
from models.errors import InputError


class Extras:
    """What a file yields beyond its canonical table; by default, nothing."""

    fast_ok = True  # False: the row path reads the whole file
    duck_ready = True  # False: what the file implies is written in Python alone
    indexes: tuple[int, ...] = ()  # further columns the fast path must parse

    def row(self, line: int, cells: list[str], values: dict[str, Any]) -> None:
        """After a row is complete and before it is loaded."""

    def block(self, table: pa.Table, values: dict[str, Any]) -> list[Any]:
        """Tables a clean block implies; raise NotClean before changing any state."""
        return []

    def after_duck(self, con: Any, staged: str) -> list[Any]:
        """DuckDB merged the file's rows (``staged``: a table of them, in the open
        transaction on ``con``): write what they imply the same way; the (empty) table
        variants that tell dlt's schema of those tables."""
        return []

    def flush(self) -> Iterator[Any]:
        return iter(())

    def finish(self) -> Iterator[Any]:
        """After the whole file was read."""
        return iter(())


@dataclass(frozen=True)
class TableSpec:
    """One kind of export file. The fields it must have are its options' ``required_fields``."""

    option: str  # the CsvOptions field; the resource is "<option>_file"
    model: type[CanonicalRow]
    entity: str  # of its quarantine records
    record_id: str  # the field that names a row in quarantine records
    keys: Mapping[str, str]  # canonical key field -> the field its native id is in
    reads: Mapping[str, type] = field(default_factory=dict)  # fields only a key keeps
    constants: Mapping[str, Any] = field(default_factory=dict)
    fills: Mapping[str, Any] = field(default_factory=dict)  # field -> value when empty
    duplicate: str | None = None  # reason a repeated record_id is skipped; None: not checked
    rules: tuple[Rule, ...] = ()
    custom_entity: str | None = None  # FieldDefinition.entity of its custom_fields, if any
    # Two fields whose equal values make a row no record (left out and counted).
    no_move: tuple[str, str] | None = None
    # Fields whose values, equal to an earlier row's, make a row a repeat of it (a stage
    # event exported twice): left out and counted, so the file's keys are unique.
    repeat: tuple[str, ...] = ()
    # Whether another file of the source writes this table in the same load (the deals
    # file's stage events from stage_dates): then its keys may repeat across the two.
    shares_table: Callable[[CsvOptions], bool] = lambda options: False
    extras: Callable[[FileRead], Extras] = lambda read: Extras()


def read_file(ctx: SourceContext, options: CsvOptions, spec: TableSpec) -> Iterator[Any]:
    """The resource of one file: nothing if the file is unchanged since the last load."""
    file: CsvFile = getattr(options, spec.option)
    path = ctx.config.resolve_path(file.path)
    state = dlt.current.resource_state()
    shape = options_fingerprint(options, file, spec)
    digest = None
    # A log-like file may be read from where the last read ended (connectors.csv.appended).
    grows = appended.why_not_kind(ctx, options, spec) is None
    if not ctx.full_refresh and state.get("fingerprint") and state.get("path") == str(path):
        # The digest alone first: an unchanged file costs one sha256 pass, nothing more.
        read_to = state.get("read_to") if grows else None
        found = yield from in_background(lambda: appended.digests(path, read_to))
        digest = found.whole
        changed = changed_options(state.get("options"), shape)
        if state["fingerprint"] == digest:
            if not changed:
                _warn_latin1(ctx, file, path, state.get("encoding"))
                return
            ctx.notes.append(f"{path.name} read again: {changed}")
        elif grows and changed:
            ctx.notes.append(f"{path.name} read whole: {changed}")
        elif grows:
            tried = appended.attempt(ctx, options, spec, file, path, state, found)
            ctx.notes.append(tried.why)
            if tried.read is not None and tried.items is not None:
                yield from tried.items
                _remember(tried.read, shape, grows)
                return
    read, merged = yield from in_background(
        lambda: open_file(ctx, options, spec, file, path, digest)
    )
    facts = read.facts
    if read.hashes is not None:  # trusted only if recorded by the read the state names
        read.hashes.previous, read.hashes.current = state.get("fingerprint"), facts.fingerprint
    _warn_latin1(ctx, file, path, facts.encoding)
    if merged is None:
        yield from read.read()
    else:  # in the warehouse already; counted with what dlt loads
        yield from read.after_duck(merged)
    _remember(read, shape, grows)


def _remember(read: FileRead, shape: dict[str, str], grows: bool) -> None:
    """The file as read, in the resource's state (committed by dlt with the load)."""
    facts = read.facts
    state = dlt.current.resource_state()
    state["fingerprint"] = facts.fingerprint
    state["path"] = str(facts.path)
    state["options"] = shape
    state["encoding"] = facts.encoding
    state["read_to"] = appended.read_to(read, facts) if grows else None


def open_file(
    ctx: SourceContext,
    options: CsvOptions,
    spec: TableSpec,
    file: CsvFile,
    path: Path,
    digest: str | None,
) -> tuple[FileRead, int | None]:
    """The file inspected and opened and, where DuckDB can take it, merged: the rows DuckDB
    merged, or None when the file is for :meth:`FileRead.read`. The heavy steps of a
    file, run off dlt's thread (:mod:`connectors.csv.background`)."""
    facts = inspect_file(
        path,
        encoding=file.encoding,
        delimiter=file.delimiter,
        fingerprint=digest,
        count_layout=duck.may_take(ctx, options, spec, file),
    )
    read = FileRead(ctx, options, spec, file, facts)
    if duck.why_not(read) is not None:
        return read, None
    return read, duck.load(read)


def _warn_latin1(ctx: SourceContext, file: CsvFile, path: Path, encoding: str | None) -> None:
    if encoding == "latin-1" and file.encoding is None:
        ctx.stats.warnings.append(
            f"{path.name}: not UTF-8, read as Latin-1; set encoding if that is wrong"
        )


def options_fingerprint(options: CsvOptions, file: CsvFile, spec: TableSpec) -> dict[str, str]:
    """A digest per option that shapes the rows read from ``file`` (every option of the
    file but its path, and ``max_amount`` where amounts are read; ``chunk_rows`` and
    ``fast_path`` change no row): an edited mapping re-reads an unchanged file, and the run
    can say which option changed."""
    values = file.model_dump(mode="json", exclude={"path"})
    if AMOUNT in spec.rules:
        values["max_amount"] = options.max_amount
    return {
        name: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
        for name, value in sorted(values.items())
    }


def changed_options(previous: dict[str, str] | None, now: dict[str, str]) -> str:
    """What changed since the last read, in words ('' when nothing did)."""
    if previous is None:
        return "the last load did not record the options it was read with"
    changed = sorted(
        name for name in previous.keys() | now.keys() if previous.get(name) != now.get(name)
    )
    return f"its mapping changed ({', '.join(changed)})" if changed else ""


class FileRead:
    """The reading of one file: the row path, the fast path, and what they collect."""

    def __init__(
        self,
        ctx: SourceContext,
        options: CsvOptions,
        spec: TableSpec,
        file: CsvFile,
        facts: FileFacts,
    ) -> None:
        self.ctx, self.options, self.spec, self.file, self.facts = ctx, options, spec, file, facts
        types = {name: t for name, (t, _) in model_columns(spec.model).items()}
        header = read_header(facts)
        self.reader = RowReader(file, facts, header, types, extra_fields=spec.reads)
        self.converter = ColumnConverter(
            types=self.reader.types,
            decimal_separator=file.decimal_separator,
            naive_is_utc=zone(file.timezone) is UTC,
            date_format=file.date_format,
        )
        self.required = file.required_fields
        self.constants = {"source_name": ctx.name, "crm": "csv", **spec.constants}
        self.batch = ArrowBatch(spec.model)
        self.quarantine = Quarantine(
            source_name=ctx.name,
            crm="csv",
            entity=spec.entity,
            file_name=facts.path.name,
            quarantined_at=ctx.run_started_at or datetime.now(UTC),
        )
        self.seen = SeenIds()  # record ids of rows loaded, with their lines (if checked)
        self.skipped: set[str] = set()  # record ids of rows skipped whole
        self.custom: CustomFields | None = None
        if spec.custom_entity is not None:
            columns = custom_columns(
                file, facts, header, fast_path=options.fast_path, chunk_rows=options.chunk_rows
            )
            self.custom = CustomFields(columns, ctx.name, spec.custom_entity) if columns else None
        self.extras = spec.extras(self)
        self.picked = RowFilter.of(file, header, facts)
        self.left_out = {"where": 0, "no_move": 0, "repeat": 0}  # rows that are no record
        self.repeats = SeenIds() if spec.repeat else None  # keys read (membership only)
        self.duck_variants: list[Any] = []  # the extras' empty variants (after_duck)
        self.unique_load = spec.duplicate is not None or (
            bool(spec.repeat) and not spec.shares_table(options)
        )
        # Where reading starts (byte offset, its line) when only an appended part is read.
        self.start: tuple[int, int] | None = None
        # The cells of the last record the row path read; None when a clean block (or
        # DuckDB) read the last lines, one record a line (connectors.csv.appended.read_to).
        self.tail_cells: list[str] | None = None
        # A deals file on PostgreSQL: only rows changed since the last pull go to dlt.
        self.hashes = row_hashes.for_file(ctx, spec.option)

    def read(self) -> Iterator[Any]:
        """Clean blocks through the fast path, everything else row by row."""
        blocks = self._block_file()
        if blocks is None:
            yield from self._rows(read_rows(self.facts, start=self.start))
        else:
            for block in blocks.blocks():
                out = self._fast(blocks, block)
                if out is None:
                    yield from self._rows(blocks.rows(block))
                else:
                    self.tail_cells = None
                    yield from self.flush()
                    yield from out
        yield from self.flush()
        if self.custom is not None:
            yield variant(FieldDefinition, self.custom.definitions())
        yield from self.extras.finish()
        if self.hashes is not None:
            self.hashes.finish(self.facts.path.name)
        self._say_left_out()

    def after_duck(self, merged: int) -> Iterator[Any]:
        """What :meth:`read` yields besides the rows DuckDB merged (``merged`` of them):
        dlt's schema learns the tables as after any other read, with no rows."""
        table = self.spec.model.table_name
        self.ctx.rows_written[table] = self.ctx.rows_written.get(table, 0) + merged
        yield self._variant(assemble(self.spec.model, 0, {}))
        yield from self.duck_variants
        if self.custom is not None:
            yield variant(FieldDefinition, self.custom.definitions())
        yield from self.extras.finish()

    def _say_left_out(self) -> None:
        name, (where, no_move, repeat) = self.facts.path.name, self.left_out.values()
        if where and self.picked is not None:
            self.ctx.notes.append(
                f"{name}: {where:,} row(s) left out (where {self.picked.describe()})"
            )
        if no_move and self.spec.no_move is not None:
            same, other = (self.reader.column_of(f) or f for f in self.spec.no_move)
            self.ctx.notes.append(
                f"{name}: {no_move:,} row(s) left out ({other} = {same}: no stage move)"
            )
        if repeat:
            columns = ", ".join(self.reader.column_of(f) or f for f in self.spec.repeat)
            self.ctx.notes.append(
                f"{name}: {repeat:,} row(s) left out (the same {columns} as an earlier row)"
            )

    def _block_file(self) -> BlockFile | None:
        """The file cut in blocks, or None when the row path alone reads it."""
        reader = self.reader
        fast_ok = self.extras.fast_ok and self.converter.supports([f.name for f in reader.fields])
        if not (self.options.fast_path and fast_ok and BlockFile.usable(self.facts, reader.width)):
            return None
        indexes = [f.index for f in reader.fields if f.index is not None]
        indexes += self.extras.indexes + (self.custom.indexes if self.custom else ())
        indexes += self.picked.indexes if self.picked is not None else ()
        blocks = BlockFile(
            self.facts,
            reader.width,
            indexes,
            rows_per_block=self.options.chunk_rows,
            check_encoding=self.file.encoding is not None,
        )
        if not blocks.open():
            return None
        if self.start is not None:  # the appended part: blocks from there, lines as in the file
            blocks.data_offset, blocks.first_line = self.start
        return blocks

    def _fast(self, blocks: BlockFile, block: Block) -> list[Any] | None:
        table = blocks.parse(block)
        if table is None:
            return None
        try:
            return self.block(block.first_line, table)
        except NotClean:
            return None

    def _rows(self, rows: Iterable[tuple[int, list[str]]]) -> Iterator[Any]:
        cells = None
        for line, cells in rows:
            self.row(line, cells)
            if self.batch.rows >= self.options.chunk_rows:
                yield from self.flush()
        if cells is not None:
            self.tail_cells = cells

    def row(self, line: int, cells: list[str]) -> None:
        """The row path: read, check, complete and collect one row, or quarantine it."""
        spec = self.spec
        dropped: Dropped = []
        record_id = None
        # A ragged row (a report footer) is quarantined below, whatever its cells say.
        ragged = len(cells) != self.reader.width
        if self.picked is not None and not ragged and not self.picked.row(cells):
            self.left_out["where"] += 1
            return
        try:
            values = self.reader.read(line, cells, self.required, dropped)
            if spec.no_move is not None and _no_move(values, spec.no_move):
                self.left_out["no_move"] += 1
                return
            key: tuple[Any, ...] | None = None
            if self.repeats is not None:
                key = tuple(values[f] for f in spec.repeat)
                if key in self.repeats:
                    self.left_out["repeat"] += 1
                    return
            record_id = values[spec.record_id]
            if spec.duplicate is not None:
                first = self.seen.line_of(record_id)
                if first is not None:
                    reason = spec.duplicate.format(line=first)
                    raise RowRejected(self.reader.column_of(spec.record_id), record_id, reason)
            for rule in spec.rules:
                rule.row(values, self, dropped)
            if self.custom is not None:
                values["custom_fields"] = self.custom.row(cells, dropped)
        except RowRejected as exc:
            self.quarantine.add(
                line, record_id, exc.column, exc.value, exc.reason + "; row skipped"
            )
            if record_id is not None:
                self.skipped.add(record_id)
            return
        if spec.duplicate is not None:
            self.seen.add(record_id, line)
        if self.repeats is not None:
            self.repeats.add(key, line)
        for column, value, reason in dropped:
            self.quarantine.add(line, record_id, column, value, reason)
        values.update(self.constants)
        for key_field, id_field in spec.keys.items():
            native = values.get(id_field)
            values[key_field] = make_key(self.ctx.name, native) if native else None
        for name, value in spec.fills.items():
            if values.get(name) is None:
                values[name] = value
        self.extras.row(line, cells, values)
        self.batch.append(values)

    def block(self, first_line: int, table: pa.Table) -> list[Any]:
        """The fast path: a block's tables, or NotClean before any state changes."""
        spec = self.spec
        left_out = dict.fromkeys(self.left_out, 0)
        if self.picked is not None:
            table, left_out["where"] = self.picked.block(table)
            if spec.duplicate is not None and left_out["where"]:
                raise NotClean("rows left out: line numbers would shift")
        values = self._columns(table)
        if spec.no_move is not None:
            same, other = (values.get(f) for f in spec.no_move)
            if same is not None and other is not None:
                moved = pc.fill_null(pc.not_equal(same, other), True)
                left_out["no_move"] = len(moved) - pc.sum(moved).as_py() if len(moved) else 0
                if left_out["no_move"]:
                    table = table.filter(moved)
                    values = {name: column.filter(moved) for name, column in values.items()}
        rows = table.num_rows
        keys = None
        if self.repeats is not None:
            keys = pa.table({f: values[f] for f in spec.repeat})
            key_hashes = self.repeats.new_block(keys)  # a repeat: the row path leaves it out
        for rule in spec.rules:
            rule.block(values, rows, self)
        if self.custom is not None:
            values["custom_fields"] = self.custom.block(table)
        values.update(self.constants)
        for key, id_field in spec.keys.items():
            native = values.get(id_field)
            values[key] = None if native is None else key_column(self.ctx, native)
        for name, value in spec.fills.items():
            column = values.get(name)
            values[name] = (
                fast.constant(value, rows) if column is None else pc.fill_null(column, value)
            )
        ids = None if spec.duplicate is None else values[spec.record_id]
        hashes = None if ids is None else self.seen.new_block(ids)
        out = [self._variant(assemble(spec.model, rows, values))]
        out += self.extras.block(table, values)
        # Every check passed: only now does the block count as read.
        if ids is not None and hashes is not None:
            self.seen.add_block(ids, hashes, first_line)
        if self.repeats is not None and keys is not None:
            self.repeats.add_block(keys, key_hashes, first_line)
        for why, n in left_out.items():
            self.left_out[why] += n
        return out

    def _columns(self, table: pa.Table) -> dict[str, pa.Array]:
        """A block's field values as Arrow arrays, converted as the row path would."""
        rows, converter = table.num_rows, self.converter
        values: dict[str, pa.Array] = {}
        for f in self.reader.fields:
            raw = table.column(f"c{f.index}").combine_chunks() if f.index is not None else None
            text = converter.text(rows, raw, f.default, f.value_map)
            if f.name in self.required and text.null_count:
                raise NotClean(f"required {f.name} empty")
            values[f.name] = converter.parse(f.name, text)
        return values

    def flush(self) -> Iterator[Any]:
        """The rows collected so far: the table's, the extras', then quarantine records."""
        if (table := self.batch.flush()) is not None:
            yield self._variant(table)
        yield from self.extras.flush()
        records = self.quarantine.records
        batch = ArrowBatch(QuarantinedRecord)
        for record in records:
            batch.append(record)
        if (table := batch.flush()) is not None:
            self.ctx.stats.warnings.append(
                f"{self.facts.path.name}: {len(records)} value(s) quarantined; "
                "see 'hub status' or the quarantine table"
            )
            yield variant(QuarantinedRecord, table)
        records.clear()

    def _variant(self, table: pa.Table) -> Any:
        if not self.unique_load:  # keys may repeat in the load: dlt's merge deduplicates
            return variant(self.spec.model, table)
        return self.unique_variant(self.spec.model, table)

    def unique_variant(self, model: type[CanonicalRow], table: pa.Table) -> Any:
        """``table`` of ``model``, whose keys are unique in this load: merged without dlt's
        ROW_NUMBER() window over the staging rows (rows already in the warehouse are still
        replaced by key; a resumed package gets the window back, see
        ``hub.packages.deduplicate_staged_rows``). Rows unchanged since the last pull are
        left out where the file keeps row hashes."""
        if self.hashes is not None:
            table = self.hashes.changed(model, table)
        return variant(model, table, deduplicated=True)


def variant(
    model: type[CanonicalRow] | type[QuarantinedRecord],
    table: pa.Table,
    *,
    deduplicated: bool = False,
) -> Any:
    """``table`` as a dlt table variant carrying ``model``'s table hints."""
    hints = quarantine_hints() if model is QuarantinedRecord else canonical_hints(model)  # type: ignore[arg-type]
    hints.pop("name")
    if deduplicated and hints.get("write_disposition") == "merge":
        hints["write_disposition"] = {
            "disposition": "merge",
            "strategy": "delete-insert",
            "deduplicated": True,
        }
    return dlt.mark.with_hints(table, dlt.mark.make_hints(**hints), create_table_variant=True)


def assemble(model: type[CanonicalRow], rows: int, values: dict[str, Any]) -> pa.Table:
    """``model``'s Arrow table from columns and constants; a missing field is null."""
    schema = arrow_schema(model)
    arrays = []
    for field_ in schema:
        value = values.get(field_.name)
        if value is None:
            arrays.append(pa.nulls(rows, field_.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(field_.type) if value.type != field_.type else value)
        else:
            arrays.append(fast.constant(value, rows, field_.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def key_column(ctx: SourceContext, ids: pa.Array) -> pa.Array:
    """:func:`make_key` for a column of ids."""
    return pc.binary_join_element_wise(pa.scalar(ctx.name), ids, ":")


def _no_move(values: dict[str, Any], fields: tuple[str, str]) -> bool:
    same, other = (values.get(f) for f in fields)
    return same is not None and same == other


@dataclass(frozen=True)
class RowFilter:
    """A file's ``where``: the rows that are records (the stage rows of a change log)."""

    by_index: dict[int, frozenset[str]]  # column -> accepted values, trimmed, case-folded
    names: dict[int, tuple[str, list[str]]]  # column -> (its name, values as written)

    @staticmethod
    def of(file: CsvFile, header: list[str], facts: FileFacts) -> RowFilter | None:
        where: dict[str, list[str]] = getattr(file, "where", {})
        if not where:
            return None
        positions = {name.lower(): i for i, name in enumerate(header)}
        missing = [column for column in where if column.lower() not in positions]
        if missing:
            raise InputError(
                f"{facts.path}: where: no column {', '.join(map(repr, missing))}; "
                f"the file has: {', '.join(header)}"
            )
        by_index = {
            positions[c.lower()]: frozenset(v.strip().casefold() for v in values)
            for c, values in where.items()
        }
        names = {positions[c.lower()]: (c, values) for c, values in where.items()}
        return RowFilter(by_index, names)

    @property
    def indexes(self) -> tuple[int, ...]:
        return tuple(self.by_index)

    def describe(self) -> str:
        return " and ".join(
            f"{column} = {' or '.join(values)}" for column, values in self.names.values()
        )

    def row(self, cells: list[str]) -> bool:
        return all(
            index < len(cells) and cells[index].strip().casefold() in accepted
            for index, accepted in self.by_index.items()
        )

    def block(self, table: pa.Table) -> tuple[pa.Table, int]:
        """The block's rows that pass, and how many did not; NotClean for text that
        Arrow cannot fold as Python does."""
        keep = fast.constant(True, table.num_rows)
        for index, accepted in self.by_index.items():
            text = fast.trim(table.column(f"c{index}").combine_chunks())
            fast.require_ascii(text)
            folded = pc.ascii_lower(text)
            keep = pc.and_(
                keep, pc.is_in(folded, value_set=pa.array(sorted(accepted), pa.string()))
            )
        passed = pc.sum(keep).as_py() or 0
        return table.filter(keep), table.num_rows - passed
