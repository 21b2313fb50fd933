"""Opening export files the way they come: unknown encoding, unknown delimiter, big.

An unchanged file is skipped next sync by its sha256 (:func:`connectors.csv.appended.digests`,
the only pass a no-change sync makes over it). A file to be read is inspected in one streaming pass: its
digest and whether it decodes as UTF-8; files that do not are read as Latin-1, which every
byte sequence decodes as, and the run says so. How its bytes cut into lines
(:class:`ByteLayout`) is counted in a further pass only if DuckDB is offered the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa

from models.errors import InputError

_CHUNK = 1 << 20
csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class FileFacts:
    path: Path
    fingerprint: str
    encoding: str
    delimiter: str
    size: int
    # The layout, when inspect_file counted it in its own pass (count_layout).
    counted: ByteLayout | None = field(default=None, compare=False, repr=False)

    @cached_property
    def layout(self) -> ByteLayout:
        """How the bytes cut into lines, for a parser that must prove one record a line
        (connectors.csv.duck); counted in the digest's pass when asked for there, else one
        pass over the file, made when first asked."""
        if self.counted is not None:
            return self.counted
        layout = ByteLayout()
        with self.path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                layout.add(chunk)
        return layout


@dataclass
class ByteLayout:
    """Line ends and the bytes that make CSV parsers disagree, counted over a whole file."""

    newlines: int = 0  # b"\n"
    lone_returns: int = 0  # b"\r" not followed by b"\n" (Python ends a line there)
    nuls: int = 0
    ends_with_newline: bool = False
    # A quote after blanks at a field's start: Python's csv keeps ' "x"' as written,
    # DuckDB's reader takes the quotes off. True also for look-alikes inside quoted text.
    blank_before_quote: bool = False
    # Whitespace other than spaces and line ends (a tab, a no-break space...) anywhere: only
    # then can Python's str.strip() take more than spaces off a cell. True also for the
    # bytes of such a character split between two chunks of the pass.
    odd_whitespace: bool = False
    _tail: bytes = b""

    def add(self, chunk: bytes) -> None:
        # Each check looks at the chunk in place and, where a pattern may cross from the
        # last chunk, at the few bytes of the seam: joining the tail to every 1 MiB chunk
        # (twice) copied the file twice more, and judged the tail's quotes again.
        codes = np.frombuffer(chunk, np.uint8)
        # numpy counts at memory speed, bytes.count at a third of it
        self.newlines += int(np.count_nonzero(codes == _LF))
        if b"\r" in chunk and (returns := chunk.count(b"\r")):
            self.lone_returns += returns - chunk.count(b"\r\n")
        if self._tail.endswith(b"\r") and chunk.startswith(b"\n"):
            self.lone_returns -= 1  # a \r\n cut between two chunks
        if b"\x00" in chunk:
            self.nuls += chunk.count(b"\x00")
        if not self.blank_before_quote and b'"' in chunk:  # memchr first: most chunks pass
            self.blank_before_quote = _blank_before_quote(chunk, codes, self._tail)
        if not self.odd_whitespace:
            seam = self._tail[-2:] + chunk[:2]  # a character of up to 3 bytes cut in two
            self.odd_whitespace = _odd_whitespace(chunk, codes) or _odd_whitespace(seam)
        self.ends_with_newline = chunk.endswith(b"\n")
        self._tail = chunk[-64:]

    def lines(self) -> int:
        """Lines as Python's csv module numbers them."""
        return self.newlines + self.lone_returns + (0 if self.ends_with_newline else 1)


