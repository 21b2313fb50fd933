"""The first pass's UTF-8 check (connectors/csv/reading.py, Utf8Check) says what Python's
own UTF-8 decoder says, wherever the chunks of the pass cut the characters.

Python's incremental decoder, fed the same chunks, is the oracle: it is what the pass used
before and what the row path reads the file with.
"""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pytest

from connectors.csv import reading

# Whole characters of one to four bytes, and byte sequences Python refuses: a lone
# continuation byte, an overlong form, a surrogate, a code point past U+10FFFF, bytes that
# never start a character, and a character cut short by the next one.
GOOD = ["a", ",", "\n", "é", "ß", "€", "😀", "中"]
BAD = [b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff", b"\xf8", b"\xe2\x82a"]


def _python_says(data: bytes, chunk: int) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), chunk):
            decoder.decode(data[start : start + chunk])
    except UnicodeDecodeError:
        return False
    return True


def _file(rng: random.Random, bad: bytes | None) -> bytes:
    text = "id,name\n" + "".join(rng.choice(GOOD) for _ in range(1000))
    data = text.encode("utf-8")
    if bad is None:
        return data
    at = rng.randrange(8, len(data))
    while 0x80 <= data[at] < 0xC0:  # between two whole characters
        at -= 1
    return data[:at] + bad + data[at:]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 20])
@pytest.mark.parametrize("bad", [None, *BAD])
def test_the_encoding_found_is_python_decoders_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, bad: bytes | None
) -> None:
    monkeypatch.setattr(reading, "_CHUNK", chunk)
    rng = random.Random(f"{chunk}-{bad!r}")
    for n in range(2):
        data = _file(rng, bad)
        path = tmp_path / f"f{n}.csv"
        path.write_bytes(data)
        facts = reading.inspect_file(path, encoding=None, delimiter=None)
        expected = "utf-8-sig" if _python_says(data, chunk) else "latin-1"
        assert facts.encoding == expected
        assert (bad is None) is (expected == "utf-8-sig")


def test_an_ascii_file_is_utf8_and_a_character_cut_by_its_end_is_left_to_the_reads(
    tmp_path: Path,
) -> None:
    """An ASCII file needs no validation at all; a multi-byte character cut off by the end
    of the file is, as before, not this pass's to judge (the row path's strict read of the
    file names the line)."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,name\n1,plain\n")
    assert reading.inspect_file(path, encoding=None, delimiter=None).encoding == "utf-8-sig"
    path.write_bytes("id,name\n1,caf\u00e9".encode()[:-1])
    assert _python_says(path.read_bytes(), 1 << 20)
    assert reading.inspect_file(path, encoding=None, delimiter=None).encoding == "utf-8-sig"
