"""dlt table hints and Arrow schemas derived from the canonical pydantic models.

Connectors declare a canonical resource with ``@dlt.resource(**canonical_hints(Deal))`` so
the table name, merge key and column types sit in the decorator and can never drift from
``models/canonical.py``. Declaring every column also keeps empty tables typed, so dbt's
staging union works before a CRM has sent a single activity.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dlt
import pyarrow as pa
from pydantic import BaseModel

from models.canonical import CanonicalRow, QuarantinedRecord

_DLT_TYPES: dict[type, str] = {
    str: "text",
    bool: "bool",
    int: "bigint",
    float: "double",
    Decimal: "decimal",
    datetime: "timestamp",
    date: "date",
    dict: "json",
}
_ARROW_TYPES: dict[type, pa.DataType] = {
    str: pa.string(),
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    Decimal: pa.decimal128(38, 9),
    datetime: pa.timestamp("us", tz="UTC"),
    date: pa.date32(),
    dict: pa.string(),
}


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(python type, nullable) for an annotation like ``Decimal | None`` or a Literal."""
    nullable = False
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in args
        annotation = next(a for a in args if a is not type(None))
        origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return type(typing.get_args(annotation)[0]), nullable
    if origin is dict or annotation is dict:
        return dict, nullable
    return annotation, nullable


def model_columns(model: type[BaseModel]) -> dict[str, tuple[type, bool]]:
    return {name: _base_type(f.annotation) for name, f in model.model_fields.items()}


def dlt_columns(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {}
    primary = set(getattr(model, "primary_key", ()))
    for name, (py_type, _nullable) in model_columns(model).items():
        # Only keys are NOT NULL in the warehouse: a CRM that omits a defaulted field must
        # not fail a load; dbt's tests police the rest.
        column: dict[str, Any] = {"data_type": _DLT_TYPES[py_type], "nullable": True}
        if py_type is Decimal:
            column.update(precision=38, scale=9)
        if py_type is datetime:
            column.update(timezone=True)
        if name in primary:
            column.update(nullable=False)
        columns[name] = column
    return columns


def canonical_hints(model: type[CanonicalRow]) -> dict[str, Any]:
    """Keyword arguments for ``@dlt.resource`` that make it a canonical table."""
    return {
        "name": model.table_name,
        "table_name": model.table_name,
        "primary_key": list(model.primary_key),
        "write_disposition": "merge",
        "columns": dlt_columns(model),
    }


def quarantine_hints() -> dict[str, Any]:
    return {
        "name": QuarantinedRecord.table_name,
        "table_name": QuarantinedRecord.table_name,
        "write_disposition": "append",
        "columns": dlt_columns(QuarantinedRecord),
    }


def split_pages(
    pages: Any, model: type[CanonicalRow], *, rows: str, name: str, quarantine_name: str
) -> list[Any]:
    """Two transformers over a resource of ``{rows: [...], "quarantine": [...]}`` pages: the
    canonical table, and the quarantine rows the mapping refused (bad values it dropped,
    records without an id). Two transformers, not one resource with two tables, because
    dlt would copy the canonical table's hints onto the quarantine table."""

    def table_rows(page: dict[str, list[Any]]) -> Any:
        yield page[rows]

    def refused(page: dict[str, list[Any]]) -> Any:
        if page["quarantine"]:
            yield page["quarantine"]

    return [
        dlt.transformer(table_rows, data_from=pages, **{**canonical_hints(model), "name": name}),
        dlt.transformer(
            refused, data_from=pages, **{**quarantine_hints(), "name": quarantine_name}
        ),
    ]


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """Arrow schema for fast bulk paths (the CSV connector yields Arrow tables)."""
    return pa.schema(
        [
            pa.field(
                name,
                _ARROW_TYPES[py_type],
                nullable=nullable or name not in getattr(model, "primary_key", ()),
            )
            for name, (py_type, nullable) in model_columns(model).items()
        ]
    )
