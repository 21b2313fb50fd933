"""Clean files read, checked and merged by DuckDB itself, without dlt's parquet round trip.

On a DuckDB warehouse, most of a CSV pull's time went to dlt: writing the rows as parquet,
reading them back into a staging table, merging that into the table (issue #19, item 3). For
a file whose spec DuckDB can express (deals without ``stage_dates``, activities, a stage
history without ``where`` or events shared with the deals file; none with value maps),
:func:`load` parses the file with DuckDB's ``read_csv`` (every column as text), applies the
same conversions the Arrow fast path applies (:mod:`connectors.csv.fast`: trim, defaults,
plain ISO timestamps and dates, plain numbers, yes/no values, keys) and the field rules
(:mod:`connectors.csv.duck_rules`) as SQL, types custom fields once per distinct value with
the row path's parser, and merges the rows into the warehouse table on its key in one
transaction, with what the file implies (:meth:`Extras.after_duck`: a deals file's account
links, the stages it names, its full-snapshot marks), but only when the whole file proves
clean: one record per line, every value in a form both paths read alike, nothing a rule
would drop or skip, every required value present, no repeated id or event. Anything else
(one bad value, a blank line, a quoted newline, an odd quote) rolls back and the file goes
through :class:`FileRead`'s paths, which write the quarantine records. So the tables are
what the row path gives (``tests/test_csv_duck.py`` compares every table of both on the
fixtures and exports).

The merge runs while dlt extracts, before the resource records the file's fingerprint in
its state: a run killed before that re-reads the file, and the merge by key makes the
second read change nothing. A table that does not exist yet is the staged rows themselves,
with the columns and NOT NULL keys dlt would give it.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.canonical_tables import model_columns
from connectors.csv.duck_rules import RULES, RuleSql, is_ascii, quote
from connectors.csv.fast import _HAS_OFFSET, _INTEGER, _ISO_DATE, _ISO_TS, PY_WHITESPACE
from connectors.csv.parsing import _FALSE, _TRUE, zone
from connectors.csv.reading import FIELD_STARTS
from connectors.values import BadValue

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from connectors.base import SourceContext
    from connectors.csv.driver import FileRead, TableSpec
    from connectors.csv.options import CsvFile, CsvOptions

# Free space the merge needs on the warehouse's disk, per byte of the file (DuckDB's
# temporary table if it spills, the inserted blocks, the write-ahead log; the whole
# 300,000-deal export, 300 MB of CSV, takes 100 MB in the warehouse). With less, the file
# takes dlt's path, whose full-disk handling says how much a pull needs.
SPACE_PER_FILE_BYTE = 3
_SQL_TYPES = {
    str: "VARCHAR",
    datetime: "TIMESTAMPTZ",
    bool: "BOOLEAN",
    int: "BIGINT",
    Decimal: "DECIMAL(38,9)",
    float: "DOUBLE",
    date: "DATE",
    dict: "JSON",  # custom_fields, as dlt creates it
}
_UTF8 = {"utf-8", "utf-8-sig", "ascii"}
# One connection to the warehouse at a time among the files' worker threads (csv.background):
# - merges: every connection of the process shares one DuckDB instance and its memory_limit,
#   and three big files merging at once ran it out (a 1M-deal export's --full-refresh pull
#   failed with "failed to pin block" at 1GB; one at a time it took 19 s);
# - Arrow tables registered on it (the custom-field maps here, connectors.csv.appended's key
#   check): with the key check beside the deals merge, about one pull in five of a small
#   export failed with DuckDB's "Table Function with name python_arrow_scan does not exist!"
#   at the merge's register() (DuckDB 2.0's Python client; 0 of 24 in the turn).
# The files' digest and byte passes still run beside a merge.
WAREHOUSE_TURN = threading.Lock()
# Plain numbers that fit DECIMAL(38,9) exactly (longer ones are the other paths' to judge).
_PLAIN_DECIMAL = r"^-?\d{1,29}(?:\.\d{1,9})?$"
_PLAIN_FLOAT = r"^-?\d{1,300}(?:\.\d{1,300})?$"


def may_take(ctx: SourceContext, options: CsvOptions, spec: TableSpec, file: CsvFile) -> bool:
    """Whether DuckDB may take a file so configured, before it is opened (:func:`why_not`
    decides): then the byte facts it needs are counted in the pass that reads the digest."""
    return (
        ctx.config.warehouse.kind == "duckdb"
        and options.fast_path
        and all(rule in RULES for rule in spec.rules)
        and not (file.value_maps or file.date_format)
        and not (getattr(file, "where", None) or getattr(file, "stage_dates", None))
    )


def why_not(read: FileRead) -> str | None:
    """Why DuckDB cannot take this file, or None when it can try."""
    ctx, spec, file, facts = read.ctx, read.spec, read.file, read.facts
    warehouse = ctx.config.warehouse
    if warehouse.kind != "duckdb" or not read.options.fast_path:
        return "not a DuckDB warehouse, or fast_path is off"
    if not read.extras.duck_ready or read.picked:
        return "derived tables only Python writes (stage_dates), or where"
    if any(rule not in RULES for rule in spec.rules) or not read.unique_load:
        return "field rules or a merge that needs dlt's deduplication"
    types = read.reader.types
    for f in read.reader.fields:
        if f.value_map or types.get(f.name, str) not in _SQL_TYPES:
            return f"{f.name}: value_maps or a type only Python reads"
        if types.get(f.name) in (Decimal, float) and file.decimal_separator != ".":
            return f"{f.name}: a decimal comma"
    if any(types.get(name, str) not in _SQL_TYPES for name in model_columns(spec.model)):
        return "a column type this module does not write"
    if file.date_format or facts.encoding not in _UTF8:
        return "date_format, or an encoding other than UTF-8"
    delimiter = facts.delimiter
    if len(delimiter) != 1 or delimiter.encode() not in FIELD_STARTS or delimiter in "\r\n":
        return "an unusual delimiter"
    if read.reader.width < 2:
        return "one column"
    folder = _warehouse_path(read).parent
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(folder).free < SPACE_PER_FILE_BYTE * facts.size:
        return "too little free space for DuckDB's merge"
    layout = facts.layout  # a pass over the file: asked last
    if layout.nuls or layout.lone_returns or layout.blank_before_quote:
        return "NUL bytes, lone carriage returns, or a quote after blanks"
    return None


def load(read: FileRead) -> int | None:
    """Merge the file into its table (and what it implies into theirs, see
    :meth:`Extras.after_duck`); the rows merged, or None when it is not clean (then nothing
    changed)."""
    import duckdb

    settings = read.ctx.config.warehouse
    values = _custom_values(read)
    if values is None:
        return None
    with WAREHOUSE_TURN:
        if not _disk_holds(read):
            return None
        with duckdb.connect(
            str(_warehouse_path(read)),
            config={"memory_limit": settings.memory_limit, "preserve_insertion_order": False},
        ) as con:
            return _load_in_transaction(con, read, values)


def _disk_holds(read: FileRead) -> bool:
    """Whether the disk holds this file's merge now that its turn came: :func:`why_not`
    asked before the file was opened, while the merges ahead of it had still to take
    their share. With less, the file takes dlt's path, whose full-disk handling says how
    much a pull needs."""
    free = shutil.disk_usage(_warehouse_path(read).parent).free
    return free >= SPACE_PER_FILE_BYTE * read.facts.size


def _load_in_transaction(
    con: duckdb.DuckDBPyConnection, read: FileRead, values: list[pa.Table]
) -> int | None:
    """:func:`load` on its connection: one transaction, rolled back unless clean."""
    import duckdb

    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_name(f'src_{read.ctx.name}')}")
    con.execute("BEGIN TRANSACTION")
    try:
        rows = _load(con, read, values)
        con.execute("COMMIT" if rows is not None else "ROLLBACK")
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


def _load(con: duckdb.DuckDBPyConnection, read: FileRead, values: list[pa.Table]) -> int | None:
    """:func:`load` inside its transaction. Into a table that does not exist yet (a first
    load), the rows are staged in the warehouse and the staging table becomes the table:
    written once instead of twice."""
    model = read.spec.model
    schema, table = f"src_{read.ctx.name}", model.table_name
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()[0]  # type: ignore[index]
    target = f"{_name(schema)}.{_name(table)}"
    staged = "stage" if exists else f"{_name(schema)}.{_name('_hub_stage_' + table)}"
    maps = _custom_maps(con, values)
    rows = _stage(con, read, staged, maps)
    if rows is None:
        return None
    if exists:
        merge(con, read.ctx.name, model, staged)
    else:
        model_names = set(model_columns(model))
        for (column,) in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, "_hub_stage_" + table],
        ).fetchall():
            if column not in model_names:
                con.execute(f"ALTER TABLE {staged} DROP COLUMN {_name(column)}")
        for key in model.primary_key:
            con.execute(f"ALTER TABLE {staged} ALTER COLUMN {_name(key)} SET NOT NULL")
        con.execute(f"ALTER TABLE {staged} RENAME TO {_name(table)}")
        staged = target
    read.duck_variants = read.extras.after_duck(con, staged)
    return rows


def _warehouse_path(read: FileRead) -> Path:
    return read.ctx.config.resolve_path(read.ctx.config.warehouse.path)


def _name(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _stage(
    con: duckdb.DuckDBPyConnection, read: FileRead, staged: str, maps: list[str]
) -> int | None:
    """The file's rows, converted, in table ``staged``; None if not clean. ``maps``: the
    temporary tables of :func:`_custom_maps`, one per custom column."""
    spec, reader, facts = read.spec, read.reader, read.facts
    source = _read_csv(read)
    raw = {f"r_{f.name}": _trimmed(f.index) for f in reader.fields if f.index is not None}
    custom = read.custom.columns if read.custom is not None else []
    raw |= {f"hub_cf{n}": _trimmed(column.index) for n, column in enumerate(custom)}
    checks: list[str] = []  # per row: true when the row is clean
    if facts.layout.odd_whitespace:
        for value in map(_name, raw):
            edges = f"contains($ws, left({value}, 1)) OR contains($ws, right({value}, 1))"
            checks.append(f"NOT ({value} <> '' AND ({edges}))")
    text: dict[str, str] = {}  # field -> SQL of its text ('' as NULL), as the row path reads it
    for f in reader.fields:
        value = _name(f"r_{f.name}") if f.index is not None else "''"
        if f.default is not None:
            value = f"CASE WHEN {value} = '' THEN {quote(f.default)} ELSE {value} END"
        text[f.name] = f"nullif({value}, '')"
    texts = {name: _name(f"t_{name}") for name in text}  # their columns in the next query
    typed: dict[str, str] = {}
    flags: list[str] = []  # per row, for the totals
    totals: list[str] = []  # over the file: true when the file is clean
    naive_is_utc = zone(read.file.timezone) is UTC
    for f in reader.fields:
        x, kind = texts[f.name], reader.types.get(f.name, str)
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
            flags.append(
                f"CASE WHEN suffix({x}, 'Z') THEN true ELSE regexp_matches({x}, $offset) END "
                f"AS {flag}"
            )
            # The typed value is there where the text is, on a clean row.
            offsets, present = f"count(*) FILTER (WHERE {flag})", f"count({_name(f.name)})"
            naive = "" if naive_is_utc else f" AND {offsets} = {present}"
            totals.append(f"({offsets} IN (0, {present}){naive})")
        elif kind in (int, Decimal, float, date):
            pattern = {int: "$integer", Decimal: "$decimal", float: "$float", date: "$date"}
            typed[f.name] = f"TRY_CAST({x} AS {_SQL_TYPES[kind]})"
            checks.append(
                f"({x} IS NULL OR (regexp_full_match({x}, {pattern[kind]}) "
                f"AND {typed[f.name]} IS NOT NULL))"
            )
        elif kind is bool:
            keys = sorted((_TRUE | _FALSE) - {""})
            true = ", ".join(quote(k) for k in sorted(_TRUE - {""}))
            typed[f.name] = f"CASE WHEN {x} IS NULL THEN NULL ELSE lower({x}) IN ({true}) END"
            listed = ", ".join(quote(k) for k in keys)
            checks.append(f"({x} IS NULL OR ({is_ascii(x)} AND lower({x}) IN ({listed})))")
    aggregates: list[RuleSql] = []
    for rule in spec.rules:
        done = RULES[rule](read, texts, typed)
        typed |= done.typed
        checks += done.checks
        aggregates.append(done)
    for key_field, id_field in spec.keys.items():
        native = texts.get(id_field)
        # || gives NULL for a NULL id, as make_key's caller leaves an empty id keyless.
        typed[key_field] = "NULL" if native is None else f"{quote(read.ctx.name + ':')} || {native}"
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
        if name == "custom_fields" and maps:
            value = _custom_json(len(maps))
        out.append(f"CAST({value} AS {sql_type}) AS {_name(name)}")
    clean = " AND ".join(checks) or "true"
    inner = ", ".join(f"{sql} AS {_name(name)}" for name, sql in raw.items())
    fields = ", ".join([*(f"{sql} AS {texts[name]}" for name, sql in text.items()), "*"])
    joins = "".join(
        f" LEFT JOIN {table} AS m{n} ON hub_cf{n} = m{n}.raw" for n, table in enumerate(maps)
    )
    temporary = "TEMP " if staged == "stage" else ""
    sql = (
        f"CREATE {temporary}TABLE {staged} AS SELECT {', '.join([*out, *flags])}, "
        f"({clean}) AS hub_clean FROM (SELECT {fields} FROM (SELECT {inner} FROM {source})){joins}"
    )
    # Literals, not parameters: DuckDB compiles a constant pattern once, a parameter per row.
    patterns = {
        "$ws": PY_WHITESPACE,
        "$iso_ts": _ISO_TS,
        "$integer": _INTEGER,
        "$decimal": _PLAIN_DECIMAL,
        "$float": _PLAIN_FLOAT,
        "$date": _ISO_DATE,
        "$offset": _HAS_OFFSET,
    }
    for name, value in patterns.items():
        sql = sql.replace(name, quote(value))
    con.execute(sql)
    unique = _unique_columns(read)
    # Hashes, not the values: cheaper to count, and a collision only hands the file back.
    distinct = f"count(DISTINCT hash({', '.join(map(_name, unique))}))" if unique else "count(*)"
    no_move = "true"
    if spec.no_move is not None:
        same, other = (_name(f) for f in spec.no_move)
        no_move = f"count(*) FILTER (WHERE {same} = {other}) = 0"
    forms = " AND ".join(totals) or "true"
    by_python = [(sql, ok) for done in aggregates for sql, ok in done.totals]
    listed = "".join(f", {sql}" for sql, _ in by_python)
    rows, clean_rows, distinct_rows, moved, timestamps, *values = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE hub_clean), {distinct}, {no_move}, {forms}"
        f"{listed} FROM {staged}"
    ).fetchone()  # type: ignore[misc]
    lines = facts.layout.lines() - 1  # one header line
    if not rows or rows != lines or clean_rows != rows or distinct_rows != rows:
        return None
    if not (moved and timestamps):
        return None
    if not all(ok(value) for (_, ok), value in zip(by_python, values, strict=True)):
        return None
    return int(rows)


def _read_csv(read: FileRead) -> str:
    """DuckDB's ``read_csv`` of the file, every column as text ``c<index>``.

    DuckDB's own line-size limit (2 MB), not the row path's 16 MB: a larger
    ``max_line_size`` makes DuckDB's buffers larger in step, so a file of a few buffers'
    size (300,000 deals, 71 MB; a million stage events, 43 MB) was parsed, converted and
    written by one thread while the second core idled. A longer line makes ``read_csv``
    refuse the file, which then takes the other paths (:func:`load`)."""
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(read.reader.width)) + "}"
    return (
        f"read_csv({quote(str(read.facts.path))}, header = true, auto_detect = false, "
        f"columns = {columns}, delim = {quote(read.facts.delimiter)}, quote = '\"', "
        "escape = '\"', strict_mode = true, null_padding = false)"
    )


def _trimmed(index: int) -> str:
    """Column ``c<index>`` without the spaces at its edges ('' for an empty cell).

    Spaces come off here; any other whitespace left at an edge (a tab, a no-break space)
    makes the row unclean, so what remains is exactly Python's str.strip() of the cell.
    (Trimming the whole set of Python's whitespace in SQL costs ten times as much.) A file
    with no such whitespace at all (ByteLayout.odd_whitespace) needs no edge check.
    trim() only where a space is at an edge: trimming every value costs five times more.
    """
    return (
        f"CASE WHEN prefix(c{index}, ' ') OR suffix(c{index}, ' ') "
        f"THEN trim(c{index}, ' ') ELSE coalesce(c{index}, '') END"
    )


def _custom_values(read: FileRead) -> list[pa.Table] | None:
    """Per custom column, its distinct (trimmed) values and their ``custom_fields``
    fragment (``raw``, ``fragment``), typed once by the row path's own parser
    (:meth:`connectors.csv.custom.CustomColumn.fragment`); None when a value does not fit
    its type (the row path would quarantine it) or DuckDB cannot read the file. This scan
    of the file runs in an in-memory DuckDB of its own, before the merge's turn
    (:data:`WAREHOUSE_TURN`): beside the other files' merges, not in their line."""
    import duckdb
    import pyarrow as pa

    if read.custom is None:
        return []
    columns = read.custom.columns
    # Every column's distinct values in one scan of the file: one grouping set a column,
    # the row's set told by which value is not NULL (a trimmed cell never is).
    cells = ", ".join(f"{_trimmed(column.index)} AS v{n}" for n, column in enumerate(columns))
    names = [f"v{n}" for n in range(len(columns))]
    which = " ".join(f"WHEN grouping({name}) = 0 THEN {n}" for n, name in enumerate(names))
    memory_limit = read.ctx.config.warehouse.memory_limit
    with duckdb.connect(":memory:", config={"memory_limit": memory_limit}) as con:
        try:
            rows = con.execute(
                f"SELECT CASE {which} END, coalesce({', '.join(names)}) "
                f"FROM (SELECT {cells} FROM {_read_csv(read)}) "
                f"GROUP BY GROUPING SETS ({', '.join(f'({name})' for name in names)})"
            ).fetchall()
        except duckdb.InvalidInputException as exc:
            if "CSV" not in str(exc):
                raise
            return None  # read_csv refused a line: the merge would refuse the file too
    distinct: list[list[str]] = [[] for _ in columns]
    for n, value in rows:
        distinct[n].append(value)
    out = []
    for column, values in zip(columns, distinct, strict=True):
        try:
            typed = [column.fragment(value) for value in values]
        except BadValue:
            return None
        out.append(
            pa.table(
                {"raw": pa.array(values, pa.string()), "fragment": pa.array(typed, pa.string())}
            )
        )
    return out


def _custom_maps(con: duckdb.DuckDBPyConnection, values: list[pa.Table]) -> list[str]:
    """The pairs of :func:`_custom_values` as temporary tables the staging query joins."""
    maps = []
    for n, pairs in enumerate(values):
        table = f"hub_cf_map{n}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (raw VARCHAR, fragment VARCHAR)")
        con.register("hub_cf_values", pairs)
        con.execute(f"INSERT INTO {table} SELECT raw, fragment FROM hub_cf_values")
        con.unregister("hub_cf_values")
        maps.append(table)
    return maps


