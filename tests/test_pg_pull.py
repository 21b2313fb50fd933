"""A changed CSV pull into PostgreSQL: appended history and activities files read from their
last end (connectors/csv/appended.py, the key check through sqlalchemy), and a deals file
whose unchanged rows are not handed to dlt (connectors/csv/row_hashes.py).

Each case pulls a sequence of file versions into two fresh PostgreSQL databases: one with both
paths, one with both turned off (every changed file read whole and every row sent: the oracle).
After every pull each source table and the quarantine (file:line included) must be equal row
for row (a fresh pull of the final files is no oracle here: the sequence deletes deals and
truncates a log, whose earlier rows a warehouse keeps). The notes say which path each file
took, so a case cannot pass by never taking it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.csv import appended, row_hashes
from hub.pull import SourceRun, run_pull
from models.config import HubConfig, parse_config
from tests.csv_helpers import CSV_TABLES
from tests.pg import fresh_database, pg_engine, pg_warehouse

# The appended files of tests/test_csv_appended.py and its steps: the same sequences, on
# PostgreSQL here.
from tests.test_csv_appended import (
    ACTIVITIES,
    HISTORY,
    MORE_ACTIVITIES,
    MORE_HISTORY,
    append,
    write,
)

pytestmark = pytest.mark.postgres

SCHEMA = "src_exp"
DEALS_HEADER = "id,name,stage,status,amount,account,created\n"
DEAL_ROWS = [
    "D1,Alpha,Qualified,open,100.50,ACME,2026-01-02\n",
    "D2,Beta,Proposal,open,2000,GLOBEX,2026-01-03\n",
    "D3,Gamma,Won,won,300,,2026-01-04\n",
    "D4,Delta,Qualified,open,,INITECH,2026-01-05\n",
]

Step = Callable[[Path], object]


def _deals(*rows: str) -> Step:
    return lambda folder: (folder / "deals.csv").write_text(
        DEALS_HEADER + "".join(rows), encoding="utf-8"
    )


def _config(folder: Path, db: dict[str, Any]) -> HubConfig:
    deals = {
        "path": "deals.csv",
        "full_snapshot": True,
        "columns": {
            "source_deal_id": "id",
            "name": "name",
            "stage_id": "stage",
            "status": "status",
            "amount": "amount",
            "account_id": "account",
            "created_at": "created",
        },
    }
    options = {
        "deals": deals,
        "stage_history": {
            "path": "history.csv",
            "columns": {"deal_id": "deal", "stage_id": "stage", "changed_at": "at"},
            "defaults": {"changed_by": "nobody"},
        },
        "activities": {
            "path": "activities.csv",
            "columns": {
                "source_activity_id": "id",
                "deal_id": "deal",
                "type": "type",
                "occurred_at": "at",
                "subject": "subject",
            },
        },
    }
    raw = {
        "sources": [{"name": "exp", "kind": "csv", "options": options}],
        "warehouse": pg_warehouse(db),
    }
    return parse_config(raw, folder / "hub.yml")


def _start(folder: Path) -> None:
    folder.mkdir()
    _deals(*DEAL_ROWS)(folder)
    write("history.csv", HISTORY)(folder)
    write("activities.csv", ACTIVITIES)(folder)


def _pull(config: HubConfig) -> SourceRun:
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    return run


def _tables(db: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    engine = pg_engine(db)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names(schema=SCHEMA))
            out = {
                table: sorted(conn.execute(sa.text(f"SELECT * FROM {SCHEMA}.{table}")), key=repr)
                for table in CSV_TABLES
                if table in present
            }
            out["quarantine"] = sorted(
                conn.execute(
                    sa.text(
                        "SELECT entity, record_id, location, column_name, value, reason "
                        f"FROM {SCHEMA}.quarantine"
                    )
                )
                if "quarantine" in present
                else [],
                key=repr,
            )
            return {name: [tuple(row) for row in rows] for name, rows in out.items()}
    finally:
        engine.dispose()


def _off(patch: pytest.MonkeyPatch) -> None:
    """The oracle: changed files read whole, every row of the deals file sent to dlt."""
    patch.setattr(appended, "why_not_kind", lambda *args: "turned off in this test")
    patch.setattr(row_hashes, "for_file", lambda *args: None)


def _notes(run: SourceRun, name: str) -> list[str]:
    paths = (f"{name}: read from line", f"{name} read whole")
    return [note for note in run.notes if note.startswith(paths)]


def _sequence(
    tmp_path: Path,
    pg_server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    steps: list[list[Step]],
) -> tuple[list[SourceRun], dict[str, list[tuple[Any, ...]]]]:
    """Pull the first files and then each step's, both ways, comparing after every pull."""
    runs = []
    with fresh_database(pg_server) as on_db, fresh_database(pg_server) as off_db:
        on, off = tmp_path / "on", tmp_path / "off"
        _start(on)
        _start(off)
        for n, changes in enumerate([[], *steps]):
            for change in changes:
                change(on)
                change(off)
            runs.append(_pull(_config(on, on_db)))
            with monkeypatch.context() as patch:
                _off(patch)
                _pull(_config(off, off_db))
            got, want = _tables(on_db), _tables(off_db)
            for table in want:
                assert got[table] == want[table], f"pull {n}: {table} differs"
        final = _tables(on_db)
    return runs, final


