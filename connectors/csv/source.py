"""The dlt source of a ``kind: csv`` source: export files -> canonical tables.

One resource per file. The deals file also yields what it implies: stage events from its
date columns (origin ``derived``), the pipelines and stages it names, and quarantine
records. Every batch goes to its canonical table as a dlt table variant that carries that
table's hints. A file whose fingerprint matches the last successful load is skipped. A deals
file declared ``full_snapshot`` also marks deleted, after the load, the deals it no longer
holds (see :mod:`connectors.csv.snapshot`).

Files are read in blocks (see :mod:`connectors.csv.fast`): a block the fast path proves clean
becomes Arrow tables by vectorised conversion (``convert`` in each reader below); any other
block goes through ``on_row``, the row path, which is what defines the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource, DltSource

from connectors.base import SourceContext
from connectors.canonical_tables import (
    arrow_schema,
    canonical_hints,
    model_columns,
    quarantine_hints,
)
from connectors.csv import fast
from connectors.csv.fast import Block, BlockFile, ColumnConverter, NotClean
from connectors.csv.options import CsvFile, CsvOptions
from connectors.csv.parsing import timestamp_parser, zone
from connectors.csv.reading import FileFacts, inspect_file, read_header, read_rows
from connectors.csv.rows import (
    ACTIVITY_TYPE_SYNONYMS,
    STATUS_ALIASES,
    ArrowBatch,
    Quarantine,
    RowReader,
    RowRejected,
    normalize_activity_type,
    normalize_status,
)
from connectors.csv.snapshot import after_full_snapshot
from models.canonical import (
    DEAL_STATUSES,
    Activity,
    CanonicalRow,
    Deal,
    Owner,
    Pipeline,
    QuarantinedRecord,
    Stage,
    StageChange,
    make_key,
)
from models.errors import InputError

DEFAULT_PIPELINE = "default"


# Tables whose keys this connector already makes unique within a load: a deal or activity
# id seen twice in a file is quarantined, and only one file feeds each table. dlt's merge
# then skips its ROW_NUMBER() window over the staging rows; rows already in the warehouse
# are still replaced by key (the delete half of delete-insert is unchanged).
_DEDUPLICATED = (Deal, Activity)


def _variant(model: type[CanonicalRow] | type[QuarantinedRecord], table: pa.Table) -> Any:
    hints = quarantine_hints() if model is QuarantinedRecord else canonical_hints(model)  # type: ignore[arg-type]
    hints.pop("name")
    if model in _DEDUPLICATED and hints.get("write_disposition") == "merge":
        hints["write_disposition"] = {
            "disposition": "merge",
            "strategy": "delete-insert",
            "deduplicated": True,
        }
    return dlt.mark.with_hints(table, dlt.mark.make_hints(**hints), create_table_variant=True)


class _FileRun:
    """State shared by the reading of one file: facts, fingerprint check, quarantine."""

    def __init__(self, ctx: SourceContext, spec: CsvFile, entity: str) -> None:
        self.ctx = ctx
        self.spec = spec
        self.entity = entity
        self.facts: FileFacts = inspect_file(
            ctx.config.resolve_path(spec.path), encoding=spec.encoding, delimiter=spec.delimiter
        )
        self.quarantine = Quarantine(
            source_name=ctx.name,
            crm="csv",
            entity=entity,
            file_name=self.facts.path.name,
            quarantined_at=ctx.run_started_at or datetime.now(UTC),
        )
        if self.facts.encoding == "latin-1" and spec.encoding is None:
            ctx.stats.warnings.append(
                f"{self.facts.path.name}: not UTF-8, read as Latin-1; set encoding if that is wrong"
            )

    def unchanged(self) -> bool:
        state = dlt.current.resource_state()
        return (
            not self.ctx.full_refresh
            and state.get("fingerprint") == self.facts.fingerprint
            and state.get("path") == str(self.facts.path)
        )

    def remember(self) -> None:
        state = dlt.current.resource_state()
        state["fingerprint"] = self.facts.fingerprint
        state["path"] = str(self.facts.path)

    def reader(self, model: type[CanonicalRow], extra: dict[str, type] | None = None) -> RowReader:
        types = {name: t for name, (t, _) in model_columns(model).items()}
        return RowReader(self.spec, self.facts, read_header(self.facts), types, extra_fields=extra)

    def flush_quarantine(self) -> Iterator[Any]:
        batch = ArrowBatch(QuarantinedRecord)
        for record in self.quarantine.records:
            batch.append(record)
        table = batch.flush()
        if table is not None:
            self.ctx.stats.warnings.append(
                f"{self.facts.path.name}: {len(self.quarantine.records)} value(s) quarantined; "
                "see 'hub status' or the quarantine table"
            )
            yield _variant(QuarantinedRecord, table)
        self.quarantine.records.clear()


Rows = Iterator[tuple[int, list[str]]]


def _drive(
    run: _FileRun,
    reader: RowReader,
    options: CsvOptions,
    *,
    fast_ok: bool,
    extra_indexes: list[int],
    convert: Callable[[int, pa.Table], list[Any]],
    on_row: Callable[[int, list[str]], None],
    pending: Callable[[], int],
    flush: Callable[[], Iterator[Any]],
) -> Iterator[Any]:
    """Read one file: blocks the fast path proves clean become Arrow tables directly
    (``convert``), everything else goes row by row (``on_row``) as the row path defines.
    ``convert`` raises NotClean before changing any state when it cannot take a block."""
    blocks = None
    if options.fast_path and fast_ok and BlockFile.usable(run.facts, reader.width):
        indexes = [f.index for f in reader.fields if f.index is not None] + extra_indexes
        blocks = BlockFile(
            run.facts,
            reader.width,
            indexes,
            rows_per_block=options.chunk_rows,
            check_encoding=run.spec.encoding is not None,
        )
        if not blocks.open():
            blocks = None
    segments: Iterator[tuple[Block | None, Rows | None]]
    if blocks is None:
        segments = iter([(None, read_rows(run.facts))])
    else:
        segments = ((block, None) for block in blocks.blocks())
    for block, rows in segments:
        if block is not None:
            assert blocks is not None
            table = blocks.parse(block)
            if table is not None:
                try:
                    out = convert(block.first_line, table)
                except NotClean:
                    out = None
                if out is not None:
                    yield from flush()
                    yield from out
                    continue
            rows = blocks.rows(block)
        assert rows is not None
        for line, cells in rows:
            on_row(line, cells)
            if pending() >= options.chunk_rows:
                yield from flush()
    yield from flush()


class _Columns:
    """A block's field values as Arrow arrays, converted as the row path would."""

    def __init__(self, run: _FileRun, reader: RowReader) -> None:
        spec = run.spec
        self.reader = reader
        self.converter = ColumnConverter(
            types=reader.types,
            decimal_separator=spec.decimal_separator,
            naive_is_utc=zone(spec.timezone) is UTC,
            date_format=spec.date_format,
        )
        self.supported = self.converter.supports([f.name for f in reader.fields])

    def read(self, table: pa.Table, required: tuple[str, ...]) -> dict[str, pa.Array]:
        rows = table.num_rows
        values: dict[str, pa.Array] = {}
        for f in self.reader.fields:
            raw = table.column(f"c{f.index}").combine_chunks() if f.index is not None else None
            text = self.converter.text(rows, raw, f.default, f.value_map)
            if f.name in required and text.null_count:
                raise NotClean(f"required {f.name} empty")
            values[f.name] = self.converter.parse(f.name, text)
        return values


