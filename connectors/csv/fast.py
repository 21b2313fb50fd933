"""The vectorised fast path: a file in blocks, each parsed by Arrow's C++ CSV reader and
converted column by column with Arrow compute.

The row path in :mod:`connectors.csv.rows` is the definition of what a file means; this
module only takes a block when it can prove the result is the same. A block is cut where
the line ends outside quotes, parsed with every needed column as text, and accepted only
if it has exactly one record per line (so a row's line number is the block's first line
plus its index) and every value passes the checks below. Anything else, e.g. a blank or
ragged line, a quoted newline, a bad or unusual value, a duplicate id, goes through the row
path for that block, which writes the quarantine records with exact file:line, column,
value and reason.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from connectors.csv.parsing import _FALSE, _TRUE
from connectors.csv.reading import FileFacts, records
from models.errors import InputError

# What str.strip() removes (every str.isspace() character), so Arrow's trim is exactly the
# row path's; written out because finding them costs a second at import
# (tests/test_csv_fast_path.py checks the list against this Python's own).
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# Encodings in which b"\n", b"\r" and b'"' are always those characters (safe to cut on).
_CUTTABLE = {"utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-15", "cp1252", "cp1250"}
_UTF8 = {"utf-8", "utf-8-sig", "ascii"}
_MAX_BLOCK_GROWTH = 8  # a block that finds no line end outside quotes in 8x its size: row path

# Only the plain forms are taken; everything else is the row path's to judge.
_ISO_TS = (
    r"^[12]\d{3}-\d{2}-\d{2}(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)?$"
)
_HAS_OFFSET = r"(?:Z|[+-]\d{2}:\d{2})$"
_ISO_DATE = r"^[12]\d{3}-\d{2}-\d{2}$"
_NUMBER = {".": r"^-?\d+(?:\.\d+)?$", ",": r"^-?\d+(?:,\d+)?$"}
_INTEGER = r"^-?\d+$"

TS_TYPE = pa.timestamp("us", tz="UTC")
_BOOL_KEYS = pa.array(sorted(_TRUE | _FALSE - {""}))
_BOOL_VALUES = pa.array([k in _TRUE for k in _BOOL_KEYS.to_pylist()])


class NotClean(Exception):
    """This block has something only the row path can explain; use it for the block."""


@dataclass
class Block:
    """Bytes of whole records; ``first_line`` is the file line its first record starts on."""

    offset: int
    first_line: int
    data: bytes
    at_eof: bool
    to_end: bool = False  # no record end found: the row path reads from here to the end
    newlines: int = 0  # b"\n" in data
    line_ends: int = 0  # lines as Python counts them (_line_ends), counted once per block


def _is_all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py()) if len(mask) else True


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py()) if len(mask) else False


class BlockFile:
    """Reads one file as blocks of whole records and parses each with Arrow."""

    def __init__(
        self,
        facts: FileFacts,
        width: int,
        indexes: list[int],
        *,
        rows_per_block: int,
        check_encoding: bool,
    ) -> None:
        self.facts = facts
        self.width = width
        self.indexes = sorted(set(indexes))
        self.rows_per_block = rows_per_block
        self.block_bytes = 1 << 22  # until the first lines tell the size of a row
        self.check_encoding = check_encoding
        self.encoding = codecs.lookup(facts.encoding).name
        self.switched_to_rows = False  # a block's end proved not to be a record's end
        self.data_offset = 0
        self.first_line = 2

    @staticmethod
    def usable(facts: FileFacts, width: int) -> bool:
        try:
            name = codecs.lookup(facts.encoding).name
        except LookupError:
            return False
        delimiter = facts.delimiter
        return (
            name in _CUTTABLE
            and width > 1  # one-column files: whitespace-only lines are skipped, not rows
            and len(delimiter) == 1
            and delimiter.isascii()
            and delimiter not in '"\r\n'
        )

    # -- cutting ---------------------------------------------------------------------------

    def open(self) -> bool:
        """Find where the data starts (after the header record); False if this file is
        better read by the row path from the start."""
        size = self.facts.size
        with self.facts.path.open("rb") as handle:
            buffer = b""
            while True:
                chunk = handle.read(1 << 16)
                buffer += chunk
                end = _first_record_end(buffer)
                if end is not None and len(buffer) > end + (1 << 15) or not chunk:
                    break
                if len(buffer) > self.block_bytes * _MAX_BLOCK_GROWTH:
                    return False
        header = buffer[:end] if end is not None else buffer
        if _line_ends(header) != header.count(b"\n"):
            return False
        text = header.decode(self.facts.encoding, errors="replace")
        if (
            len(list(csv.reader(io.StringIO(text, newline=""), delimiter=self.facts.delimiter)))
            != 1
        ):
            return False
        self.data_offset = len(header) if end is not None else size
        self.first_line = 1 + _line_ends(header)
        sample = buffer[len(header) :]
        if sample.count(b"\n") and self.rows_per_block:
            per_line = len(sample) / sample.count(b"\n")
            self.block_bytes = int(min(max(per_line * self.rows_per_block, 1 << 12), 1 << 26))
        return True

    def blocks(self) -> Iterator[Block]:
        """Blocks of whole records after the header; stops once the row path took the rest."""
        with self.facts.path.open("rb") as handle:
            handle.seek(self.data_offset)
            offset, line = self.data_offset, self.first_line
            buffer = b""
            eof = False
            want = self.block_bytes
            while True:
                while not eof and len(buffer) < want:
                    chunk = handle.read(want - len(buffer))
                    eof = not chunk
                    buffer += chunk
                if not buffer:
                    return
                if eof:
                    cut: int | None = len(buffer)
                else:
                    cut = _record_end(buffer)
                    if cut is None:
                        if len(buffer) < self.block_bytes * _MAX_BLOCK_GROWTH:
                            want = len(buffer) + self.block_bytes
                            continue
                        yield Block(offset, line, b"", at_eof=False, to_end=True)
                        return
                data, buffer = buffer[:cut], buffer[cut:]
                want = self.block_bytes
                newlines = data.count(b"\n")
                line_ends = _line_ends(data, newlines)
                yield Block(offset, line, data, eof and not buffer, False, newlines, line_ends)
                if self.switched_to_rows:
                    return
                offset += len(data)
                line += line_ends

    # -- parsing ---------------------------------------------------------------------------

    def parse(self, block: Block) -> pa.Table | None:
        """Text columns ``c<index>`` for the block, or None if it is not one record a line."""
        data = block.data
        if block.to_end or block.line_ends != block.newlines:  # a lone \r ends a line
            return None
        lines = block.newlines + (0 if data.endswith(b"\n") else 1)
        if b"\x00" in data:
            return None
        if self.encoding not in _UTF8:
            try:
                data = data.decode(self.encoding).encode("utf-8")
            except UnicodeDecodeError:
                return None
        elif self.check_encoding:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None
        names = [f"c{i}" for i in range(self.width)]
        include = [f"c{i}" for i in self.indexes]
        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.facts.delimiter, newlines_in_values=True
                ),
                convert_options=pacsv.ConvertOptions(
                    include_columns=include,
                    column_types=dict.fromkeys(include, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
            return None
        if table.num_rows != lines:
            return None
        return table.combine_chunks()

    # -- the row path for one block --------------------------------------------------------

    def rows(self, block: Block) -> Iterator[tuple[int, list[str]]]:
        """The row path over one block, with file line numbers. If the block proves to end
        inside a quoted value, the row path reads from the block to the end of the file."""
        if block.to_end:
            self.switched_to_rows = True
            yield from _stream_rows(self.facts, block.offset, block.first_line)
            return
        try:
            text = block.data.decode(self.facts.encoding)
        except UnicodeDecodeError as exc:
            near = block.first_line + block.data.count(b"\n", 0, exc.start)
            raise InputError(
                f"{self.facts.path}: not readable as {self.facts.encoding} near line {near} "
                f"({exc.reason}); set encoding in hub.yml"
            ) from None
        parsed = list(
            records(io.StringIO(text, newline=""), self.facts, first_line=block.first_line)
        )
        last_cells = parsed[-1][1] if parsed else []
        if not block.at_eof and any("\n" in c or "\r" in c for c in last_cells):
            self.switched_to_rows = True
            yield from _stream_rows(self.facts, block.offset, block.first_line)
            return
        yield from parsed


def _line_ends(data: bytes, newlines: int | None = None) -> int:
    """Lines as Python's universal newlines count them: \\n, \\r\\n and a lone \\r."""
    newlines = data.count(b"\n") if newlines is None else newlines
    returns = data.count(b"\r")
    return newlines + returns - data.count(b"\r\n") if returns else newlines