# What str.isspace() holds besides b" ", b"\n" and b"\r", in UTF-8: single bytes, then
# multi-byte characters, looked for only where their lead bytes occur (single-byte searches
# run at memory speed; a pattern over every byte costs twenty times the sha256).
_ODD_BYTES = (b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_ODD_BY_LEAD = {
    b"\xc2": (b"\xc2\x85", b"\xc2\xa0"),
    b"\xe1": (b"\xe1\x9a\x80",),
    b"\xe2": tuple(b"\xe2\x80" + bytes((c,)) for c in (*range(0x80, 0x8B), 0xA8, 0xA9, 0xAF))
    + (b"\xe2\x81\x9f",),
    b"\xe3": (b"\xe3\x80\x80",),
}


_LF = ord("\n")


class Utf8Check:
    """Whether a file's bytes, given in chunks, are UTF-8, without decoding them: Arrow
    validates each chunk (cast to its string type) at a quarter of the cost of Python's
    incremental decoder, which built a str of every chunk only to drop it. A character cut
    between two chunks is carried over to the next; like that decoder's, the check leaves
    a character cut off by the end of the file to the reads that follow."""

    def __init__(self) -> None:
        self._carry = b""

    def add(self, chunk: bytes) -> bool:
        data = self._carry + chunk if self._carry else chunk
        cut = _complete_up_to(data)
        self._carry = data[cut:]
        if cut == len(data) and data.isascii():
            return True
        whole = data if cut == len(data) else data[:cut]
        offsets = pa.py_buffer(np.array([0, len(whole)], np.int32))
        array = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(whole)])
        try:
            array.cast(pa.string())
        except pa.ArrowInvalid:
            return False
        return True


def _complete_up_to(data: bytes) -> int:
    """Where ``data`` stops holding only whole UTF-8 sequences: its length, or the start
    of a multi-byte character its last bytes begin but do not finish."""
    end = len(data)
    start = end - 1
    while start >= max(0, end - 3) and 0x80 <= data[start] < 0xC0:
        start -= 1  # continuation bytes: back to their lead byte
    if start < 0:
        return end
    lead = data[start]
    need = (
        2 if 0xC2 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF5 else 1
    )
    return start if end - start < need else end


def _odd_whitespace(data: bytes, codes: np.ndarray | None = None) -> bool:
    """Whether ``data`` holds a whitespace character other than spaces and line ends
    (``codes``: its bytes as numpy's, when the caller has them)."""
    if any(b in data for b in _ODD_BYTES):
        return True
    for lead, characters in _ODD_BY_LEAD.items():
        if lead not in data:
            continue
        # Where the lead byte is, found once; then the bytes after it, compared for each
        # character at once (searching the data for each character took up to seven times
        # a single-byte search, with CJK text; a pass per character, twice that again).
        codes = np.frombuffer(data, np.uint8) if codes is None else codes
        leads = np.flatnonzero(codes == lead[0])
        for character in characters:
            at = leads[leads <= len(codes) - len(character)]
            for offset in range(1, len(character)):
                at = at[codes[at + offset] == character[offset]]
            if len(at):
                return True
    return False


_BLANKS = b" \x0b\x0c"
# Bytes a field can start after: line ends and every delimiter this module may sniff or
# take (the delimiter is only known after this pass; more starts only mean fewer files
# taken by DuckDB). A delimiter given in hub.yml outside this set is not DuckDB's to read.
FIELD_STARTS = b",;\t|\n\r"


_IS_BLANK = np.zeros(256, bool)
_IS_BLANK[list(b" \t" + _BLANKS)] = True


def _blank_before_quote(chunk: bytes, codes: np.ndarray, tail: bytes = b"") -> bool:
    """Whether a quote in ``chunk`` follows blanks at what may be a field's start (``tail``:
    the bytes before the chunk, as far as they are known; the file's start before them). A
    tab before a quote always counts: it is a blank or a delimiter, and this pass cannot
    tell which. (The quotes are found with numpy: searching the bytes for each blank-quote
    pair cost more than the sha256 of the file.)"""
    quotes = np.flatnonzero(codes == ord('"'))
    found: list[int] = []
    if len(quotes) and quotes[0] == 0:  # the byte before it is the tail's
        quotes = quotes[1:]
        found = [0] if tail and _IS_BLANK[tail[-1]] else []
    found += quotes[_IS_BLANK[codes[quotes - 1]]].tolist()
    return any(_after_blanks_at_start(chunk, tail, at) for at in found)


def _after_blanks_at_start(chunk: bytes, tail: bytes, found: int) -> bool:
    """Whether the blanks before the quote at ``found`` (an offset in ``chunk``; ``tail``
    before it) start a field: a tab among them, or a field start or the known bytes' start
    before them."""

    def at(offset: int) -> int:
        return chunk[offset] if offset >= 0 else tail[offset]

    start = -len(tail)  # the first byte known
    before = found - 1
    if at(before) == ord("\t"):
        return True
    while before > start and at(before - 1) in _BLANKS:
        before -= 1
    return before == start or at(before - 1) in FIELD_STARTS


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(
            f"{path}: file not found; check the path in hub.yml (relative to its folder)"
        )
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a CSV file")


