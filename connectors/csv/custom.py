"""The columns a CSV file keeps in ``custom_fields``: which, under what name, in what type.

``custom_fields`` holds JSON with each value in its type (numbers as numbers, booleans as
booleans, dates and timestamps as ISO text, enums as their label): a cell is read the way
the file reads its other values (its ``decimal_separator``, ``date_format``, ``day_first``
and ``timezone``) and typed by :func:`connectors.values.custom_value`, the rule every
connector shares. A value that does not fit its declared type is left out of the row's
``custom_fields`` and quarantined with file, line and column; the rest of the row loads.
Inferred types (:mod:`connectors.csv.infer`) fit every value by construction.

Both paths write the same text, ``{"name":value,...}`` in column order, empty values left
out, null when no value is left: the row path per row, the fast path per distinct value of
a block's column (any value that would be quarantined sends the block to the row path).
Every file read also yields a ``field_definitions`` row per column.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.csv.fast import NotClean, trim
from connectors.csv.infer import infer_types
from connectors.csv.options import CsvFile, CustomField, CustomFieldType, HasCustomFields
from connectors.csv.parsing import date_parser, decimal_parser, timestamp_parser, zone
from connectors.csv.reading import FileFacts
from connectors.csv.rows import ArrowBatch
from connectors.values import BadValue, custom_value, field_column
from models.canonical import FieldDefinition, field_key
from models.errors import InputError

Parse = Callable[[str], Any]  # a trimmed, non-empty cell -> its JSON value; raises BadValue


@dataclass(frozen=True)
class CustomColumn:
    header: str  # the file's column: source_field, and the column of quarantine records
    index: int
    name: str  # the key in custom_fields
    label: str
    data_type: str
    parse: Parse

    @property
    def key(self) -> str:
        return json.dumps(self.name, ensure_ascii=False) + ":"

    def fragment(self, raw: str) -> str | None:
        """``"name":value`` of a trimmed cell (None if empty); BadValue if it does not fit."""
        return self.key + _json(self.parse(raw)) if raw else None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class CustomFields:
    """One file's custom columns: their JSON per row or per block, and their definitions."""

    def __init__(self, columns: list[CustomColumn], source_name: str, entity: str) -> None:
        self.columns, self.source_name, self.entity = columns, source_name, entity
        self.indexes = tuple(c.index for c in columns)

    def row(self, cells: list[str], dropped: list[tuple[str, str, str]]) -> str | None:
        """The row's custom_fields; a value that does not fit its type goes to ``dropped``."""
        parts = []
        for column in self.columns:
            raw = cells[column.index].strip()
            if not raw:
                continue
            try:
                value = column.parse(raw)
            except BadValue as exc:
                reason = (
                    f"{exc}; custom field {column.name!r} is {column.data_type}, "
                    "the row was loaded without this value"
                )
                dropped.append((column.header, raw, reason))
                continue
            parts.append(column.key + _json(value))
        return "{" + ",".join(parts) + "}" if parts else None

    def block(self, table: pa.Table) -> pa.Array:
        """The block's custom_fields, or NotClean if a value would be quarantined."""
        fragments = []
        for column in self.columns:
            text = trim(table.column(f"c{column.index}").combine_chunks())
            encoded = pc.dictionary_encode(text)
            out: list[str | None] = []
            for raw in encoded.dictionary.to_pylist():
                try:
                    out.append(column.fragment(raw))
                except BadValue:
                    reason = f"custom field {column.name}: a value not {column.data_type}"
                    raise NotClean(reason) from None
            fragments.append(pc.take(pa.array(out, pa.string()), encoded.indices))
        if len(fragments) == 1:  # Arrow 26 drops the nulls of a lone array instead
            joined = pc.fill_null(fragments[0], "")
        else:
            joined = pc.binary_join_element_wise(*fragments, ",", null_handling="skip")
        wrapped = pc.binary_join_element_wise("{", joined, "}", "")
        return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), wrapped)

    def definitions(self) -> pa.Table:
        batch = ArrowBatch(FieldDefinition)
        for column in self.columns:
            batch.append(
                {
                    "source_name": self.source_name,
                    "crm": "csv",
                    "field_key": field_key(self.source_name, self.entity, column.name),
                    "entity": self.entity,
                    "column_name": column.name,
                    "source_field": column.header,
                    "label": column.label,
                    "data_type": column.data_type,
                }
            )
        table = batch.flush()
        assert table is not None  # built only with columns
        return table