def _first_record_end(buffer: bytes) -> int | None:
    position = -1
    quotes = 0
    while True:
        found = buffer.find(b"\n", position + 1)
        if found < 0:
            return None
        quotes += buffer.count(b'"', position + 1, found + 1)
        if quotes % 2 == 0:
            return found + 1
        position = found


def _record_end(buffer: bytes) -> int | None:
    """Offset just after the last line end outside quotes (quotes counted from the start of
    ``buffer``, which is a record start), or None if there is none."""
    end = buffer.rfind(b"\n")
    if end < 0:
        return None
    quotes = buffer.count(b'"', 0, end + 1)
    while quotes % 2:
        previous = buffer.rfind(b"\n", 0, end)
        if previous < 0:
            return None
        quotes -= buffer.count(b'"', previous + 1, end + 1)
        end = previous
    return end + 1


def _stream_rows(facts: FileFacts, offset: int, first_line: int) -> Iterator[tuple[int, list[str]]]:
    with facts.path.open("rb") as raw:
        raw.seek(offset)
        handle = io.TextIOWrapper(raw, encoding=facts.encoding, newline="", errors="strict")
        yield from records(handle, facts, first_line=first_line)


# -- values ------------------------------------------------------------------------------


def constant(value: Any, rows: int, value_type: pa.DataType | None = None) -> pa.Array:
    """``rows`` copies of ``value`` (without a Python list of them)."""
    return pa.repeat(pa.scalar(value, value_type), rows)