def test_a_sequence_of_changed_pulls_loads_what_whole_reads_load(
    tmp_path: Path, pg_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    d1, d2, d3, d4 = DEAL_ROWS
    d2_edited = d2.replace("2000", "2500")
    d4_moved = d4.replace("INITECH", "ACME")
    steps = [
        # grow both logs (bad rows among them); edit D2 in place; a new deal
        [
            append("history.csv", MORE_HISTORY),
            append("activities.csv", MORE_ACTIVITIES),
            _deals(d1, d2_edited, d3, d4, "D5,Epsilon,Qualified,open,50,ACME,2026-01-06\n"),
        ],
        # D3 deleted from the snapshot, D4 moved to another account; the logs grow again
        [
            _deals(d1, d2_edited, d4_moved, "D5,Epsilon,Qualified,open,50,ACME,2026-01-06\n"),
            append("history.csv", "D3,Won,2026-01-10T09:00:00Z,cy\n"),
            append("activities.csv", "A7,D4,call,2026-01-10T10:00:00Z,Moved\n"),
        ],
        # D3 back as it was, D2 and D4 back to their first versions; history truncated
        [
            _deals(d1, d2, d3, d4, "D5,Epsilon,Qualified,open,50,ACME,2026-01-06\n"),
            write("history.csv", HISTORY.rsplit("D2,Proposal", 1)[0]),
        ],
        # the activities file replaced by a different one; a bad deal row; a deal id twice
        [
            write("activities.csv", ACTIVITIES.replace("Intro", "First call")),
            _deals(d1, d2, d3, "D4,Delta,Qualified,maybe,,INITECH,2026-01-05\n", d1),
        ],
    ]
    runs, final = _sequence(tmp_path, pg_server, monkeypatch, steps)

    assert _notes(runs[1], "history.csv")[0].startswith("history.csv: read from line 6 ")
    assert _notes(runs[1], "activities.csv")[0].startswith("activities.csv: read from line 5 ")
    assert _notes(runs[2], "history.csv")[0].startswith("history.csv: read from line 11 ")
    assert _notes(runs[3], "history.csv") == [
        "history.csv read whole: it is shorter than at the last read (rewritten or truncated)"
    ]
    assert _notes(runs[4], "activities.csv")[0].startswith("activities.csv read whole: ")
    # Only the changed deals were handed to dlt: D2 and the new D5; then D4 (moved); then
    # D2, D3 (back) and D4.
    assert "deals.csv: 3 of 5 deal row(s) unchanged since the last pull" in " ".join(runs[1].notes)
    assert "deals.csv: 3 of 4 deal row(s) unchanged" in " ".join(runs[2].notes)
    assert "deals.csv: 2 of 5 deal row(s) unchanged" in " ".join(runs[3].notes)
    assert runs[1].rows["deals"] == 2
    # The bad appended rows are quarantined and named at their lines in the whole file.
    located = {(row[2], row[3]) for row in final["quarantine"]}
    assert {
        ("activities.csv:7", "at"),
        ("activities.csv:8", "id"),
        ("history.csv:7", "at"),
        ("history.csv:8", None),
    } <= located
    assert sorted(row[2] for row in final["deals"]) == [f"exp:D{n}" for n in range(1, 6)]


def test_a_deal_back_after_a_failed_load_is_sent_again(
    tmp_path: Path, pg_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load that fails after the hashes of the rows it was sending were forgotten: the
    warehouse keeps the old rows and the next pull, of the first version again, must not
    find them unchanged against a hash of the version that never loaded (nor the reverse)."""
    d1, d2, d3, d4 = DEAL_ROWS
    with fresh_database(pg_server) as db:
        folder = tmp_path / "f"
        _start(folder)
        config = _config(folder, db)
        _pull(config)
        _deals(d1, d2.replace("2000", "2500"), d3, d4)(folder)
        from hub.warehouse import pg_merge

        def broken(*args: object, **kwargs: object) -> list[str]:
            raise RuntimeError("the load died")

        with monkeypatch.context() as patch:
            patch.setattr(pg_merge.SkipUnchangedMergeJob, "gen_merge_sql", classmethod(broken))
            (run,) = run_pull(config)
        assert run.status == "failed"
        _pull(config)  # finishes or sets aside the package, then reads the edited file
        _deals(*DEAL_ROWS)(folder)  # back to the first version
        _pull(config)
        engine = pg_engine(db)
        with engine.connect() as conn:
            amount: Any = conn.execute(
                sa.text(f"SELECT amount FROM {SCHEMA}.deals WHERE source_deal_id = 'D2'")
            ).scalar_one()
        engine.dispose()
        assert float(amount) == 2000.0


def test_appended_rows_that_repeat_a_loaded_key_send_the_file_to_the_whole_read(
    tmp_path: Path, pg_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key check asks PostgreSQL: an activity id, and a stage event's deal, time and
    stage (a timestamptz in the key), already loaded send the file to the whole read."""
    steps = [
        [
            append("activities.csv", "A2,D3,call,2026-01-09T10:00:00Z,A2 again\n"),
            append("history.csv", "D1,Qualified,2026-01-05T09:00:00Z,someone else\n"),
        ],
        [
            append("activities.csv", "A8,D3,call,2026-01-11T10:00:00Z,New\n"),
            append("history.csv", "D1,Qualified,2026-01-05T10:00:00Z,an hour later\n"),
        ],
    ]
    runs, final = _sequence(tmp_path, pg_server, monkeypatch, steps)
    for name in ("activities.csv", "history.csv"):
        assert _notes(runs[1], name) == [
            f"{name} read whole: 1 appended row(s) repeat a key already loaded "
            "(a whole read decides which row wins)"
        ]
        assert _notes(runs[2], name)[0].startswith(f"{name}: read from line ")
    assert ("exp:A2", "exp:D2") in {(row[2], row[9]) for row in final["activities"]}


def test_a_full_refresh_sends_every_row_and_records_the_hashes_afresh(
    tmp_path: Path, pg_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    d1, d2, d3, d4 = DEAL_ROWS
    with fresh_database(pg_server) as db:
        folder = tmp_path / "f"
        _start(folder)
        config = _config(folder, db)
        _pull(config)
        _deals(d1, d2.replace("2000", "2500"), d3, d4)(folder)
        (refreshed,) = run_pull(config, full_refresh=True)
        assert refreshed.status == "ok", refreshed.error
        assert refreshed.rows["deals"] == 4
        assert not [n for n in refreshed.notes if "unchanged since the last pull" in n]
        _deals(*DEAL_ROWS)(folder)  # D2 back: its hash is the refreshed row's, not the first
        run = _pull(config)
        assert run.rows["deals"] == 1
        engine = pg_engine(db)
        with engine.connect() as conn:
            amount: Any = conn.execute(
                sa.text(f"SELECT amount FROM {SCHEMA}.deals WHERE source_deal_id = 'D2'")
            ).scalar_one()
            hashes: Any = conn.execute(
                sa.text(f"SELECT table_name, count(*) FROM {SCHEMA}._hub_row_hashes GROUP BY 1")
            ).all()
        engine.dispose()
        assert float(amount) == 2000.0
        assert sorted(hashes) == [("_read", 1), ("deal_accounts", 3), ("deals", 4)]


def test_hashes_recorded_before_an_older_hub_pulled_are_not_trusted(
    tmp_path: Path, pg_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub without row hashes (here: the feature turned off) loads D2 edited; the
    recorded hashes still describe the first D2. Back to the first version, this hub must
    not find D2 unchanged: the hashes were not recorded by the read the state names."""
    d1, d2, d3, d4 = DEAL_ROWS
    with fresh_database(pg_server) as db:
        folder = tmp_path / "f"
        _start(folder)
        config = _config(folder, db)
        _pull(config)
        _deals(d1, d2.replace("2000", "2500"), d3, d4)(folder)
        with monkeypatch.context() as patch:
            patch.setattr(row_hashes, "for_file", lambda *args: None)
            _pull(config)
        _deals(*DEAL_ROWS)(folder)
        run = _pull(config)
        assert run.rows["deals"] == 4  # every row sent once, hashes recorded afresh
        engine = pg_engine(db)
        with engine.connect() as conn:
            amount: Any = conn.execute(
                sa.text(f"SELECT amount FROM {SCHEMA}.deals WHERE source_deal_id = 'D2'")
            ).scalar_one()
        engine.dispose()
        assert float(amount) == 2000.0
        _deals(d1, d2, d3, d4.replace("INITECH", "ACME"))(folder)
        assert _pull(config).rows["deals"] == 1  # trusted again
