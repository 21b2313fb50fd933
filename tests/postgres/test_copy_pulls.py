"""``hub pull`` into PostgreSQL by COPY (``warehouse.load_format: copy``, the default) gives
the source tables a pull by INSERT statements gives, for every kind of source: the CSV
export with hostile text in every text column it reads, and each API sandbox.

Both pulls read the same export or the same running sandbox into two fresh databases; every
table of the source's dataset must have the same columns, types, indexes and rows (dlt's
schema version hash included), and dlt's kept load packages show the data tables went by
COPY in one and by INSERT in the other.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.generate import Generated
from hub.pull import run_pull
from models.config import load_config
from tests.harness import sandbox_entry, start_sandbox, stop_quietly, write_hub_yml
from tests.pg import fresh_database, pg_warehouse
from tests.postgres.copy_compare import (
    HOSTILE,
    assert_same_tables,
    column_values,
    loaded_job_formats,
    schema_tables,
)

pytestmark = pytest.mark.postgres

# Written by the hub after dlt's load, stamped with the pull's own time: not a loaded table.
AFTER_LOAD = {"stage_observations"}


def _pull(
    folder: Path, entry: dict[str, Any], db: dict[str, Any], load_format: str, files: Path | None
) -> None:
    if files is not None:  # a CSV export: its files beside hub.yml
        shutil.copytree(files, folder, dirs_exist_ok=True)
    warehouse = {**pg_warehouse(db), "load_format": load_format}
    config = load_config(write_hub_yml(folder, {"sources": [entry], "warehouse": warehouse}))
    (run,) = run_pull(config)
    assert run.status == "ok", run.error


def _compare(
    tmp_path: Path, entry: dict[str, Any], pg_server: dict[str, Any], files: Path | None = None
) -> dict[str, Any]:
    """Pull ``entry`` by COPY and by INSERT; compare; return the COPY database's tables."""
    name = entry["name"]
    with fresh_database(pg_server) as by_copy, fresh_database(pg_server) as by_insert:
        for load_format, db in (("copy", by_copy), ("insert", by_insert)):
            _pull(tmp_path / load_format, entry, db, load_format, files)
        copied = schema_tables(by_copy, f"src_{name}")
        inserted = schema_tables(by_insert, f"src_{name}")
    for tables in (copied, inserted):
        for table in AFTER_LOAD & set(tables):
            del tables[table]
    assert_same_tables(copied, inserted)

    by_copy_formats = loaded_job_formats(tmp_path / "copy")
    data_tables = [t for t in copied if not t.startswith("_dlt")]
    assert data_tables
    for table in data_tables:
        if table in by_copy_formats:  # a table the connector wrote itself has no file
            assert by_copy_formats[table] == {"csv"}, f"{table}: {by_copy_formats[table]}"
    assert len(set(data_tables) & set(by_copy_formats)) >= 5
    inserted_formats = set().union(*loaded_job_formats(tmp_path / "insert").values())
    assert inserted_formats == {"insert_values"}
    return copied


# Text the CSV connector keeps in plain columns, and text it keeps in custom_fields (JSON).
PLAIN = {
    "deals.csv": ["deal_name"],
    "owners.csv": ["name"],
    "accounts.csv": ["name"],
    "activities.csv": ["subject"],
}
CUSTOM = {"deals.csv": ["lead_source", "lost_reason"]}


def _hostile(export: Path, columns: dict[str, list[str]], corpus: list[str]) -> None:
    for file_name, names in columns.items():
        path = export / file_name
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        fields = list(rows[0])
        for i, row in enumerate(rows):
            for j, column in enumerate(names):
                row[column] = corpus[(i + j) % len(corpus)]
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


def test_a_csv_pull_by_copy_equals_one_by_insert_with_hostile_text(
    tmp_path: Path, small_export: Generated, pg_server: dict[str, Any]
) -> None:
    export = tmp_path / "export"
    shutil.copytree(small_export.export.out_dir, export)
    _hostile(export, PLAIN, HOSTILE)
    # A NUL in JSON fails a load by INSERT (jsonb refuses \u0000): the next test
    _hostile(export, CUSTOM, [t for t in HOSTILE if "\x00" not in t])
    (entry,) = yaml.safe_load((export / "hub.yml").read_text())["sources"]
    copied = _compare(tmp_path, entry, pg_server, files=export)

    names = column_values(copied, "deals")["name"]
    assert "nulbyte" in names and "x" * 100_000 in names
    assert "comma, \"quoted\", 'single'" in names and "before\n\\.\nafter" in names
    assert "ünïcödé ✓ 中文 🚀 \u202eevil override" in names
    custom = column_values(copied, "deals")["custom_fields"]
    assert any(c and "before\n\\.\nafter" in c.values() for c in custom)


def test_a_nul_in_a_custom_field_is_dropped_by_copy_as_in_text(
    tmp_path: Path, small_export: Generated, pg_database: dict[str, Any]
) -> None:
    export = tmp_path / "export"
    shutil.copytree(small_export.export.out_dir, export)
    _hostile(export, CUSTOM, ["nul\x00byte", "\x00", "a\\u0000b"])
    (entry,) = yaml.safe_load((export / "hub.yml").read_text())["sources"]
    _pull(tmp_path / "copy", entry, pg_database, "copy", export)
    tables = schema_tables(pg_database, f"src_{entry['name']}")
    values = {v for c in column_values(tables, "deals")["custom_fields"] if c for v in c.values()}
    assert {"nulbyte", "", "a\\u0000b"} <= values  # an escaped backslash stays as it was


@pytest.fixture(scope="module", params=["hubspot", "pipedrive", "salesforce"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Any]:
    server = start_sandbox(request.param, n_deals=60, seed=5, source_index=0, n_sources=1)
    yield server
    stop_quietly([server])


def test_an_api_pull_by_copy_equals_one_by_insert(
    tmp_path: Path, sandbox: Any, pg_server: dict[str, Any]
) -> None:
    entry = sandbox_entry(sandbox, "api")
    copied = _compare(tmp_path, entry, pg_server)
    assert len(column_values(copied, "deals")["deal_key"]) == 60
