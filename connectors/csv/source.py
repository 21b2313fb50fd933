"""The dlt source of a ``kind: csv`` source: export files -> canonical tables.

One resource per file. The deals file also yields what it implies: stage events from its
date columns (origin ``derived``), the pipelines and stages it names, and quarantine
records. Every batch goes to its canonical table as a dlt table variant that carries that
table's hints. A file whose
fingerprint matches the last successful load is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource, DltSource

from connectors.base import SourceContext
from connectors.canonical_tables import canonical_hints, model_columns, quarantine_hints
from connectors.csv.options import CsvFile, CsvOptions
from connectors.csv.parsing import timestamp_parser, zone
from connectors.csv.reading import FileFacts, inspect_file, read_header, read_rows
from connectors.csv.rows import (
    ArrowBatch,
    Quarantine,
    RowReader,
    RowRejected,
    normalize_activity_type,
    normalize_status,
)
from models.canonical import (
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


def _variant(model: type[CanonicalRow] | type[QuarantinedRecord], table: pa.Table) -> Any:
    hints = quarantine_hints() if model is QuarantinedRecord else canonical_hints(model)  # type: ignore[arg-type]
    hints.pop("name")
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


def _deals(ctx: SourceContext, options: CsvOptions) -> Iterator[Any]:
    spec = options.deals
    run = _FileRun(ctx, spec, "deals")
    if run.unchanged():
        return
    reader = run.reader(Deal)
    deals, events = ArrowBatch(Deal), ArrowBatch(StageChange)
    stages: dict[tuple[str, str], dict[str, Any]] = {}
    seen: dict[str, int] = {}
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
    for line, cells in read_rows(run.facts):
        dropped: list[tuple[str, str, str]] = []
        record_id = None
        try:
            values = reader.read(line, cells, ("source_deal_id",), dropped)
            record_id = values["source_deal_id"]
            if record_id in seen:
                raise RowRejected(
                    reader.column_of("source_deal_id"), record_id,
                    f"duplicate deal id; first seen on line {seen[record_id]}, this row is skipped",
                )
            stage_id = values.get("stage_id")
            if values.get("status") is None and stage_id in spec.status_from_stage:
                values["status"] = spec.status_from_stage[stage_id]
            values["status"] = normalize_status(values.get("status"))
            _check_amount(values, options, reader, dropped)
            _check_probability(values, reader, dropped)
            if values.get("currency"):
                currency = str(values["currency"]).strip().upper()
                if len(currency) != 3 or not currency.isalpha():
                    dropped.append((reader.column_of("currency") or "currency", values["currency"],
                                    "not a 3-letter currency code; the row was loaded without it"))
                    currency = None
                values["currency"] = currency
        except RowRejected as exc:
            run.quarantine.add(line, record_id, exc.column, exc.value, exc.reason + "; row skipped")
            continue
        seen[record_id] = line
        for column, value, reason in dropped:
            run.quarantine.add(line, record_id, column, value, reason)
        pipeline_id = values.get("pipeline_id") or DEFAULT_PIPELINE
        deal_key = make_key(ctx.name, record_id)
        values.update(
            source_name=ctx.name, crm="csv", deal_key=deal_key, pipeline_id=pipeline_id,
            is_deleted=False,
            custom_fields=(
                {c: cells[i] for c, i in custom_idx.items()} if custom_idx else None
            ),
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
                run.quarantine.add(line, record_id, header[index], raw,
                                   f"{exc}; no stage event derived from it")
                continue
            events.append({
                "source_name": ctx.name, "crm": "csv", "deal_key": deal_key,
                "changed_at": changed_at, "stage_id": stage, "pipeline_id": pipeline_id,
                "origin": "derived",
            })
            stages.setdefault((pipeline_id, stage), {"status": "open"})
        if deals.rows >= options.chunk_rows:
            yield _variant(Deal, deals.flush())  # type: ignore[arg-type]
            if (table := events.flush()) is not None:
                yield _variant(StageChange, table)
            yield from run.flush_quarantine()
    if (table := deals.flush()) is not None:
        yield _variant(Deal, table)
    if (table := events.flush()) is not None:
        yield _variant(StageChange, table)
    yield from run.flush_quarantine()
    yield from _stage_catalogue(ctx, spec, stages)
    run.remember()


def _check_amount(values: dict[str, Any], options: CsvOptions, reader: RowReader,
                  dropped: list[tuple[str, str, str]]) -> None:
    amount = values.get("amount")
    if amount is None:
        return
    column = reader.column_of("amount") or "amount"
    if amount < 0:
        dropped.append((column, str(amount), "negative amount; the row was loaded without it"))
        values["amount"] = None
    elif amount > options.max_amount:
        dropped.append((column, str(amount),
                        f"amount above max_amount {options.max_amount:,.0f}; loaded without it"))
        values["amount"] = None


def _check_probability(values: dict[str, Any], reader: RowReader,
                       dropped: list[tuple[str, str, str]]) -> None:
    value = values.get("probability")
    if value is None:
        return
    if value > 1:
        value = value / 100  # exports write 35 for 35 %
    if not 0 <= value <= 1:
        dropped.append((reader.column_of("probability") or "probability", str(values["probability"]),
                        "probability outside 0-100 %; the row was loaded without it"))
        value = None
    values["probability"] = value


def _stage_catalogue(ctx: SourceContext, spec: Any, seen: dict[tuple[str, str], dict[str, Any]]
                     ) -> Iterator[Any]:
    """CSV exports rarely ship stage metadata; the stages the data names are the catalogue."""
    if not seen:
        return
    stages, pipelines = ArrowBatch(Stage), ArrowBatch(Pipeline)
    for pipeline_id in sorted({p for p, _ in seen}):
        pipelines.append({"source_name": ctx.name, "crm": "csv",
                          "pipeline_key": make_key(ctx.name, pipeline_id),
                          "pipeline_id": pipeline_id, "label": pipeline_id, "is_deleted": False})
    for (pipeline_id, stage_id), facts in sorted(seen.items()):
        status = spec.status_from_stage.get(stage_id)
        stages.append({
            "source_name": ctx.name, "crm": "csv",
            "stage_key": make_key(ctx.name, f"{pipeline_id}:{stage_id}"),
            "pipeline_id": pipeline_id, "stage_id": stage_id, "label": stage_id,
            "is_closed": status in ("won", "lost"), "is_won": status == "won", "is_deleted": False,
        })
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
    for line, cells in read_rows(run.facts):
        dropped: list[tuple[str, str, str]] = []
        record_id = None
        try:
            values = reader.read(line, cells, ("source_activity_id",), dropped)
            record_id = values["source_activity_id"]
            if record_id in seen:
                raise RowRejected(reader.column_of("source_activity_id"), record_id,
                                  "duplicate activity id; this row is skipped")
        except RowRejected as exc:
            run.quarantine.add(line, record_id, exc.column, exc.value, exc.reason + "; row skipped")
            continue
        seen.add(record_id)
        for column, value, reason in dropped:
            run.quarantine.add(line, record_id, column, value, reason)
        deal_id = values.pop("deal_id", None)
        values.update(
            source_name=ctx.name, crm="csv", activity_key=make_key(ctx.name, record_id),
            deal_key=make_key(ctx.name, deal_id) if deal_id else None,
            type=normalize_activity_type(values.get("type")), is_deleted=False,
        )
        batch.append(values)
        if batch.rows >= options.chunk_rows:
            yield _variant(Activity, batch.flush())  # type: ignore[arg-type]
            yield from run.flush_quarantine()
    if (table := batch.flush()) is not None:
        yield _variant(Activity, table)
    yield from run.flush_quarantine()
    run.remember()


def _owners(ctx: SourceContext, options: CsvOptions) -> Iterator[Any]:
    spec = options.owners
    assert spec is not None
    run = _FileRun(ctx, spec, "owners")
    if run.unchanged():
        return
    reader = run.reader(Owner)
    batch = ArrowBatch(Owner)
    for line, cells in read_rows(run.facts):
        dropped: list[tuple[str, str, str]] = []
        try:
            values = reader.read(line, cells, ("source_owner_id",), dropped)
        except RowRejected as exc:
            run.quarantine.add(line, None, exc.column, exc.value, exc.reason + "; row skipped")
            continue
        for column, value, reason in dropped:
            run.quarantine.add(line, values["source_owner_id"], column, value, reason)
        values.update(source_name=ctx.name, crm="csv",
                      owner_key=make_key(ctx.name, values["source_owner_id"]))
        if values.get("is_active") is None:
            values["is_active"] = True
        batch.append(values)
    if (table := batch.flush()) is not None:
        yield _variant(Owner, table)
    yield from run.flush_quarantine()
    run.remember()


def _stage_history(ctx: SourceContext, options: CsvOptions) -> Iterator[Any]:
    spec = options.stage_history
    assert spec is not None
    run = _FileRun(ctx, spec, "stage_changes")
    if run.unchanged():
        return
    reader = run.reader(StageChange, extra={"deal_id": str})
    batch = ArrowBatch(StageChange)
    for line, cells in read_rows(run.facts):
        dropped: list[tuple[str, str, str]] = []
        try:
            values = reader.read(line, cells, ("deal_id", "stage_id", "changed_at"), dropped)
        except RowRejected as exc:
            run.quarantine.add(line, None, exc.column, exc.value, exc.reason + "; row skipped")
            continue
        for column, value, reason in dropped:
            run.quarantine.add(line, values["deal_id"], column, value, reason)
        deal_id = values.pop("deal_id")
        values.update(source_name=ctx.name, crm="csv", deal_key=make_key(ctx.name, deal_id),
                      origin="crm_history")
        if not values.get("pipeline_id"):
            values["pipeline_id"] = DEFAULT_PIPELINE
        batch.append(values)
        if batch.rows >= options.chunk_rows:
            yield _variant(StageChange, batch.flush())  # type: ignore[arg-type]
    if (table := batch.flush()) is not None:
        yield _variant(StageChange, table)
    yield from run.flush_quarantine()
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
