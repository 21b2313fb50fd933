"""PostgreSQL loads with COPY: dlt's ``csv`` loader files, written and read so that every
value arrives exactly as dlt's INSERT statements deliver it.

dlt's postgres destination loads Python rows (the API sources) by INSERT statements, which
the server parses value by value, and Arrow tables (the CSV source) from ``csv`` files by
``COPY ... FROM STDIN``. As shipped (dlt 1.31) that COPY loses what INSERT keeps:

- Its COPY job reads a quoted empty value as NULL in every nullable column
  (``FORCE_NULL``), so an empty string became NULL; its object writer quotes ``None``
  like ``''``, so Python rows could not go by COPY at all. Here NULL is always an unquoted
  empty field, text is always quoted, and ``FORCE_NULL`` is kept only for columns that
  are not text (where ``""`` can mean nothing else).
- A NUL byte makes COPY fail the whole file; INSERT statements drop it (dlt's literal
  escaping). Both writers drop it here too, and the ``\\u0000`` escape in JSON values, which
  jsonb refuses (by INSERT too: a custom field holding a NUL failed every pull).
- ``bytes`` were written as decoded text. The object writer writes bytea's hex form, as
  INSERT does; Arrow's writer cannot, so a table known to have a binary column is loaded
  with INSERT statements.

dlt gzips every load file at gzip's default level 9, which took 20 of the 26 seconds of
normalize in a 100,000-deal CSV pull (profiled); COPY's files are gzipped at level 1 (8x
faster, 1.3x larger), so the load packages dlt keeps take about the disk they took before.

The writers replace dlt's own ``csv`` writers only while ``copy_writers()`` is entered (a
pull on PostgreSQL), so other destinations in the process keep dlt's. The file format
selector picks ``csv`` only where these writers are in place, so a normalize that runs
without them (another process, say) falls back to INSERT rather than writing lossy files.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dlt.common.data_writers import writers as dlt_writers
from dlt.common.data_writers.writers import ArrowToCsvWriter, CsvWriter
from dlt.common.destination import DestinationCapabilitiesContext, DestinationReference
from dlt.common.destination.client import (
    FollowupJobRequest,
    HasFollowupJobs,
    PreparedTableSchema,
    RunnableLoadJob,
)
from dlt.common.json import json
from dlt.common.schema.utils import is_nullable_column
from dlt.common.storages.file_storage import FileStorage
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations.impl.postgres.factory import postgres
from dlt.destinations.impl.postgres.postgres import PostgresClient

from hub.warehouse.pg_merge import SkipUnchangedMergeJob

# The one CSV dialect both sides agree on, whatever dlt's csv_format config says.
DELIMITER = ","
ENCODING = "utf-8"
DIALECT: dict[str, Any] = {
    "delimiter": DELIMITER,
    "include_header": True,
    "quoting": "quote_needed",
    "encoding": ENCODING,
    "encoding_errors": "strict",
}


class _Null(float):
    """Written as an unquoted empty field: the csv module leaves numbers unquoted under
    QUOTE_NONNUMERIC and writes ``str(value)``, while it quotes ``None`` like ``''``."""

    def __str__(self) -> str:
        return ""

    __repr__ = __str__


NULL = _Null()


def _fast_gzip(f: Any) -> None:
    """Level 1 for a gzip file dlt opened and nothing was written to yet (see above)."""
    if isinstance(f, gzip.GzipFile) and f.mode == gzip.WRITE and f.tell() == 0:
        f.compress = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)


# A JSON \u0000 escape not itself escaped (an even number of backslashes before it).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_without_nul(text: str) -> str:
    """jsonb refuses ``\\u0000`` (and with it the whole file): drop it, as text drops NUL."""
    return _JSON_NUL.sub(r"\1", text) if "\\u0000" in text else text


class CopyCsvWriter(CsvWriter):
    """dlt's object csv writer, with NULL unquoted, text quoted and NUL bytes dropped."""

    def __init__(self, f: Any, caps: Any = None, **_: Any) -> None:
        _fast_gzip(f)
        super().__init__(f, caps, lineterminator="\n", **DIALECT)

    def write_header(self, columns_schema: Any) -> None:
        super().write_header(columns_schema)
        self.writer.restval = NULL  # dlt leaves a NULL value out of its row: a missing key
        # JSON and bytes are rendered here, before NULL stands in for None, so the parent
        # converts nothing.
        self._json, self.nested_indices, self.bytes_indices = self.nested_indices, [], []

    def write_data(self, items: Sequence[Any]) -> None:
        for row in items:
            for key in self._json:  # as the INSERT writer renders them (dlt's json.dumps)
                if (value := row.get(key)) is not None:
                    row[key] = json_without_nul(
                        value if isinstance(value, str) else json.dumps(value)
                    )
            for key, value in row.items():
                if value is None:
                    row[key] = NULL
                elif type(value) is str:
                    if "\x00" in value:
                        row[key] = value.replace("\x00", "")
                elif isinstance(value, bytes):  # bytea's hex input, as INSERT writes it
                    row[key] = "\\x" + value.hex()
        super().write_data(items)


