"""Turning CSV cells into canonical rows, and bad cells into quarantine records.

A bad key, status or required value quarantines the row; a bad optional value drops just
that value and is recorded, so the rest of the row still loads. Rows are gathered into
column lists and handed to dlt as Arrow tables, which is what keeps 1M-row files fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import pyarrow as pa

from connectors.canonical_tables import arrow_schema
from connectors.csv import parsing
from connectors.csv.options import CsvFile
from connectors.csv.reading import FileFacts
from models.canonical import CanonicalRow, QuarantinedRecord
from models.errors import InputError


class RowRejected(Exception):
    def __init__(self, column: str | None, value: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column, self.value, self.reason = column, value, reason


@dataclass
class Quarantine:
    """Collects quarantine records for one file."""

    source_name: str
    crm: str
    entity: str
    file_name: str
    quarantined_at: datetime
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, line: int, record_id: str | None, column: str | None, value: str | None, reason: str
    ) -> None:
        self.records.append(
            QuarantinedRecord(
                source_name=self.source_name,
                crm=self.crm,
                entity=self.entity,
                record_id=record_id,
                location=f"{self.file_name}:{line}",
                column_name=column,
                value=None if value is None else value[:500],
                reason=reason,
                quarantined_at=self.quarantined_at,
            ).model_dump()
        )


def _parser_for(py_type: type, spec: CsvFile) -> Callable[[str], Any] | None:
    tz = parsing.zone(spec.timezone)
    if py_type is datetime:
        return parsing.timestamp_parser(spec.date_format, day_first=spec.day_first, tz=tz)
    if py_type is date:
        return parsing.date_parser(spec.date_format, day_first=spec.day_first, tz=tz)
    if py_type is Decimal:
        return _stored_decimal(parsing.decimal_parser(spec.decimal_separator))
    if py_type is float:
        return parsing.float_parser(spec.decimal_separator)
    if py_type is int:
        return parsing.int_parser(spec.decimal_separator)
    if py_type is bool:
        return parsing.parse_bool
    return None


# Canonical decimals are stored as decimal(38, 9): 29 digits before the point, 9 after.
DECIMAL_PLACES = Decimal("1e-9")
DECIMAL_INTEGER_DIGITS = 29
_WIDE = Context(prec=80)


def _stored_decimal(parse: Callable[[str], Decimal]) -> Callable[[str], Decimal]:
    """Exports write computed amounts with more than 9 decimal places (a third of a price,
    a converted currency): they are rounded half-even to the 9 the warehouse keeps, where
    Arrow would fail the whole file. A number too long for the column is a bad value."""

    def parse_stored(text: str) -> Decimal:
        value = parse(text)
        if value.adjusted() >= DECIMAL_INTEGER_DIGITS:
            raise parsing.BadValue(
                f"number too large to store (more than {DECIMAL_INTEGER_DIGITS} digits "
                "before the decimal point)"
            )
        return value.quantize(DECIMAL_PLACES, rounding=ROUND_HALF_EVEN, context=_WIDE)

    return parse_stored


@dataclass
class FieldReader:
    name: str
    index: int | None
    default: str | None
    parse: Callable[[str], Any] | None
    value_map: dict[str, str] | None


class RowReader:
    """Reads one file's rows into canonical field values by its column mapping."""

    def __init__(
        self,
        spec: CsvFile,
        facts: FileFacts,
        header: list[str],
        field_types: dict[str, type],
        *,
        extra_fields: Mapping[str, type] | None = None,
    ) -> None:
        self.spec = spec
        self.facts = facts
        self.header = header
        self.width = len(header)
        positions = {name: i for i, name in enumerate(header)}
        lowered = {name.lower(): i for i, name in enumerate(header)}
        missing = [
            (canonical, column)
            for canonical, column in spec.columns.items()
            if column not in positions and column.lower() not in lowered
        ]
        if missing:
            wanted = ", ".join(f"{col!r} (for {canon})" for canon, col in missing)
            raise InputError(
                f"{facts.path}: missing column(s) {wanted}; the file has: {', '.join(header)}. "
                "Fix the column names under 'columns:' in hub.yml"
            )
        types = {**field_types, **(extra_fields or {})}
        self.types = types
        self.fields: list[FieldReader] = []
        for name in sorted(set(spec.columns) | set(spec.defaults)):
            column = spec.columns.get(name)
            index = None
            if column is not None:
                index = positions.get(column, lowered.get(column.lower()))
            self.fields.append(
                FieldReader(
                    name=name,
                    index=index,
                    default=spec.defaults.get(name),
                    parse=_parser_for(types.get(name, str), spec),
                    value_map=spec.value_maps.get(name),
                )
            )

        self._plan = [(f.name, f.index, f.default, f.parse, f.value_map) for f in self.fields]

    def column_of(self, name: str) -> str | None:
        return self.spec.columns.get(name)

    def read(
        self,
        line: int,
        cells: list[str],
        required: tuple[str, ...],
        dropped: list[tuple[str, str, str]],
    ) -> dict[str, Any]:
        """Values by canonical field; raises RowRejected for a required field, appends
        ``(column, value, reason)`` to ``dropped`` for an optional one. (The hot loop of a
        million-row file: plain tuples, no attribute lookups.)"""
        if len(cells) != self.width:
            raise RowRejected(
                None,
                self.facts.delimiter.join(cells)[:200],
                f"row has {len(cells)} fields but the header has {self.width}; "
                "check quoting and delimiters on this line",
            )
        out: dict[str, Any] = {}
        for name, index, default, parse, value_map in self._plan:
            raw = cells[index].strip() if index is not None else ""
            if not raw and default is not None:
                raw = default
            if value_map is not None and raw in value_map:
                raw = value_map[raw]
            if not raw:
                if name in required:
                    raise RowRejected(
                        self.column_of(name) or name, "", f"required value '{name}' is empty"
                    )
                out[name] = None
            elif parse is None:
                out[name] = raw
            else:
                try:
                    out[name] = parse(raw)
                except parsing.BadValue as exc:
                    column = self.column_of(name) or name
                    if name in required:
                        raise RowRejected(column, raw, str(exc)) from None
                    dropped.append((column, raw, f"{exc}; the row was loaded without this value"))
                    out[name] = None
        return out


class ArrowBatch:
    """Rows for one canonical table, flushed as Arrow tables of ``chunk_rows``."""

    def __init__(self, model: type[CanonicalRow] | type[QuarantinedRecord]) -> None:
        self.model = model
        self.schema = arrow_schema(model)
        self._rows: list[dict[str, Any]] = []

    @property
    def rows(self) -> int:
        return len(self._rows)

    def append(self, row: dict[str, Any]) -> None:
        self._rows.append(row)

    def flush(self) -> pa.Table | None:
        if not self._rows:
            return None
        table = pa.Table.from_pylist(self._rows, schema=self.schema)
        self._rows = []
        return table
