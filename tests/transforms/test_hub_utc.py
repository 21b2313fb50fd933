"""``hub_utc`` on DuckDB (epoch arithmetic) gives exactly what the portable ``AT TIME ZONE``
form gives, for every kind of input the staging views and vars hand it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from .conftest import run_dbt

# (SQL input, the naive UTC timestamp expected; computed by hand)
CASES = [
    ("'2026-06-30T00:00:00Z'", datetime(2026, 6, 30)),
    ("'2026-06-30 12:34:56.789123+05:30'", datetime(2026, 6, 30, 7, 4, 56, 789123)),
    ("'1969-12-31 23:59:59.999999Z'", datetime(1969, 12, 31, 23, 59, 59, 999999)),
    ("'1900-01-01T00:00:00-01:00'", datetime(1900, 1, 1, 1)),
    ("timestamptz '2026-11-01 01:30:00-04'", datetime(2026, 11, 1, 5, 30)),
    ("'infinity'", datetime.max),
    ("'-infinity'", datetime.min),
    ("null", None),
]


def test_hub_utc_on_duckdb_equals_at_time_zone(tmp_path: Path) -> None:
    db = tmp_path / "utc.duckdb"
    selects = " union all ".join(
        f'select {i} as n, {{{{ hub_utc("{sql}") }}}} as fast, '
        f'{{{{ default__hub_utc("{sql}") }}}} as portable'
        for i, (sql, _) in enumerate(CASES)
    )
    res = run_dbt(db, tmp_path / "target", ["compile", "--inline", selects], {"as_of": "x"})
    assert res.success, res.exception
    compiled = res.result.results[0].node.compiled_code
    assert "make_timestamp(epoch_us(" in compiled  # DuckDB's own form, not the default
    con = duckdb.connect(str(db))
    try:
        rows = con.execute(f"select fast, portable from ({compiled}) order by n").fetchall()
    finally:
        con.close()
    assert rows == [(expected, expected) for _, expected in CASES]