def _assemble(model: type[CanonicalRow], rows: int, values: dict[str, Any]) -> pa.Table:
    schema = arrow_schema(model)
    arrays = []
    for field in schema:
        value = values.get(field.name)
        if value is None:
            arrays.append(pa.nulls(rows, field.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(field.type) if value.type != field.type else value)
        else:
            arrays.append(pa.array([value] * rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _key(ctx: SourceContext, ids: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(ctx.name), ids, ":")


def _new_ids(ids: pa.Array, seen: set[str] | dict[str, int]) -> list[str]:
    """The block's ids as a list, if none repeats within the block or an earlier one."""
    if pc.count_distinct(ids).as_py() != len(ids):
        raise NotClean("duplicate id in the block")
    listed = ids.to_pylist()
    earlier = seen.keys() if isinstance(seen, dict) else seen
    if not earlier.isdisjoint(listed):
        raise NotClean("id seen in an earlier block")
    return listed


def _deals(ctx: SourceContext, options: CsvOptions) -> Iterator[Any]:
    spec = options.deals
    run = _FileRun(ctx, spec, "deals")
    if run.unchanged():
        return
    reader = run.reader(Deal)
    deals, events = ArrowBatch(Deal), ArrowBatch(StageChange)
    stages: dict[tuple[str, str], dict[str, Any]] = {}
    seen: dict[str, int] = {}  # deal id -> line, of every row loaded
    skipped: set[str] = set()  # ids of rows skipped whole: still deals the file holds
    header = read_header(run.facts)
    date_columns = {}
    for stage, column in spec.stage_dates.items():
        if column not in header:
            raise InputError(
                f"{run.facts.path}: stage_dates.{stage}: no column {column!r}; "
                f"the file has: {', '.join(header)}"
            )
        date_columns[stage] = header.index(column)
    parse_ts = timestamp_parser(spec.date_format, day_first=spec.day_first, tz=zone(spec.timezone))
    custom_idx = {c: header.index(c) for c in spec.custom_fields if c in header}

    def on_row(line: int, cells: list[str]) -> None:
        dropped: list[tuple[str, str, str]] = []
        record_id = None
        try:
            values = reader.read(line, cells, ("source_deal_id",), dropped)
            record_id = values["source_deal_id"]
            if record_id in seen:
                raise RowRejected(
                    reader.column_of("source_deal_id"),
                    record_id,
                    f"duplicate deal id; first seen on line {seen[record_id]}, this row is skipped",
                )
            stage_id = values.get("stage_id")
            if values.get("status") is None and stage_id in spec.status_from_stage:
                values["status"] = spec.status_from_stage[stage_id]
            values["status"] = normalize_status(values.get("status"))
            _check_amount(values, options, reader, dropped)
            _check_probability(values, reader, dropped)
            if values.get("currency"):
                currency: str | None = str(values["currency"]).strip().upper()
                if currency is None or len(currency) != 3 or not currency.isalpha():
                    dropped.append(
                        (
                            reader.column_of("currency") or "currency",
                            values["currency"],
                            "not a 3-letter currency code; the row was loaded without it",
                        )
                    )
                    currency = None
                values["currency"] = currency
        except RowRejected as exc:
            run.quarantine.add(line, record_id, exc.column, exc.value, exc.reason + "; row skipped")
            if record_id is not None:
                skipped.add(record_id)
            return
        seen[record_id] = line
        for column, value, reason in dropped:
            run.quarantine.add(line, record_id, column, value, reason)
        pipeline_id = values.get("pipeline_id") or DEFAULT_PIPELINE
        deal_key = make_key(ctx.name, record_id)
        values.update(
            source_name=ctx.name,
            crm="csv",
            deal_key=deal_key,
            pipeline_id=pipeline_id,
            is_deleted=False,
            custom_fields=({c: cells[i] for c, i in custom_idx.items()} if custom_idx else None),
        )
        deals.append(values)
        if stage_id:
            stages.setdefault((pipeline_id, stage_id), {"status": values["status"]})
        for stage, index in date_columns.items():
            raw = cells[index].strip() if index < len(cells) else ""
            if not raw:
                continue
            try:
                changed_at = parse_ts(raw)
            except ValueError as exc:
                run.quarantine.add(
                    line, record_id, header[index], raw, f"{exc}; no stage event derived from it"
                )
                continue
            events.append(
                {
                    "source_name": ctx.name,
                    "crm": "csv",
                    "deal_key": deal_key,
                    "changed_at": changed_at,
                    "stage_id": stage,
                    "pipeline_id": pipeline_id,
                    "origin": "derived",
                }
            )
            stages.setdefault((pipeline_id, stage), {"status": "open"})

    columns = _Columns(run, reader)
    converter = columns.converter

    def convert(first_line: int, table: pa.Table) -> list[Any]:
        rows = table.num_rows
        values = columns.read(table, ("source_deal_id",))
        ids = values["source_deal_id"]
        stage_id = values.get("stage_id")
        status = values.get("status")
        if spec.status_from_stage and stage_id is not None:
            from_stage = fast.lookup(stage_id, dict(spec.status_from_stage), pa.string())
            status = from_stage if status is None else pc.coalesce(status, from_stage)
        if status is None:
            status = pa.array(["open"] * rows, pa.string())
        else:
            status = fast.trim(pc.fill_null(status, "open"))
            fast.require_ascii(status)
            status = pc.ascii_lower(status)
            status = pc.coalesce(fast.lookup(status, STATUS_ALIASES, pa.string()), status)
            if not pc.all(pc.is_in(status, value_set=pa.array(DEAL_STATUSES))).as_py():
                raise NotClean("status")
        amount = values.get("amount")
        if amount is not None and amount.null_count < rows:
            low, high = pc.min_max(amount).values()
            if low.as_py() < 0 or high.as_py() > options.max_amount:
                raise NotClean("amount")
        probability = values.get("probability")
        if probability is not None and probability.null_count < rows:
            probability = pc.if_else(
                pc.greater(probability, 1), pc.divide(probability, 100.0), probability
            )
            low, high = pc.min_max(probability).values()
            if low.as_py() < 0 or high.as_py() > 1:
                raise NotClean("probability")
            values["probability"] = probability
        currency = values.get("currency")
        if currency is not None and currency.null_count < rows:
            currency = fast.trim(currency)
            if not pc.all(pc.match_substring_regex(currency.drop_null(), r"^[A-Za-z]{3}$")).as_py():
                raise NotClean("currency")
            values["currency"] = pc.ascii_upper(currency)
        pipeline = values.get("pipeline_id")
        pipeline = (
            pa.array([DEFAULT_PIPELINE] * rows, pa.string())
            if pipeline is None
            else pc.fill_null(pipeline, DEFAULT_PIPELINE)
        )
        deal_keys = _key(ctx, ids)
        derived = []
        pairs = []
        if stage_id is not None:
            pairs.append(pa.table({"p": pipeline, "s": stage_id}))
        for stage, index in date_columns.items():
            text = fast.trim(table.column(f"c{index}").combine_chunks())
            present = pc.not_equal(text, "")
            if not pc.any(present).as_py():
                continue
            text = pc.if_else(present, text, pa.scalar(None, pa.string()))
            changed_at = converter.timestamps(text).filter(present)
            picked = pipeline.filter(present)
            derived.append(
                _assemble(
                    StageChange,
                    len(changed_at),
                    {
                        "source_name": ctx.name,
                        "crm": "csv",
                        "deal_key": deal_keys.filter(present),
                        "changed_at": changed_at,
                        "stage_id": stage,
                        "pipeline_id": picked,
                        "origin": "derived",
                    },
                )
            )
            pairs.append(pa.table({"p": picked, "s": pa.array([stage] * len(picked), pa.string())}))
        listed = _new_ids(ids, seen)
        values.update(
            source_name=ctx.name,
            crm="csv",
            deal_key=deal_keys,
            pipeline_id=pipeline,
            status=status,
            is_deleted=False,
        )
        out = [_variant(Deal, _assemble(Deal, rows, values))]
        out += [_variant(StageChange, t) for t in derived]
        # Every check passed: only now does the block count as read.
        seen.update(zip(listed, range(first_line, first_line + rows), strict=True))
        for pair in pairs:
            for row in (
                pair.filter(pc.is_valid(pair.column("s")))
                .group_by(["p", "s"])
                .aggregate([])
                .to_pylist()
            ):
                stages.setdefault((row["p"], row["s"]), {})
        return out

    def flush() -> Iterator[Any]:
        if (table := deals.flush()) is not None:
            yield _variant(Deal, table)
        if (table := events.flush()) is not None:
            yield _variant(StageChange, table)
        yield from run.flush_quarantine()

    yield from _drive(
        run,
        reader,
        options,
        fast_ok=columns.supported and not custom_idx,
        extra_indexes=list(date_columns.values()),
        convert=convert,
        on_row=on_row,
        pending=lambda: deals.rows,
        flush=flush,
    )
    yield from _stage_catalogue(ctx, spec, stages)
    run.remember()
    if spec.full_snapshot:
        after_full_snapshot(ctx, run.facts.path.name, seen, skipped)


def _check_amount(
    values: dict[str, Any],
    options: CsvOptions,
    reader: RowReader,
    dropped: list[tuple[str, str, str]],
) -> None:
    amount = values.get("amount")
    if amount is None:
        return
    column = reader.column_of("amount") or "amount"
    if amount < 0:
        dropped.append((column, str(amount), "negative amount; the row was loaded without it"))
        values["amount"] = None
    elif amount > options.max_amount:
        dropped.append(
            (
                column,
                str(amount),
                f"amount above max_amount {options.max_amount:,.0f}; loaded without it",
            )
        )
        values["amount"] = None


def _check_probability(
    values: dict[str, Any], reader: RowReader, dropped: list[tuple[str, str, str]]
) -> None:
    value = values.get("probability")
    if value is None:
        return
    if value > 1:
        value = value / 100  # exports write 35 for 35 %
    if not 0 <= value <= 1:
        dropped.append(
            (
                reader.column_of("probability") or "probability",
                str(values["probability"]),
                "probability outside 0-100 %; the row was loaded without it",
            )
        )
        value = None
    values["probability"] = value


def _stage_catalogue(
    ctx: SourceContext, spec: Any, seen: dict[tuple[str, str], dict[str, Any]]
) -> Iterator[Any]:
    """CSV exports rarely ship stage metadata; the stages the data names are the catalogue."""
    if not seen:
        return
    stages, pipelines = ArrowBatch(Stage), ArrowBatch(Pipeline)
    for pipeline_id in sorted({p for p, _ in seen}):
        pipelines.append(
            {
                "source_name": ctx.name,
                "crm": "csv",
                "pipeline_key": make_key(ctx.name, pipeline_id),
                "pipeline_id": pipeline_id,
                "label": pipeline_id,
                "is_deleted": False,
            }
        )
    for pipeline_id, stage_id in sorted(seen):
        status = spec.status_from_stage.get(stage_id)
        stages.append(
            {
                "source_name": ctx.name,
                "crm": "csv",
                "stage_key": make_key(ctx.name, f"{pipeline_id}:{stage_id}"),
                "pipeline_id": pipeline_id,
                "stage_id": stage_id,
                "label": stage_id,
                "is_closed": status in ("won", "lost"),
                "is_won": status == "won",
                "is_deleted": False,
            }
        )
    yield _variant(Pipeline, pipelines.flush())  # type: ignore[arg-type]
    yield _variant(Stage, stages.flush())  # type: ignore[arg-type]


def _activities(ctx: SourceContext, options: CsvOptions) -> Iterator[Any]:
    spec = options.activities
    assert spec is not None
    run = _FileRun(ctx, spec, "activities")
    if run.unchanged():
        return
    reader = run.reader(Activity, extra={"deal_id": str})
    batch = ArrowBatch(Activity)
    seen: set[str] = set()

    def on_row(line: int, cells: list[str]) -> None:
        dropped: list[tuple[str, str, str]] = []
        record_id = None
        try:
            values = reader.read(line, cells, ("source_activity_id",), dropped)
            record_id = values["source_activity_id"]
            if record_id in seen:
                raise RowRejected(
                    reader.column_of("source_activity_id"),
                    record_id,
                    "duplicate activity id; this row is skipped",
                )
        except RowRejected as exc:
            run.quarantine.add(line, record_id, exc.column, exc.value, exc.reason + "; row skipped")
            return
        seen.add(record_id)
        for column, value, reason in dropped:
            run.quarantine.add(line, record_id, column, value, reason)
        deal_id = values.pop("deal_id", None)
        values.update(
            source_name=ctx.name,
            crm="csv",
            activity_key=make_key(ctx.name, record_id),
            deal_key=make_key(ctx.name, deal_id) if deal_id else None,
            type=normalize_activity_type(values.get("type")),
            is_deleted=False,
        )
        batch.append(values)

    columns = _Columns(run, reader)

    def convert(first_line: int, table: pa.Table) -> list[Any]:
        rows = table.num_rows
        values = columns.read(table, ("source_activity_id",))
        ids = values["source_activity_id"]
        kind = values.get("type")
        if kind is None:
            kind = pa.array(["other"] * rows, pa.string())
        else:
            kind = fast.trim(kind)
            fast.require_ascii(kind.drop_null())
            kind = pc.fill_null(
                fast.lookup(pc.ascii_lower(kind), ACTIVITY_TYPE_SYNONYMS, pa.string()), "other"
            )
        deal_id = values.pop("deal_id", None)
        listed = _new_ids(ids, seen)
        values.update(
            source_name=ctx.name,
            crm="csv",
            activity_key=_key(ctx, ids),
            deal_key=None if deal_id is None else _key(ctx, deal_id),
            type=kind,
            is_deleted=False,
        )
        out = [_variant(Activity, _assemble(Activity, rows, values))]
        seen.update(listed)
        return out

    def flush() -> Iterator[Any]:
        if (table := batch.flush()) is not None:
            yield _variant(Activity, table)
        yield from run.flush_quarantine()

    yield from _drive(
        run,
        reader,
        options,
        fast_ok=columns.supported,
        extra_indexes=[],
        convert=convert,
        on_row=on_row,
        pending=lambda: batch.rows,
        flush=flush,
    )
    run.remember()


def _owners(ctx: SourceContext, options: CsvOptions) -> Iterator[Any]:
    spec = options.owners
    assert spec is not None
    run = _FileRun(ctx, spec, "owners")
    if run.unchanged():
        return
    reader = run.reader(Owner)
    batch = ArrowBatch(Owner)

    def on_row(line: int, cells: list[str]) -> None:
        dropped: list[tuple[str, str, str]] = []
        try:
            values = reader.read(line, cells, ("source_owner_id",), dropped)
        except RowRejected as exc:
            run.quarantine.add(line, None, exc.column, exc.value, exc.reason + "; row skipped")
            return
        for column, value, reason in dropped:
            run.quarantine.add(line, values["source_owner_id"], column, value, reason)
        values.update(
            source_name=ctx.name, crm="csv", owner_key=make_key(ctx.name, values["source_owner_id"])
        )
        if values.get("is_active") is None:
            values["is_active"] = True
        batch.append(values)

    columns = _Columns(run, reader)

    def convert(first_line: int, table: pa.Table) -> list[Any]:
        rows = table.num_rows
        values = columns.read(table, ("source_owner_id",))
        active = values.get("is_active")
        values.update(
            source_name=ctx.name,
            crm="csv",
            owner_key=_key(ctx, values["source_owner_id"]),
            is_active=True if active is None else pc.fill_null(active, True),
        )
        return [_variant(Owner, _assemble(Owner, rows, values))]

    def flush() -> Iterator[Any]:
        if (table := batch.flush()) is not None:
            yield _variant(Owner, table)
        yield from run.flush_quarantine()

    yield from _drive(
        run,
        reader,
        options,
        fast_ok=columns.supported,
        extra_indexes=[],
        convert=convert,
        on_row=on_row,
        pending=lambda: batch.rows,
        flush=flush,
    )
    run.remember()


def _stage_history(ctx: SourceContext, options: CsvOptions) -> Iterator[Any]:
    spec = options.stage_history
    assert spec is not None
    run = _FileRun(ctx, spec, "stage_changes")
    if run.unchanged():
        return
    reader = run.reader(StageChange, extra={"deal_id": str})
    batch = ArrowBatch(StageChange)
    required = ("deal_id", "stage_id", "changed_at")

    def on_row(line: int, cells: list[str]) -> None:
        dropped: list[tuple[str, str, str]] = []
        try:
            values = reader.read(line, cells, required, dropped)
        except RowRejected as exc:
            run.quarantine.add(line, None, exc.column, exc.value, exc.reason + "; row skipped")
            return
        for column, value, reason in dropped:
            run.quarantine.add(line, values["deal_id"], column, value, reason)
        deal_id = values.pop("deal_id")
        values.update(
            source_name=ctx.name,
            crm="csv",
            deal_key=make_key(ctx.name, deal_id),
            origin="crm_history",
        )
        if not values.get("pipeline_id"):
            values["pipeline_id"] = DEFAULT_PIPELINE
        batch.append(values)

    columns = _Columns(run, reader)

    def convert(first_line: int, table: pa.Table) -> list[Any]:
        rows = table.num_rows
        values = columns.read(table, required)
        deal_id = values.pop("deal_id")
        pipeline = values.get("pipeline_id")
        values.update(
            source_name=ctx.name,
            crm="csv",
            deal_key=_key(ctx, deal_id),
            origin="crm_history",
            pipeline_id=DEFAULT_PIPELINE
            if pipeline is None
            else pc.fill_null(pipeline, DEFAULT_PIPELINE),
        )
        return [_variant(StageChange, _assemble(StageChange, rows, values))]

    def flush() -> Iterator[Any]:
        if (table := batch.flush()) is not None:
            yield _variant(StageChange, table)
        yield from run.flush_quarantine()

    yield from _drive(
        run,
        reader,
        options,
        fast_ok=columns.supported,
        extra_indexes=[],
        convert=convert,
        on_row=on_row,
        pending=lambda: batch.rows,
        flush=flush,
    )
    run.remember()


def build_source(ctx: SourceContext) -> DltSource:
    options: CsvOptions = ctx.options  # type: ignore[assignment]
    readers = {
        "deals_file": _deals,
        "stage_history_file": _stage_history if options.stage_history else None,
        "activities_file": _activities if options.activities else None,
        "owners_file": _owners if options.owners else None,
    }

    @dlt.source(name=f"csv_{ctx.name}", max_table_nesting=0)
    def csv_source() -> list[DltResource]:
        # One resource per file, without table hints of its own: every batch it yields is
        # a table variant carrying its canonical table's hints (see _variant), because a
        # deals file also feeds stage_changes, stages, pipelines and quarantine.
        return [
            dlt.resource(read(ctx, options), name=name)
            for name, read in readers.items()
            if read is not None
        ]

    return csv_source()