def custom_columns(
    file: CsvFile,
    facts: FileFacts,
    header: list[str],
    *,
    fast_path: bool,
    chunk_rows: int,
) -> list[CustomColumn]:
    """The custom columns ``file`` declares, found in ``header``, their types settled
    (inferring those declared ``infer`` from the file)."""
    if not isinstance(file, HasCustomFields):
        return []
    named, rest = file.custom_columns()
    chosen = _named(named, header, facts)
    if rest is not None:
        taken = {index for index, _ in chosen}
        used = {c.lower() for c in file.used_columns()}
        chosen += [
            (index, CustomField(type=rest))
            for index, column in enumerate(header)
            if column and index not in taken and column.lower() not in used
        ]
    to_infer = [index for index, spec in chosen if spec.type == "infer"]
    inferred = {}
    if to_infer:
        inferred = infer_types(
            facts,
            len(header),
            to_infer,
            decimal_separator=file.decimal_separator,
            fast_path=fast_path,
            chunk_rows=chunk_rows,
            check_encoding=file.encoding is not None,
        )
    columns: list[CustomColumn] = []
    by_name: dict[str, str] = {}
    for index, spec in chosen:
        column = header[index]
        name = field_column(spec.name or column)
        if name in by_name:
            raise InputError(
                f"{facts.path}: custom_fields: columns {by_name[name]!r} and {column!r} would "
                f"both be kept as {name!r}; give one another name, e.g. "
                f"custom_fields: {{{column!r}: {{name: ...}}}}"
            )
        by_name[name] = column
        data_type = inferred.get(index, spec.type)
        parse = value_parser(data_type, file, spec.values, iso_only=spec.type == "infer")
        columns.append(CustomColumn(column, index, name, spec.label or column, data_type, parse))
    return columns


def _named(
    named: dict[str, CustomField], header: list[str], facts: FileFacts
) -> list[tuple[int, CustomField]]:
    positions = {column: i for i, column in enumerate(header)}
    lowered = {column.lower(): i for i, column in enumerate(header)}
    missing = [c for c in named if c not in positions and c.lower() not in lowered]
    if missing:
        raise InputError(
            f"{facts.path}: custom_fields: no column(s) {', '.join(map(repr, missing))}; "
            f"the file has: {', '.join(header)}. Fix the names under 'custom_fields:' in hub.yml"
        )
    return [(positions.get(c, lowered.get(c.lower(), -1)), spec) for c, spec in named.items()]


def value_parser(
    data_type: CustomFieldType | str,
    file: CsvFile,
    values: list[str] | None = None,
    *,
    iso_only: bool = False,
) -> Parse:
    """How a cell becomes a value of ``data_type``: read as the file reads its values,
    typed by ``custom_value``. Inferred types saw ISO dates, so they ignore date_format."""
    tz = zone(file.timezone)
    date_format = None if iso_only else file.date_format
    if data_type == "number":
        to_decimal = decimal_parser(file.decimal_separator)
        return lambda raw: custom_value(str(to_decimal(raw)), "number")
    if data_type == "date":
        to_date = date_parser(date_format, day_first=file.day_first, tz=tz)
        return lambda raw: custom_value(to_date(raw), "date")
    if data_type == "datetime":
        to_timestamp = timestamp_parser(date_format, day_first=file.day_first, tz=tz)
        return lambda raw: custom_value(to_timestamp(raw), "datetime")
    if data_type == "bool":
        return lambda raw: custom_value(raw, "bool")
    if data_type == "enum" and values is not None:
        return _enum_parser(values)
    return lambda raw: custom_value(raw, "text")


def _enum_parser(labels: list[str]) -> Parse:
    by_lower = {label.lower(): label for label in labels}

    def parse(raw: str) -> str:
        try:
            return by_lower[raw.lower()]
        except KeyError:
            raise BadValue(f"{raw!r} is not one of {', '.join(labels)}") from None

    return parse
