"""Two PostgreSQL loads of the same data, one by COPY and one by INSERT statements, read back
for comparison: every table of a schema with its column types, indexes and rows.

dlt's own row ids (``_dlt_id``, ``_dlt_load_id``) are random per load, so rows are compared
without them; a nested table's rows carry their parent row's values instead of its id.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.pg import pg_engine

DLT_IDS = ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id")

# Text nobody's CSV or SQL layer should change: quotes, separators, every line ending, the
# COPY end-of-data marker, a NUL byte (PostgreSQL text cannot hold it: dropped either way),
# markup and brackets, right-to-left override, astral unicode, and a 100,000-character value.
HOSTILE = [
    "",
    " ",
    "plain",
    "comma, \"quoted\", 'single'",
    "line\nbreak\r\nwindows\rlone carriage return",
    "\\.",
    "before\n\\.\nafter",
    "nul\x00byte",
    "\x00",
    "[brackets] {braces} (parens) <angle>",
    "ünïcödé ✓ 中文 🚀 \u202eevil override",
    "\\N",
    "NULL",
    '"',
    '""',
    ",",
    "\\",
    "\ttab\t",
    "x" * 100_000,
]


def dlt_credentials(db: dict[str, Any]) -> dict[str, Any]:
    """The test server's database as dlt's PostgreSQL credentials."""
    return {
        "drivername": "postgresql",
        "username": db["user"],
        "password": db["password"],
        "host": db["host"],
        "port": db["port"],
        "database": db["database"],
    }


def schema_tables(db: dict[str, Any], schema: str) -> dict[str, Any]:
    """Per table: its columns (name, type, nullability) in order, its indexes and its rows."""
    engine = pg_engine(db)
    try:
        with engine.connect() as conn:
            columns: dict[str, list[tuple[Any, ...]]] = {}
            for row in conn.execute(
                sa.text(
                    "SELECT table_name, column_name, data_type, is_nullable, numeric_precision, "
                    "numeric_scale, datetime_precision, character_maximum_length "
                    "FROM information_schema.columns WHERE table_schema = :s "
                    "ORDER BY table_name, ordinal_position"
                ),
                {"s": schema},
            ):
                columns.setdefault(row[0], []).append(tuple(row[1:]))
            indexes: dict[str, list[str]] = {}
            for name, definition in conn.execute(
                sa.text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = :s"),
                {"s": schema},
            ):
                indexes.setdefault(str(name), []).append(_without_index_name(str(definition)))
            return {
                name: {
                    "columns": cols,
                    "indexes": sorted(indexes.get(name, [])),
                    "rows": _rows(conn, schema, name, [c[0] for c in cols], columns),
                }
                for name, cols in columns.items()
            }
    finally:
        engine.dispose()


def _without_index_name(definition: str) -> str:
    """dlt names indexes after random suffixes; what they index is what matters."""
    head, _, tail = definition.partition(" ON ")
    return head.split(" INDEX ")[0] + " INDEX ON " + tail


def _rows(
    conn: sa.Connection,
    schema: str,
    table: str,
    names: list[str],
    columns: dict[str, list[tuple[Any, ...]]],
) -> list[tuple[Any, ...]]:
    own = [f't."{n}"' for n in names if n not in DLT_IDS]
    joins = ""
    if "_dlt_parent_id" in names:  # a nested table: name its parent row by that row's values
        parent = table.rsplit("__", 1)[0]
        parent_names = [c[0] for c in columns[parent] if c[0] not in DLT_IDS]
        own += [f'p."{n}"' for n in parent_names]
        joins = f' JOIN "{schema}"."{parent}" p ON p._dlt_id = t._dlt_parent_id'
    result = conn.execute(sa.text(f'SELECT {", ".join(own)} FROM "{schema}"."{table}" t{joins}'))
    rows = (tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in result)
    return sorted(rows, key=repr)


# dlt's own tables: rows stamped with load ids and times, compared on what is not a stamp.
# The schema's version hash covers every table, column, type, key and hint dlt keeps.
DLT_TABLES = {
    "_dlt_loads": ("schema_name", "status", "schema_version_hash"),
    "_dlt_version": ("version", "engine_version", "schema_name", "version_hash"),
    "_dlt_pipeline_state": ("version", "engine_version", "pipeline_name"),
}


def assert_same_tables(copy: dict[str, Any], insert: dict[str, Any]) -> None:
    assert sorted(copy) == sorted(insert)
    for name in insert:
        assert copy[name]["columns"] == insert[name]["columns"], f"{name}: column types differ"
        assert copy[name]["indexes"] == insert[name]["indexes"], f"{name}: indexes differ"
        a, b = _comparable(copy, name), _comparable(insert, name)
        assert len(a) == len(b), f"{name}: {len(a)} rows by COPY, {len(b)} by INSERT"
        for x, y in zip(a, b, strict=True):
            assert x == y, f"{name}: a row differs\nCOPY:   {x!r:.500}\nINSERT: {y!r:.500}"


def _comparable(tables: dict[str, Any], name: str) -> list[tuple[Any, ...]]:
    if name not in DLT_TABLES:
        return tables[name]["rows"]  # type: ignore[no-any-return]
    values = column_values(tables, name)
    return sorted(zip(*(values[c] for c in DLT_TABLES[name]), strict=True), key=repr)


def column_values(tables: dict[str, Any], table: str) -> dict[str, list[Any]]:
    """A table's own (non-dlt) columns, each as the list of its values."""
    names = [c[0] for c in tables[table]["columns"] if c[0] not in DLT_IDS]
    return {name: [row[i] for row in tables[table]["rows"]] for i, name in enumerate(names)}


def loaded_job_formats(pipelines_dir: Any) -> dict[str, set[str]]:
    """Table -> the file formats its rows were loaded from (dlt keeps loaded packages; the
    ``sql`` jobs are merge statements, which load no file)."""
    formats: dict[str, set[str]] = {}
    for job in pipelines_dir.rglob("completed_jobs/*"):
        table, _, _, file_format = job.name.split(".")[:4]  # <table>.<id>.<retry>.<format>
        if file_format != "sql":
            formats.setdefault(table, set()).add(file_format)
    return formats
