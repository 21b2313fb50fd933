"""Clean files read, checked and merged by DuckDB itself, without dlt's parquet round trip.

On a DuckDB warehouse, most of a CSV pull's time went to dlt: writing the rows as parquet,
reading them back into a staging table, merging that into the table (issue #19, item 3). For
a file whose spec DuckDB can express (activities, a stage history without ``where``,
value maps or events shared with the deals file), :func:`load` parses the file with
DuckDB's ``read_csv`` (every column as text), applies the same conversions the Arrow fast
path applies (:mod:`connectors.csv.fast`: trim, defaults, plain ISO timestamps, integers,
yes/no values, activity types, keys) as SQL into a temporary table, and merges that into
the warehouse table on its key in one transaction, but only when the whole file proves
clean: one record per line, every value in a form both paths read alike, every required
value present, no repeated id or event. Anything else (one bad value, a blank line, a
quoted newline, an odd quote) rolls back and the file goes through :class:`FileRead`'s
paths, which write the quarantine records. So the tables are what the row path gives
(``tests/test_csv_duck.py`` compares every table of both on the fixtures and exports).

The merge runs while dlt extracts, before the resource records the file's fingerprint in
its state: a run killed before that re-reads the file, and the merge by key makes the
second read change nothing. The table is created as dlt would (the model's columns, keys
NOT NULL) when it does not exist yet.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.canonical_tables import model_columns
from connectors.csv.fast import _HAS_OFFSET, _INTEGER, _ISO_TS, PY_WHITESPACE
from connectors.csv.parsing import _FALSE, _TRUE, zone
from connectors.csv.reading import FIELD_STARTS
from connectors.csv.rules import ACTIVITY_TYPE, ACTIVITY_TYPE_SYNONYMS

if TYPE_CHECKING:
    import duckdb

    from connectors.csv.driver import FileRead

# Free space the merge needs on the warehouse's disk, per byte of the file (DuckDB's
# temporary table if it spills, the inserted blocks, the write-ahead log; the whole
# 300,000-deal export, 300 MB of CSV, takes 100 MB in the warehouse). With less, the file
# takes dlt's path, whose full-disk handling says how much a pull needs.
SPACE_PER_FILE_BYTE = 3
_SQL_TYPES = {str: "VARCHAR", datetime: "TIMESTAMPTZ", bool: "BOOLEAN", int: "BIGINT"}
_UTF8 = {"utf-8", "utf-8-sig", "ascii"}
_ASCII = r"[\x01-\x7f]*"


def why_not(read: FileRead) -> str | None:
    """Why DuckDB cannot take this file, or None when it can try."""
    from connectors.csv.driver import Extras

    ctx, spec, file, facts = read.ctx, read.spec, read.file, read.facts
    layout = facts.layout
    warehouse = ctx.config.warehouse
    if warehouse.kind != "duckdb" or not read.options.fast_path:
        return "not a DuckDB warehouse, or fast_path is off"
    if spec.custom_entity is not None or type(read.extras) is not Extras or read.picked:
        return "custom fields, derived tables or where"
    if set(spec.rules) - {ACTIVITY_TYPE} or not read.unique_load:
        return "field rules or a merge that needs dlt's deduplication"
    types = read.reader.types
    for f in read.reader.fields:
        if f.value_map or types.get(f.name, str) not in _SQL_TYPES:
            return f"{f.name}: value_maps or a type only Python reads"
    if any(types.get(name, str) not in _SQL_TYPES for name in model_columns(spec.model)):
        return "a column type this module does not write"
    if file.date_format or facts.encoding not in _UTF8 or layout is None:
        return "date_format, or an encoding other than UTF-8"
    delimiter = facts.delimiter
    if len(delimiter) != 1 or delimiter.encode() not in FIELD_STARTS or delimiter in "\r\n":
        return "an unusual delimiter"
    if layout.nuls or layout.lone_returns or layout.blank_before_quote or read.reader.width < 2:
        return "NUL bytes, lone carriage returns, a quote after blanks, or one column"
    folder = _warehouse_path(read).parent
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(folder).free < SPACE_PER_FILE_BYTE * facts.size:
        return "too little free space for DuckDB's merge"
    return None


def load(read: FileRead) -> int | None:
    """Merge the file into its table; the rows merged, or None when it is not clean (then
    nothing changed)."""
    import duckdb

    settings = read.ctx.config.warehouse
    with duckdb.connect(
        str(_warehouse_path(read)),
        config={"memory_limit": settings.memory_limit, "preserve_insertion_order": False},
    ) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("BEGIN TRANSACTION")
        try:
            rows = _stage(con, read)
            if rows is None:
                con.execute("ROLLBACK")
                return None
            _merge(con, read)
            con.execute("COMMIT")
        except duckdb.InvalidInputException as exc:
            con.execute("ROLLBACK")
            if "CSV" not in str(exc):
                raise
            return None  # read_csv refused a line (ragged, a stray quote): not clean
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
    return rows


def _warehouse_path(read: FileRead) -> Path:
    return read.ctx.config.resolve_path(read.ctx.config.warehouse.path)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _name(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _stage(con: duckdb.DuckDBPyConnection, read: FileRead) -> int | None:
    """The file's rows, converted, in temporary table ``stage``; None if not clean."""
    spec, reader, facts = read.spec, read.reader, read.facts
    width = reader.width
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    source = (
        f"read_csv({_quote(str(facts.path))}, header = true, auto_detect = false, "
        f"columns = {columns}, delim = {_quote(facts.delimiter)}, quote = '\"', escape = '\"', "
        "strict_mode = true, null_padding = false, max_line_size = 16777216)"
    )
    # Spaces come off here; any other whitespace left at an edge (a tab, a no-break space)
    # makes the row unclean, so what remains is exactly Python's str.strip() of the cell.
    # (Trimming the whole set of Python's whitespace in SQL costs ten times as much.) A file
    # with no such whitespace at all (ByteLayout.odd_whitespace) needs no edge check.
    # trim() only where a space is at an edge: trimming every value costs five times more.
    trimmed = {
        f.name: (
            f"CASE WHEN prefix(c{f.index}, ' ') OR suffix(c{f.index}, ' ') "
            f"THEN trim(c{f.index}, ' ') ELSE coalesce(c{f.index}, '') END"
        )
        for f in reader.fields
        if f.index is not None
    }
    text: dict[str, str] = {}  # field -> SQL of its text ('' as NULL), as the row path reads it
    checks: list[str] = []  # per row: true when the row is clean
    for f in reader.fields:
        value = "''"
        if f.index is not None:
            value = _name(f"r_{f.name}")
            if facts.layout is None or facts.layout.odd_whitespace:
                edges = f"contains($ws, left({value}, 1)) OR contains($ws, right({value}, 1))"
                checks.append(f"NOT ({value} <> '' AND ({edges}))")
        if f.default is not None:
            value = f"CASE WHEN {value} = '' THEN {_quote(f.default)} ELSE {value} END"
        text[f.name] = f"nullif({value}, '')"
    typed: dict[str, str] = {}
    flags: list[str] = []  # per row, for the totals
    totals: list[str] = []  # over the file: true when the file is clean
    naive_is_utc = zone(read.file.timezone) is UTC
    for f in reader.fields:
        x, kind = _name(f"t_{f.name}"), reader.types.get(f.name, str)
        if f.name in read.required:
            checks.append(f"{x} IS NOT NULL")
        if kind is str:
            typed[f.name] = x
        elif kind is datetime:
            typed[f.name] = f"TRY_CAST({x} AS TIMESTAMPTZ)"
            checks.append(
                f"({x} IS NULL OR (regexp_full_match({x}, $iso_ts) AND {typed[f.name]} IS NOT NULL))"
            )
            # Offsets or none, judged over the whole file as the fast path judges a block.
            flag = _name(f"hub_offset_{f.name}")
            flags += [f"regexp_matches({x}, $offset) AS {flag}", f"{x} AS {x}"]
            offsets, present = f"count(*) FILTER (WHERE {flag})", f"count({x})"
            naive = "" if naive_is_utc else f" AND {offsets} = {present}"
            totals.append(f"({offsets} IN (0, {present}){naive})")
        elif kind is int:
            typed[f.name] = f"TRY_CAST({x} AS BIGINT)"
            checks.append(
                f"({x} IS NULL OR (regexp_full_match({x}, $integer) AND {typed[f.name]} IS NOT NULL))"
            )
        elif kind is bool:
            keys = sorted((_TRUE | _FALSE) - {""})
            true = ", ".join(_quote(k) for k in sorted(_TRUE - {""}))
            typed[f.name] = f"CASE WHEN {x} IS NULL THEN NULL ELSE lower({x}) IN ({true}) END"
            listed = ", ".join(_quote(k) for k in keys)
            checks.append(
                f"({x} IS NULL OR (regexp_full_match({x}, $ascii) AND lower({x}) IN ({listed})))"
            )
    if ACTIVITY_TYPE in spec.rules:
        type_column = _name("t_type") if "type" in text else None
        typed["type"] = _activity_type(type_column)
        if type_column is not None:
            checks.append(f"({type_column} IS NULL OR regexp_full_match({type_column}, $ascii))")
    for key_field, id_field in spec.keys.items():
        native = _name(f"t_{id_field}") if id_field in text else None
        typed[key_field] = (
            "NULL"
            if native is None
            else f"CASE WHEN {native} IS NULL THEN NULL ELSE {_quote(read.ctx.name + ':')} || {native} END"
        )
    constants = dict(read.constants)
    out: list[str] = []
    for name, (kind, _) in model_columns(spec.model).items():
        sql_type = _SQL_TYPES[kind]
        if name in constants:
            value = "NULL" if constants[name] is None else _literal(constants[name])
        else:
            value = typed.get(name, "NULL")
        if name in spec.fills:
            value = f"coalesce({value}, {_literal(spec.fills[name])})"
        out.append(f"CAST({value} AS {sql_type}) AS {_name(name)}")
    clean = " AND ".join(checks) or "true"
    raw = ", ".join(f"{sql} AS {_name('r_' + name)}" for name, sql in trimmed.items())
    fields = ", ".join([*(f"{sql} AS {_name('t_' + name)}" for name, sql in text.items()), "*"])
    sql = (
        f"CREATE TEMP TABLE stage AS SELECT {', '.join([*out, *flags])}, ({clean}) AS hub_clean "
        f"FROM (SELECT {fields} FROM (SELECT {raw} FROM {source}))"
    )
    # Literals, not parameters: DuckDB compiles a constant pattern once, a parameter per row.
    patterns = {
        "$ws": PY_WHITESPACE,
        "$iso_ts": _ISO_TS,
        "$integer": _INTEGER,
        "$ascii": _ASCII,
        "$offset": _HAS_OFFSET,
    }
    for name, value in patterns.items():
        sql = sql.replace(name, _quote(value))
    con.execute(sql)
    unique = _unique_columns(read)
    distinct = f"count(DISTINCT ({', '.join(map(_name, unique))}))" if unique else "count(*)"
    no_move = "true"
    if spec.no_move is not None:
        same, other = (_name(f) for f in spec.no_move)
        no_move = f"count(*) FILTER (WHERE {same} = {other}) = 0"
    forms = " AND ".join(totals) or "true"
    rows, clean_rows, distinct_rows, moved, timestamps = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE hub_clean), {distinct}, {no_move}, {forms} "
        "FROM stage"
    ).fetchone()  # type: ignore[misc]
    lines = facts.layout.lines() - 1 if facts.layout else -1  # one header line
    if not rows or rows != lines or clean_rows != rows or distinct_rows != rows:
        return None
    if not (moved and timestamps):
        return None
    return int(rows)