class CopyArrowCsvWriter(ArrowToCsvWriter):
    """dlt's Arrow csv writer (NULL unquoted, strings quoted already), NUL bytes dropped."""

    def __init__(self, f: Any, caps: Any = None, **_: Any) -> None:
        _fast_gzip(f)
        super().__init__(f, caps, **DIALECT)

    def write_header(self, columns_schema: Any) -> None:
        super().write_header(columns_schema)
        self._json = {name for name, c in columns_schema.items() if c["data_type"] == "json"}

    def write_data(self, items: Sequence[Any]) -> None:
        super().write_data([_drop_nul(item, self._json) for item in items])


def _drop_nul(table: Any, json_columns: set[str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = list(table.columns)
    changed = False
    for i, column in enumerate(columns):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        if table.schema.names[i] in json_columns:  # JSON text: the escape, not the byte
            if pc.any(pc.match_substring(column, "\\u0000")).as_py():
                values = [None if v is None else json_without_nul(v) for v in column.to_pylist()]
                columns[i] = pa.array(values, column.type)
                changed = True
        elif pc.any(pc.match_substring(column, "\x00")).as_py():
            columns[i] = pc.replace_substring(column, "\x00", "")
            changed = True
    if not changed:
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(columns, schema=table.schema)
    return pa.Table.from_arrays(columns, schema=table.schema)


_REPLACED: dict[type, type] = {CsvWriter: CopyCsvWriter, ArrowToCsvWriter: CopyArrowCsvWriter}


def _swap(mapping: dict[type, type]) -> None:
    """Point dlt's writer registry (by spec, list, native writers) at ``mapping``'s values."""
    registry = dlt_writers.ALL_WRITERS
    registry[:] = [mapping.get(w, w) for w in registry]
    for spec, writer in list(dlt_writers.WRITER_SPECS.items()):
        dlt_writers.WRITER_SPECS[spec] = mapping.get(writer, writer)
    for item_format, native in list(dlt_writers.NATIVE_FORMAT_WRITERS.items()):
        dlt_writers.NATIVE_FORMAT_WRITERS[item_format] = tuple(mapping.get(w, w) for w in native)


@contextmanager
def copy_writers() -> Iterator[None]:
    """dlt writes ``csv`` files with the writers above while the block runs."""
    if writers_installed():  # entered already: the outer block puts them back
        yield
        return
    _swap(dict(_REPLACED))
    try:
        yield
    finally:
        _swap({new: old for old, new in _REPLACED.items()})


def writers_installed() -> bool:
    return dlt_writers.WRITER_SPECS.get(CsvWriter.writer_spec()) is CopyCsvWriter


def select_file_format(
    preferred: str, supported: Sequence[str], /, *, table_schema: Any
) -> tuple[str, Sequence[str]]:
    """``csv`` (COPY) for a table, unless the writers above are not in place in this process
    or the table has a binary column: then INSERT statements, as before."""
    columns = (table_schema.get("columns") or {}).values()
    if writers_installed() and not any(c.get("data_type") == "binary" for c in columns):
        return "csv", supported
    return "insert_values", [f for f in supported if f != "csv"]


class CopyCsvJob(RunnableLoadJob, HasFollowupJobs):
    """``COPY <table> (<header columns>) FROM STDIN`` of one file the writers above wrote."""

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self._job_client: PostgresClient = None  # type: ignore[assignment]

    def run(self) -> None:
        sql_client = self._job_client.sql_client
        table = self.load_table_name
        columns = self._job_client.schema.get_table_columns(table)
        with FileStorage.open_zipsafe_ro(self._file_path, "rb") as f:
            header = f.readline().decode(ENCODING).rstrip("\n").split(DELIMITER)
            names = [h.strip('"') for h in header]
            unknown = [n for n in names if n not in columns]
            if unknown:
                raise ValueError(f"{self._file_path}: columns {unknown} are not in table {table}")
            quoted = {n: sql_client.escape_column_name(n, quote=True) for n in names}
            force_null = [
                quoted[n]
                for n in names
                if columns[n].get("data_type") != "text" and is_nullable_column(columns[n])
            ]
            options = f"FORMAT CSV, DELIMITER '{DELIMITER}', NULL '', ENCODING 'UTF8'"
            if force_null:
                options += f", FORCE_NULL ({', '.join(force_null)})"
            copy_sql = (
                f"COPY {sql_client.make_qualified_table_name(table)} "
                f"({', '.join(quoted[n] for n in names)}) FROM STDIN WITH ({options})"
            )
            with sql_client.begin_transaction(), sql_client.native_connection.cursor() as cur:
                cur.copy_expert(copy_sql, f, size=1 << 20)


class CopyPostgresClient(PostgresClient):
    """Loads ``csv`` files by COPY, and merges only the rows that changed
    (:mod:`hub.warehouse.pg_merge`)."""

    def _create_merge_followup_jobs(
        self, table_chain: Sequence[PreparedTableSchema]
    ) -> list[FollowupJobRequest]:
        return [SkipUnchangedMergeJob.from_table_chain(table_chain, self.sql_client)]

    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> Any:
        if ParsedLoadJobFileName.parse(file_path).file_format == "csv":
            return CopyCsvJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)


class postgres_copy(postgres):  # noqa: N801 (dlt names destination factories in lower case)
    """dlt's postgres destination, loading ``csv`` files by COPY where ``select_file_format``
    allows. To dlt it is the same destination (type and name), so pipelines created with
    dlt's own keep their state."""

    @property
    def destination_type(self) -> str:
        return DestinationReference.normalize_type("postgres")

    def _raw_capabilities(self) -> DestinationCapabilitiesContext:
        caps = super()._raw_capabilities()
        upstream = caps.loader_file_format_selector

        caps.preferred_loader_file_format = "csv"
        caps.loader_file_format_selector = _Selector(upstream)  # type: ignore[assignment]
        return caps

    @property
    def client_class(self) -> type[PostgresClient]:
        return CopyPostgresClient


class postgres_insert(postgres):  # noqa: N801
    """dlt's postgres destination loading every table with INSERT statements (dlt's own
    loads Arrow tables from csv files by its lossy COPY, see above)."""

    @property
    def destination_type(self) -> str:
        return DestinationReference.normalize_type("postgres")

    def _raw_capabilities(self) -> DestinationCapabilitiesContext:
        caps = super()._raw_capabilities()
        caps.loader_file_format_selector = _insert_only  # type: ignore[assignment]
        return caps


def _insert_only(
    preferred: str, supported: Sequence[str], /, *, table_schema: Any
) -> tuple[str, Sequence[str]]:
    return "insert_values", ["insert_values"]


class _Selector:
    """dlt's own selector (it drops parquet without the ADBC driver), then ours."""

    def __init__(self, upstream: Any) -> None:
        self.upstream = upstream

    def __call__(
        self, preferred: str, supported: Sequence[str], /, *, table_schema: Any
    ) -> tuple[str, Sequence[str]]:
        if self.upstream is not None:
            preferred, supported = self.upstream(preferred, supported, table_schema=table_schema)
        return select_file_format(preferred, supported, table_schema=table_schema)
