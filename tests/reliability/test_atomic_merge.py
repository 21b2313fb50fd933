"""A merge that fails between its delete and its insert loses no row.

dlt merges a table by running ``DELETE`` (the rows whose keys the load brings) and then
``INSERT`` (the loaded rows) from one SQL file. On DuckDB it opened a transaction around
them only when the file's text held "CREATE", "ALTER" or "DROP" (as in a ``created_at``
column): the destination left ``supports_transactions`` unset. For ``owners``, ``stages``,
``pipelines``, ``field_definitions``, ``deal_accounts``, ``activities`` and ``stage_changes``
each statement was committed on its own, so an insert that failed after its delete (the disk
filling up in between, in ``test_disk_full.py``, about one run in five) left the table
without the re-read rows until a later pull finished the package.

Here the insert fails every time, for a reason DuckDB checks as it inserts: a NOT NULL
constraint the test adds to ``owners.team``, with an export whose re-read owners include one
without a team. The delete must not outlive the failed insert.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from hub.generate import generate
from tests.reliability.harness import fingerprint, run_hub

OWNERS = "src_crm_export.owners"


def _blank_first_team(owners_csv: Path) -> None:
    with owners_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["team"] = ""
    with owners_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_merge_whose_insert_fails_keeps_the_rows_its_delete_removed(tmp_path: Path) -> None:
    config = generate(tmp_path / "export", seed=5, deals=40).config_path
    assert config
    hub = config.parent
    cfg = ("--config", str(config))
    assert (first := run_hub("pull", *cfg, cwd=hub)).code == 0, first.output
    db = hub / ".hub" / "hub.duckdb"
    before = fingerprint(db)
    assert before[OWNERS].rows > 1

    with duckdb.connect(str(db)) as con:  # what the warehouse will refuse to insert
        con.execute(f"ALTER TABLE {OWNERS} ALTER COLUMN team SET NOT NULL")
    _blank_first_team(hub / "owners.csv")

    failed = run_hub("pull", *cfg, cwd=hub)
    assert failed.code != 0, failed.output
    assert "NOT NULL constraint failed" in failed.output, failed.output  # the insert ran
    after = fingerprint(db)
    assert after[OWNERS].same_as(before[OWNERS]), (before[OWNERS], after[OWNERS])
    shrunk = [k for k in before if after[k].rows < before[k].rows]
    assert not shrunk, [(k, before[k], after[k]) for k in shrunk]