def _custom_json(columns: int) -> str:
    """SQL of ``custom_fields`` from the fragments of the joined maps ``m0``, ``m1``...: as
    the fast path writes it, ``{fragment,...}`` in column order, null when none is left."""
    joined = f"concat_ws(',', {', '.join(f'm{n}.fragment' for n in range(columns))})"
    return f"CASE WHEN {joined} = '' THEN NULL ELSE '{{' || {joined} || '}}' END"


def _unique_columns(read: FileRead) -> tuple[str, ...]:
    """Columns whose values must not repeat in the file (the row path would skip or leave
    out the repeats): the record id, or the fields of a repeated event."""
    spec = read.spec
    if spec.duplicate is not None:
        return (next(k for k, v in spec.keys.items() if v == spec.record_id),)
    if spec.repeat:
        return tuple(spec.model.primary_key)
    return ()


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return quote(str(value))


def merge(con: duckdb.DuckDBPyConnection, source: str, model: type, staged: str) -> None:
    """``staged`` (a query or table with ``model``'s columns) into the model's table of
    ``source`` on its key: the table's rows with a staged key are replaced (dlt's
    delete-insert merge, for keys unique in the load)."""
    schema, table = f"src_{source}", model.table_name  # type: ignore[attr-defined]
    target = f"{_name(schema)}.{_name(table)}"
    names = list(model_columns(model))
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_name(schema)}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({_ddl(model)})")
    keys: list[str] = list(model.primary_key)  # type: ignore[attr-defined]
    listed = ", ".join(map(_name, names))
    if not con.execute(f"SELECT EXISTS (SELECT 1 FROM {target})").fetchone()[0]:  # type: ignore[index]
        con.execute(f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {staged}")
        return
    # Only rows that differ are replaced: a re-export repeats most rows as they were, and
    # rewriting an unchanged row costs the most of a merge (the result is the same). The
    # staged rows that are new or differ are found in one join of the two tables (a
    # DELETE joined on the differences and an INSERT ... NOT EXISTS took two). The stored
    # side of the join is each row's key and one hash of all its columns, not the columns:
    # the join's hash table held every column of every stored row (a re-pull of a
    # 1M-deal file: docs/benchmarks.md). Equal rows hash equal (both sides have the
    # model's column types); a changed row whose 64-bit hash equals its old one's would
    # be kept as it was, at 2^-64 a row, as connectors.csv.row_hashes accepts on
    # PostgreSQL. Rows only hashing apart (a type dlt gave the table otherwise) are
    # rewritten unchanged.
    match = " AND ".join(f"t.{_name(k)} = s.{_name(k)}" for k in keys)
    stored = f"SELECT {', '.join(map(_name, keys))}, hash({listed}) AS hub_row_hash FROM {target}"
    staged_hash = f"hash({', '.join(f's.{c}' for c in map(_name, names))})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE hub_changed AS SELECT s.* FROM {staged} AS s "
        f"LEFT JOIN ({stored}) AS t ON {match} "
        f"WHERE t.{_name(keys[0])} IS NULL OR t.hub_row_hash <> {staged_hash}"
    )
    con.execute(f"DELETE FROM {target} AS t USING hub_changed AS s WHERE {match}")
    con.execute(f"INSERT INTO {target} ({listed}) SELECT {listed} FROM hub_changed")
    con.execute("DROP TABLE hub_changed")


def _ddl(model: type) -> str:
    """The table dlt creates for ``model``: its columns, the keys NOT NULL."""
    keys = set(model.primary_key)  # type: ignore[attr-defined]
    return ", ".join(
        f"{_name(name)} {_SQL_TYPES[kind]}{' NOT NULL' if name in keys else ''}"
        for name, (kind, _) in model_columns(model).items()
    )
