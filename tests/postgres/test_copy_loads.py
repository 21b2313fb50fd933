"""PostgreSQL loads by COPY (``warehouse.load_format: copy``, the default) keep every table,
type, key, nested table and value that loads by INSERT statements keep.

Each test loads the same data twice, into two fresh databases, once by COPY (the hub's
destination, ``hub.warehouse.pg_copy``) and once by dlt's INSERT statements, and compares
everything PostgreSQL then holds; the load packages dlt keeps show which file format each
table was loaded from, so a test cannot pass by loading both through INSERT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest

from hub.warehouse.pg_copy import copy_writers, postgres_copy, postgres_insert, writers_installed
from tests.pg import fresh_database
from tests.postgres.copy_compare import (
    HOSTILE,
    assert_same_tables,
    column_values,
    dlt_credentials,
    loaded_job_formats,
    schema_tables,
)

pytestmark = pytest.mark.postgres

START = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _people(version: int) -> list[dict[str, Any]]:
    """Object rows: hostile text in a plain column, the same as JSON and in a nested list;
    NULL as None and as a missing key; the second version turns some text into NULL and
    some NULL into '', and replaces nested lists (merged on the key)."""
    rows = []
    for i, text in enumerate(HOSTILE):
        row: dict[str, Any] = {
            "id": i,
            "name": text,
            "note": None if i % 3 == 0 else ("" if i % 3 == 1 else f"note {i}"),
            "profile": {
                "text": text.replace("\x00", ""),
                "n": i,
                "list": [text[:10].replace("\x00", ""), None],
            },
            "tags": [text[:50], "", f"tag{i}"] if i % 2 else [],
            "amount": Decimal("1234.5600") * i,
            "score": i / 7,
            "won": i % 2 == 0,
            "at": START + timedelta(days=i, microseconds=i),
        }
        if i % 4 == 3:
            del row["note"]  # dlt writes nothing for a key a row lacks
        if version == 2 and i % 4 == 1:
            row["name"] = None if text else ""
            row["note"] = "" if row.get("note") is None else None
            row["tags"] = [f"new{i}"]
        rows.append(row)
    return rows


def _arrow_rows(version: int) -> pa.Table:
    names = [None if version == 2 and i % 4 == 1 else t for i, t in enumerate(HOSTILE)] + [None, ""]
    n = len(names)
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "name": pa.array(names, pa.string()),
            "big": pa.array([t * 3 if t else t for t in names], pa.large_string()),
            "at": pa.array(
                [START + timedelta(hours=i) for i in range(n)], pa.timestamp("us", "UTC")
            ),
            "amount": pa.array([Decimal(i) / 100 for i in range(n)], pa.decimal128(12, 2)),
            "flag": pa.array([None if i % 5 == 0 else i % 2 == 0 for i in range(n)], pa.bool_()),
        }
    )


def _source(version: int) -> list[Any]:
    people = dlt.resource(
        _people(version), name="people", write_disposition="merge", primary_key="id"
    )
    people.apply_hints(columns={"profile": {"data_type": "json"}})
    arrow = dlt.resource(
        _arrow_rows(version), name="arrow_rows", write_disposition="merge", primary_key="id"
    )
    blob_rows = [{"id": i, "data": bytes([i, 0, 255]) * 3} for i in range(3)] + [{"id": 9}]
    declared = dlt.resource(blob_rows, name="blobs", columns={"data": {"data_type": "binary"}})
    found = dlt.resource(blob_rows, name="found_blobs")  # binary seen only in the rows
    return [people, arrow, declared, found]


def _load(db: dict[str, Any], folder: Path, *, copy: bool) -> None:
    credentials = dlt_credentials(db)
    factory = postgres_copy if copy else postgres_insert
    pipeline = dlt.pipeline(
        pipeline_name="copy_check",
        destination=factory(credentials=credentials),
        dataset_name="src",
        pipelines_dir=str(folder),
    )
    for version in (1, 2):
        if copy:
            with copy_writers():
                pipeline.run(_source(version))
        else:
            pipeline.run(_source(version))
    assert not writers_installed(), "the COPY writers are dlt's again after the block"


def test_copy_and_insert_loads_hold_the_same_tables_and_values(
    tmp_path: Path, pg_server: dict[str, Any]
) -> None:
    with fresh_database(pg_server) as by_copy, fresh_database(pg_server) as by_insert:
        _load(by_copy, tmp_path / "copy", copy=True)
        _load(by_insert, tmp_path / "insert", copy=False)
        copied, inserted = schema_tables(by_copy, "src"), schema_tables(by_insert, "src")

    formats = loaded_job_formats(tmp_path / "copy")
    for table in ("people", "people__tags", "arrow_rows"):
        assert formats[table] == {"csv"}, f"{table} was loaded from {formats[table]}"
    assert formats["blobs"] == {"insert_values"}, "declared binary columns go by INSERT"
    assert "csv" in formats["found_blobs"], "rows with bytes in a new table go by COPY"
    assert set().union(*loaded_job_formats(tmp_path / "insert").values()) == {"insert_values"}

    assert_same_tables(copied, inserted)
    # the comparison saw what it had to: both versions merged, '' and NULL both present
    people, arrow = column_values(copied, "people"), column_values(copied, "arrow_rows")
    assert len(people["id"]) == len(HOSTILE)
    assert "" in people["name"] and None in people["name"]
    assert "" in people["note"] and None in people["note"]
    assert "nulbyte" in people["name"] and "x" * 100_000 in people["name"]
    assert "before\n\\.\nafter" in people["name"] and "before\n\\.\nafter" in arrow["name"]
    assert "" in arrow["name"] and None in arrow["name"] and "" in arrow["big"]
