"""The types of custom-field columns declared ``infer``, read from the file's own values.

A column is ``bool`` when every value is true/false or yes/no (any case), ``number`` when
every value is a plain number (``-12``, ``3.5``, or ``3,5`` with ``decimal_separator: ","``;
a leading zero as in ``02139`` makes it text, so zip codes and ids keep their zeros),
``date`` when every value is an ISO date (``2026-03-01``), ``datetime`` when every value is
an ISO date or timestamp, else ``text``. A column without a value is text, and enums are
never inferred (declare them). The first type in that order that fits every value wins.

Types are known before the first row is converted, so inference is one extra pass over the
file that reads only those columns: Arrow blocks where the fast path can cut the file,
rows otherwise. A row with the wrong number of fields loads nothing and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from connectors.csv.fast import _HAS_OFFSET, _ISO_DATE, _ISO_TS, TS_TYPE, BlockFile, trim
from connectors.csv.reading import FileFacts, read_rows

ORDER = ("bool", "number", "date", "datetime")  # the first that fits every value wins
_BOOL_WORDS = pa.array(["true", "false", "yes", "no"])
_PLAIN_NUMBER = {".": r"^-?(?:0|[1-9]\d*)(?:\.\d+)?$", ",": r"^-?(?:0|[1-9]\d*)(?:,\d+)?$"}


def infer_types(
    facts: FileFacts,
    width: int,
    indexes: list[int],
    *,
    decimal_separator: str,
    fast_path: bool,
    chunk_rows: int,
    check_encoding: bool,
) -> dict[int, str]:
    """The type of each column in ``indexes`` (positions in the header)."""
    fits = {index: set(ORDER) for index in indexes}
    seen: set[int] = set()
    chunks = _chunks(facts, width, indexes, fast_path, chunk_rows, check_encoding)
    for index, values in chunks:
        if len(values) == 0 or not fits[index]:
            continue
        seen.add(index)
        fits[index] = {t for t in fits[index] if _fits(t, values, decimal_separator)}
    return {
        index: next((t for t in ORDER if t in fits[index]), "text") if index in seen else "text"
        for index in indexes
    }


def _fits(data_type: str, values: pa.Array, decimal_separator: str) -> bool:
    """Whether every value (trimmed, none empty) reads as ``data_type``."""
    if data_type == "bool":
        return _all(pc.is_in(pc.ascii_lower(values), value_set=_BOOL_WORDS))
    if data_type == "number":
        return _all(pc.match_substring_regex(values, _PLAIN_NUMBER[decimal_separator]))
    pattern = _ISO_DATE if data_type == "date" else _ISO_TS
    if not _all(pc.match_substring_regex(values, pattern)):
        return False
    try:  # the pattern allows 2026-02-31 and 25:00; a cast does not
        if data_type == "date":
            pc.cast(values, pa.date32())
        else:
            with_offset = pc.match_substring_regex(values, _HAS_OFFSET)
            pc.cast(values.filter(with_offset), TS_TYPE)
            pc.cast(values.filter(pc.invert(with_offset)), pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py())


def _chunks(
    facts: FileFacts,
    width: int,
    indexes: list[int],
    fast_path: bool,
    chunk_rows: int,
    check_encoding: bool,
) -> Iterator[tuple[int, pa.Array]]:
    """``(column index, non-empty trimmed values)`` for the file, a block at a time."""
    blocks = None
    if fast_path and BlockFile.usable(facts, width):
        blocks = BlockFile(
            facts, width, indexes, rows_per_block=chunk_rows, check_encoding=check_encoding
        )
    if blocks is None or not blocks.open():
        yield from _row_chunks(read_rows(facts), width, indexes, chunk_rows)
        return
    for block in blocks.blocks():
        table = blocks.parse(block)
        if table is None:
            yield from _row_chunks(blocks.rows(block), width, indexes, chunk_rows)
            continue
        for index in indexes:
            text = trim(table.column(f"c{index}").combine_chunks())
            yield index, text.filter(pc.not_equal(text, ""))


def _row_chunks(
    rows: Iterable[tuple[int, list[str]]], width: int, indexes: list[int], chunk_rows: int
) -> Iterator[tuple[int, pa.Array]]:
    values: dict[int, list[str]] = {index: [] for index in indexes}
    count = 0
    for _line, cells in rows:
        if len(cells) != width:
            continue
        for index in indexes:
            if text := cells[index].strip():
                values[index].append(text)
        count += 1
        if count >= chunk_rows:
            yield from ((i, pa.array(v, pa.string())) for i, v in values.items())
            values = {index: [] for index in indexes}
            count = 0
    yield from ((i, pa.array(v, pa.string())) for i, v in values.items())
