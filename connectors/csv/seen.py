"""The record ids a file read has loaded, and the line of each, for the duplicate-id rule;
also the keys of rows whose repeat is left out (a stage event read twice).

A repeated id skips its row with "first seen on line N", so every loaded id must be
looked up by both paths. Turning every id of a clean block into a Python string and a
dict entry cost more than parsing the block, so the fast path keeps a set of 64-bit
hashes instead (DuckDB's ``hash``, computed on the Arrow column) and the ids themselves
as Arrow arrays with the block's first line. The dict of id -> line is built only when
the row path first asks (a file with a block only it can read) or a full snapshot needs
the ids. A hash that matches is either a repeat or a collision: the block goes row by
row, which decides exactly, so a collision costs time, never a row.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from connectors.csv.fast import NotClean

Ids: TypeAlias = pa.Array | pa.Table  # one id column, or the columns of a compound key (tuples)


class SeenIds:
    """Ids loaded so far: ``add_block`` / ``add`` record them, ``line_of`` finds one."""

    def __init__(self) -> None:
        self._hashes: set[int] = set()  # of ids from clean blocks
        self._blocks: list[tuple[Ids, int]] = []  # clean blocks' ids, first line
        self._fast_lines: dict[Hashable, int] | None = None  # built from _blocks when asked
        self._row_lines: dict[Hashable, int] = {}  # ids the row path loaded
        self._hasher: duckdb.DuckDBPyConnection | None = None

    def new_block(self, ids: Ids) -> list[int]:
        """The hashes of a block's ids, or NotClean if one may repeat a loaded id or
        another of the block. Changes nothing: :meth:`add_block` records them."""
        if isinstance(ids, pa.Array) and pc.count_distinct(ids).as_py() != len(ids):
            raise NotClean("duplicate id in the block")
        hashes = self._hash(ids)
        if len(set(hashes)) != len(hashes):  # a compound key's repeat (or a collision)
            raise NotClean("duplicate key in the block")
        if not self._hashes.isdisjoint(hashes):
            raise NotClean("id (or its hash) seen in an earlier block")
        if self._row_lines and not self._row_lines.keys().isdisjoint(_python(ids)):
            raise NotClean("id seen in an earlier block")
        return hashes

    def add_block(self, ids: Ids, hashes: list[int], first_line: int) -> None:
        self._hashes.update(hashes)
        self._blocks.append((ids, first_line))
        if self._fast_lines is not None:
            self._fast_lines.update(_lines(ids, first_line))

    def add(self, record_id: Hashable, line: int) -> None:
        """An id the row path loaded on ``line`` (a tuple for a compound key)."""
        self._row_lines[record_id] = line

    def line_of(self, record_id: Hashable) -> int | None:
        """The line ``record_id`` was loaded from, or None if it was not."""
        line = self._row_lines.get(record_id)
        if line is None and self._blocks:
            line = self._by_id().get(record_id)
        return line

    def __contains__(self, record_id: object) -> bool:
        return isinstance(record_id, Hashable) and self.line_of(record_id) is not None

    def __len__(self) -> int:
        return len(self._row_lines) + sum(len(ids) for ids, _ in self._blocks)

    def __iter__(self) -> Iterator[Hashable]:
        yield from self._row_lines
        for ids, _ in self._blocks:
            yield from _python(ids)

    def column(self) -> pa.ChunkedArray:
        """The ids of a one-column key as one Arrow string column (no Python object per id
        loaded by a clean block)."""
        chunks = [ids.cast(pa.string()) for ids, _ in self._blocks if isinstance(ids, pa.Array)]
        chunks.append(pa.array([str(i) for i in self._row_lines], pa.string()))
        return pa.chunked_array(chunks, pa.string())

    def _by_id(self) -> dict[Hashable, int]:
        if self._fast_lines is None:
            self._fast_lines = {}
            for ids, first_line in self._blocks:
                self._fast_lines.update(_lines(ids, first_line))
        return self._fast_lines

    def _hash(self, ids: Ids) -> list[int]:
        if self._hasher is None:
            self._hasher = duckdb.connect(":memory:")
        columns = [ids] if isinstance(ids, pa.Array) else ids.columns
        table = pa.table({f"k{n}": column for n, column in enumerate(columns)})
        names = ", ".join(table.column_names)
        relation = self._hasher.from_arrow(table).project(f"hash({names})")
        return relation.to_arrow_table().column(0).to_numpy().tolist()


def _python(ids: Ids) -> list[Hashable]:
    """The ids as the row path holds them: strings, or tuples of a compound key's values."""
    if isinstance(ids, pa.Array):
        return ids.to_pylist()
    return list(zip(*(column.to_pylist() for column in ids.columns), strict=True))


def _lines(ids: Ids, first_line: int) -> Iterator[tuple[Hashable, int]]:
    return zip(_python(ids), range(first_line, first_line + len(ids)), strict=True)