def trim(column: pa.Array) -> pa.Array:
    return pc.utf8_trim(column, characters=PY_WHITESPACE)


def require_ascii(column: pa.Array) -> None:
    """Lower/upper-casing non-ASCII text differs between Python and Arrow: row path."""
    if not _is_all(pc.string_is_ascii(column)):
        raise NotClean("non-ASCII value to case-fold")


def lookup(column: pa.Array, mapping: dict[str, Any], value_type: pa.DataType) -> pa.Array:
    """``mapping[value]`` per element, null where the value is not a key."""
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), value_type)
    return pc.take(values, pc.index_in(column, value_set=keys))


class ColumnConverter:
    """Field values of a block as Arrow arrays, or :class:`NotClean`."""

    def __init__(
        self,
        *,
        types: dict[str, type],
        decimal_separator: str,
        naive_is_utc: bool,
        date_format: str | None,
    ) -> None:
        self.types = types
        self.decimal_separator = decimal_separator
        self.naive_is_utc = naive_is_utc
        self.date_format = date_format

    def supports(self, names: list[str]) -> bool:
        temporal = any(self.types.get(n, str) in (datetime, date) for n in names)
        return not (temporal and self.date_format)

    def text(
        self, rows: int, raw: pa.Array | None, default: str | None, value_map: dict[str, str] | None
    ) -> pa.Array:
        """The row path's ``raw``: trimmed cell, else default, then value map; '' -> null."""
        if raw is None:
            value = constant("" if default is None else default, rows, pa.string())
        else:
            value = trim(raw)
            if default is not None:
                value = pc.if_else(pc.equal(value, ""), pa.scalar(default), value)
        if value_map:
            value = pc.coalesce(lookup(value, value_map, pa.string()), value)
        return pc.if_else(pc.equal(value, ""), pa.scalar(None, pa.string()), value)

    def parse(self, name: str, value: pa.Array) -> pa.Array:
        py_type = self.types.get(name, str)
        if py_type is str:
            return value
        if py_type is datetime:
            return self.timestamps(value)
        present = value.drop_null()
        if py_type is date:
            self._match(present, _ISO_DATE)
            return self._cast(value, pa.date32())
        if py_type is Decimal or py_type is float:
            self._match(present, _NUMBER[self.decimal_separator])
            if self.decimal_separator == ",":
                value = pc.replace_substring(value, ",", ".")
            return self._cast(value, pa.float64() if py_type is float else pa.decimal128(38, 9))
        if py_type is int:
            self._match(present, _INTEGER)
            return self._cast(value, pa.int64())
        if py_type is bool:
            require_ascii(present)
            result = lookup(
                pc.ascii_lower(value),
                dict(zip(_BOOL_KEYS.to_pylist(), _BOOL_VALUES.to_pylist(), strict=True)),
                pa.bool_(),
            )
            if result.null_count != value.null_count:
                raise NotClean("not a yes/no value")
            return result
        raise NotClean(f"no fast parser for {py_type}")

    def timestamps(self, value: pa.Array) -> pa.Array:
        if self.date_format:
            raise NotClean("date_format")
        present = value.drop_null()
        self._match(present, _ISO_TS)
        with_offset = pc.match_substring_regex(value, _HAS_OFFSET)
        if _is_all(pc.or_kleene(with_offset, pc.is_null(value))):
            return self._cast(value, TS_TYPE)
        if _any(with_offset) or not self.naive_is_utc:
            raise NotClean("naive timestamps mixed with offsets, or a non-UTC timezone")
        return self._cast(value, pa.timestamp("us")).cast(TS_TYPE)

    @staticmethod
    def _match(present: pa.Array, pattern: str) -> None:
        if not _is_all(pc.match_substring_regex(present, pattern)):
            raise NotClean(f"a value not of the form {pattern}")

    @staticmethod
    def _cast(value: pa.Array, to: pa.DataType) -> pa.Array:
        try:
            return pc.cast(value, to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise NotClean(f"a value that does not convert to {to}") from None