def inspect_file(
    path: Path,
    *,
    encoding: str | None,
    delimiter: str | None,
    fingerprint: str | None = None,
    count_layout: bool = False,
) -> FileFacts:
    """Fingerprint, encoding and delimiter of ``path``; clear errors for unusable files.
    ``fingerprint``: the file's digest, already computed (:func:`connectors.csv.appended.digests`).
    ``count_layout``: count :attr:`FileFacts.layout` in the same pass (for a file DuckDB
    may take: one read of the file instead of two)."""
    _check_readable(path)
    digest = hashlib.sha256() if fingerprint is None else None
    utf8 = Utf8Check()
    layout = ByteLayout() if count_layout else None
    is_utf8 = True
    head = b""
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            size += len(chunk)
            if digest is not None:
                digest.update(chunk)
            if layout is not None:
                layout.add(chunk)
            if len(head) < 65536:
                head += chunk[: 65536 - len(head)]
            if is_utf8 and encoding is None:
                is_utf8 = utf8.add(chunk)
    if size == 0 or not head.strip(b"\xef\xbb\xbf \r\n\t"):
        raise InputError(f"{path}: the file is empty; expected a header row and data rows")
    if encoding is None:
        encoding = "utf-8-sig" if is_utf8 else "latin-1"
    try:
        sample = head.decode(encoding, errors="ignore")
    except LookupError:
        raise InputError(f"{path}: unknown encoding {encoding!r}; try utf-8 or latin-1") from None
    if delimiter is None:
        delimiter = _sniff_delimiter(sample)
    known = digest.hexdigest() if digest is not None else fingerprint
    assert known is not None  # no digest was computed only because one was given
    return FileFacts(path, known, encoding, delimiter, size, layout)


def _sniff_delimiter(sample: str) -> str:
    header = sample.lstrip("\ufeff").splitlines()[0] if sample.strip() else ""
    try:
        return csv.Sniffer().sniff(sample[:16384], delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def read_rows(
    facts: FileFacts, *, start: tuple[int, int] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, cells)`` for each data row; the header is checked separately.
    ``start``: (byte offset, its line) of a record start to read from instead (the part
    appended since the last read, connectors.csv.appended)."""
    if start is not None:
        offset, line = start
        encoding = "utf-8" if facts.encoding == "utf-8-sig" else facts.encoding  # no BOM there
        with facts.path.open("rb") as raw:
            raw.seek(offset)
            tail = io.TextIOWrapper(raw, encoding=encoding, newline="", errors="strict")
            yield from records(tail, facts, first_line=line)
        return
    with facts.path.open("r", encoding=facts.encoding, newline="", errors="strict") as handle:
        yield from records(handle, facts, skip_header=True)


def records(
    handle: TextIO, facts: FileFacts, *, first_line: int = 1, skip_header: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of each non-blank record of ``handle``, which starts at
    line ``first_line`` of the file; unreadable CSV or text stops with the line."""
    reader = csv.reader(handle, delimiter=facts.delimiter)
    if skip_header and next(reader, None) is None:
        return
    base = first_line - 1
    try:
        for cells in reader:
            if cells and (len(cells) > 1 or cells[0].strip()):
                yield base + reader.line_num, cells
    except csv.Error as exc:
        raise InputError(
            f"{facts.path}: line {base + reader.line_num}: unreadable CSV ({exc}); "
            "often an unclosed quote"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{facts.path}: not readable as {facts.encoding} near line "
            f"{base + reader.line_num} ({exc.reason}); set encoding in hub.yml"
        ) from None


def read_header(facts: FileFacts) -> list[str]:
    with facts.path.open("r", encoding=facts.encoding, newline="", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=facts.delimiter)
        header = next(reader, [])
    header = [h.strip().lstrip("\ufeff") for h in header]
    if not any(header):
        raise InputError(f"{facts.path}: the first line is empty; expected a header row")
    return header
