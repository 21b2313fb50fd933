"""Opening export files the way they come: unknown encoding, unknown delimiter, big.

One streaming pass fingerprints the file (so an unchanged file is skipped next sync) and
checks it decodes as UTF-8; files that do not are read as Latin-1, which every byte
sequence decodes as, and the run says so.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

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


def inspect_file(path: Path, *, encoding: str | None, delimiter: str | None) -> FileFacts:
    """Fingerprint, encoding and delimiter of ``path``; clear errors for unusable files."""
    if not path.exists():
        raise InputError(
            f"{path}: file not found; check the path in hub.yml (relative to its folder)"
        )
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a CSV file")
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = True
    head = b""
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            size += len(chunk)
            digest.update(chunk)
            if len(head) < 65536:
                head += chunk[: 65536 - len(head)]
            if is_utf8 and encoding is None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
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
    return FileFacts(path, digest.hexdigest(), encoding, delimiter, size)


def _sniff_delimiter(sample: str) -> str:
    header = sample.lstrip("\ufeff").splitlines()[0] if sample.strip() else ""
    try:
        return csv.Sniffer().sniff(sample[:16384], delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def read_rows(facts: FileFacts) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, cells)`` for each data row; the header is checked separately."""
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