def _unique_columns(read: FileRead) -> tuple[str, ...]:
    """Columns whose values must not repeat in the file (the row path would skip or leave
    out the repeats): the record id, or the fields of a repeated event."""
    spec = read.spec
    if spec.duplicate is not None:
        return (next(k for k, v in spec.keys.items() if v == spec.record_id),)
    if spec.repeat:
        return tuple(spec.model.primary_key)
    return ()


def _activity_type(x: str | None) -> str:
    if x is None:
        return "'other'"
    by_type: dict[str, list[str]] = {}
    for synonym, kind in ACTIVITY_TYPE_SYNONYMS.items():
        by_type.setdefault(kind, []).append(synonym)
    cases = " ".join(
        f"WHEN lower({x}) IN ({', '.join(map(_quote, synonyms))}) THEN {_quote(kind)}"
        for kind, synonyms in by_type.items()
    )
    return f"CASE {cases} ELSE 'other' END"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return _quote(str(value))


def _merge(con: duckdb.DuckDBPyConnection, read: FileRead) -> None:
    """``stage`` into the table on its key: the table's rows with a staged key are replaced
    (dlt's delete-insert merge, for keys unique in the load)."""
    model = read.spec.model
    schema, table = f"src_{read.ctx.name}", model.table_name
    target = f"{_name(schema)}.{_name(table)}"
    names = list(model_columns(model))
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_name(schema)}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({_ddl(model)})")
    keys: Iterable[str] = model.primary_key
    if con.execute(f"SELECT EXISTS (SELECT 1 FROM {target})").fetchone()[0]:  # type: ignore[index]
        match = " AND ".join(f"t.{_name(k)} = s.{_name(k)}" for k in keys)
        con.execute(f"DELETE FROM {target} AS t USING stage AS s WHERE {match}")
    listed = ", ".join(map(_name, names))
    con.execute(f"INSERT INTO {target} ({listed}) SELECT {listed} FROM stage")


def _ddl(model: type) -> str:
    """The table dlt creates for ``model``: its columns, the keys NOT NULL."""
    keys = set(model.primary_key)  # type: ignore[attr-defined]
    return ", ".join(
        f"{_name(name)} {_SQL_TYPES[kind]}{' NOT NULL' if name in keys else ''}"
        for name, (kind, _) in model_columns(model).items()
    )
