"""The byte pass's word on spaces at cells' edges (``ByteLayout.edge_spaces``).

When it says no cell of a file starts or ends with a space, DuckDB's path reads every cell
as written instead of looking at both ends of each (connectors/csv/duck.py ``_trimmed``).
A wrong "no" would keep a space the row path strips, so the answer must be True wherever
Python's csv module reads a cell with a space at an edge, however the pass cuts the file
into chunks; and False for the exports' own quoted text (delimiters and escaped quotes
inside quotes), or the change saves nothing.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest

from connectors.csv.reading import ByteLayout
from hub.generate import Generated
from tests.csv_helpers import pull
from tests.test_csv_duck import _pair, _tables, merged  # noqa: F401 (merged: a fixture)


def _edge_spaces(data: bytes, cuts: tuple[int, ...], delimiter: str = ",") -> bool:
    layout = ByteLayout()
    for start, end in zip((0, *cuts), (*cuts, len(data)), strict=True):
        if data[start:end]:
            layout.add(data[start:end])
    return layout.edge_spaces(delimiter)


def _has_edge_space(data: bytes, delimiter: str = ",") -> bool:
    text = io.StringIO(data.decode(), newline="")
    return any(c != c.strip(" ") for row in csv.reader(text, delimiter=delimiter) for c in row)


@pytest.mark.parametrize(
    ("data", "spaced"),
    [
        (b"a,b\n1,2\n", False),
        (b'a,b\n1,"Smith, Jones & Partners"\n', False),
        (b'a,b\n1,"Pricing for The ""Good"" Company"\n', False),
        (b'a,b\n1,"""Quoted"" first, then more"\n', False),
        (b'a,b\n1,"x"";"\n', False),
        (b"a,b\n1, 2\n", True),
        (b"a,b\n1 ,2\n", True),
        (b"a,b\n1,2 \n", True),
        (b"a,b\r\n1,2 \r\n", True),
        (b"a,b\n 1,2\n", True),
        (b" a,b\n1,2\n", True),
        (b"a,b\n1,2 ", True),  # the file's last byte
        (b'a,b\n1," x"\n', True),
        (b'a,b\n1,"x "\n', True),
        (b'a,b\n1,""" x"\n', False),  # '" x': a quote first
        (b'a,b\n1,"x "" "\n', True),
        (b'a,b\n1,x "y, z"\n', True),  # a quote inside a value: no quoted text there
        (b'a,b\n1,"x" ,2\n', True),
        (b'a,b\n1,"unclosed, \n', True),
    ],
)
def test_edge_spaces_wherever_a_cell_has_one_at_every_cut(data: bytes, spaced: bool) -> None:
    if not spaced:  # a "no" is Python's reading too; a "yes" may only be caution
        assert not _has_edge_space(data)
    for cut in range(len(data) + 1):
        assert _edge_spaces(data, (cut,)) is spaced, cut


def test_a_quote_after_another_delimiter_is_no_field_start() -> None:
    """Read with ``,``, a quote after ``;`` starts no quoted text: the ', ' after it is a
    cell's edge (Python reads ``a;"b``, `` c"``)."""
    data = b'h1,h2\nx,a;"b, c"\n'
    assert _has_edge_space(data)
    assert _edge_spaces(data, ()) is True
    assert _edge_spaces(b'h1;h2\nx;"b, c"\n', (), ";") is False


def test_edge_spaces_never_misses_one_in_random_files() -> None:
    """Random short files of the bytes that matter, each cut into three chunks at random
    places: a "no" only where no cell has a space at an edge."""
    rng = random.Random(19)
    alphabet = ["a", " ", ",", '"', '""', "\n", "\r\n", ";"]
    said_no = 0
    for _ in range(6000):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16))).encode()
        try:
            spaced = _has_edge_space(data)
        except csv.Error:
            continue
        cuts = tuple(sorted(rng.randint(0, len(data)) for _ in range(2)))
        answer = _edge_spaces(data, cuts)
        assert answer or not spaced, (data, cuts)
        said_no += not answer
    assert said_no > 500  # and it does say no


def test_quoted_edges_and_quoted_delimiters_merged_by_duckdb_equal_the_row_path(
    tmp_path: Path,
    small_export: Generated,
    merged: dict[str, int | None],  # noqa: F811
) -> None:
    """An activities file whose quoted subjects hold delimiters and escaped quotes (no
    cell looked at) and one whose quoted subjects also start or end with spaces (every
    cell looked at, the spaces trimmed): DuckDB merges both, as the row path reads them."""
    lines = {
        "inside": [
            'X1,D0000001,call,"Smith, Jones & Partners",2025-01-02T10:00:00Z,true,,5,,',
            'X2,D0000001,call,"The ""Good"" Company",2025-01-02T10:00:00Z,true,,5,,',
        ],
        "edges": [
            'X1,D0000001,call," Smith, Jones ",2025-01-02T10:00:00Z,true,,5,,',
            'X2,D0000001,call,"The ""Good"" Company ",2025-01-02T10:00:00Z,true,,5,,',
        ],
    }
    for name, extra in lines.items():
        duck_config, rows_config = _pair(tmp_path / name, small_export)
        for config in (duck_config, rows_config):
            path = config.base_dir / "activities.csv"
            body = path.read_text(encoding="utf-8").splitlines()
            path.write_text("\n".join([*body, *extra]) + "\n", encoding="utf-8")
        merged.clear()
        for config in (duck_config, rows_config):
            run = pull(config)
            assert run.status == "ok", run.error
        assert merged["activities.csv"], name  # DuckDB took the file
        assert _tables(duck_config) == _tables(rows_config), name
