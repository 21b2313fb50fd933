"""The transforms fixture's ``run_dbt`` reuses the parse saved in its target folder, and the
run-to-run vars it passes by environment are read when dbt runs, never frozen in that parse:
a second run at another ``as_of`` in the same folder skips parsing and renders its own."""

from __future__ import annotations

from pathlib import Path

import duckdb

from .conftest import run_dbt
from .fixtures import dbt_vars

SQL = "select {{ hub_as_of() }} as as_of"


def _compiled(db: Path, target: Path, as_of: str) -> str:
    res = run_dbt(db, target, ["compile", "--inline", SQL], {**dbt_vars(), "as_of": as_of})
    assert res.success, res.exception
    return str(res.result.results[0].node.compiled_code)


def test_a_second_run_in_one_folder_reuses_the_parse_and_reads_its_own_as_of(
    tmp_path: Path,
) -> None:
    db, target = tmp_path / "hub.duckdb", tmp_path / "target"
    duckdb.connect(str(db)).close()
    assert "2026-06-30T00:00:00Z" in _compiled(db, target, "2026-06-30T00:00:00Z")
    assert "2026-07-15T00:00:00Z" in _compiled(db, target, "2026-07-15T00:00:00Z")
    log = (target / "logs" / "dbt.log").read_text(encoding="utf-8")
    # dbt's words for a saved parse taken as it is; the first run parsed in full
    assert log.count("no changes found, skipping parsing") == 1, "the second run parsed again"
    assert log.count("Starting full parse") == 1
