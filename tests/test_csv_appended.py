"""Files that only grew since the last pull are read from where the last read stopped
(connectors/csv/appended.py), and the tables are what a whole read gives.

Each case pulls a sequence of file versions twice, into two warehouses: with the appended
path, and with it turned off (every changed file read whole, the oracle). Every table and
the quarantine (file:line included) must be equal row for row; the main case also compares
with one fresh pull of the final files. The run's notes say which path each file took, so
a case cannot pass by never taking the path it is about.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.csv import appended
from hub.pull import SourceRun
from models.config import HubConfig
from tests.csv_helpers import CSV_TABLES, csv_config, extract_only, pull, query

SCHEMA = "src_exp"
DEALS = (
    "id,name,stage,status,created\n"
    "D1,Alpha,Qualified,open,2026-01-02\n"
    "D2,Beta,Proposal,open,2026-01-03\n"
    "D3,Gamma,Won,won,2026-01-04\n"
)
HISTORY = (
    "deal,stage,at,by\n"
    "D1,Prospecting,2026-01-02T09:00:00Z,ann\n"
    "D1,Qualified,2026-01-05T09:00:00Z,ann\n"
    "D2,Prospecting,2026-01-03T09:00:00Z,bob\n"
    "D2,Proposal,2026-01-06T09:00:00Z,bob\n"
)
ACTIVITIES = (
    "id,deal,type,at,subject\n"
    "A1,D1,call,2026-01-02T10:00:00Z,Intro\n"
    "A2,D2,email,2026-01-03T10:00:00Z,Follow-up\n"
    "A3,D3,meeting,2026-01-04T10:00:00Z,Demo\n"
)
# Appended later: new events and activities, a bad date, a ragged row, a repeat inside the
# appended part, a deal not in the deals file.
MORE_HISTORY = (
    "D1,Meeting,2026-01-07T09:00:00Z,ann\n"
    "D2,Negotiation,not a date,bob\n"
    "D9,Prospecting,2026-01-08T09:00:00Z\n"
    "D2,Negotiation,2026-01-08T09:00:00Z,bob\n"
    "D2,Negotiation,2026-01-08T09:00:00Z,cy\n"
)
MORE_ACTIVITIES = (
    "A4,D1,call,2026-01-07T10:00:00Z,Check-in\n"
    "A5,D2,carrier pigeon,2026-01-08T10:00:00Z,Odd\n"
    "A6,D2,email,yesterday,Bad date\n"
    "A6,D3,email,2026-01-09T10:00:00Z,Repeat of A6\n"
)


def _config(folder: Path, value_maps: dict | None = None, **options: object) -> HubConfig:
    history: dict[str, object] = {
        "path": "history.csv",
        "columns": {"deal_id": "deal", "stage_id": "stage", "changed_at": "at"},
        "defaults": {"changed_by": "nobody"},
    }
    if value_maps:
        history["value_maps"] = value_maps
    return csv_config(
        folder,
        {
            "path": "deals.csv",
            "columns": {
                "source_deal_id": "id",
                "name": "name",
                "stage_id": "stage",
                "status": "status",
                "created_at": "created",
            },
        },
        stage_history=history,
        activities={
            "path": "activities.csv",
            "columns": {
                "source_activity_id": "id",
                "deal_id": "deal",
                "type": "type",
                "occurred_at": "at",
                "subject": "subject",
            },
        },
        **options,
    )


def _tables(config: HubConfig) -> dict[str, list[tuple]]:
    present = {
        name
        for (name,) in query(
            config,
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{SCHEMA}'",
        )
    }
    out = {
        table: sorted(query(config, f"SELECT * FROM {SCHEMA}.{table}"), key=repr)
        for table in CSV_TABLES
        if table in present
    }
    out["quarantine"] = sorted(
        query(
            config,
            "SELECT entity, record_id, location, column_name, value, reason "
            f"FROM {SCHEMA}.quarantine",
        )
        if "quarantine" in present
        else [],
        key=repr,
    )
    return out


Step = Callable[[Path], None]


def write(name: str, text: str) -> Step:
    """A step that writes ``name`` in the case's folder (test_pg_pull.py uses it too)."""
    return lambda folder: (folder / name).write_text(text, encoding="utf-8")


def append(name: str, text: str) -> Step:
    """A step that appends ``text`` to ``name`` as an export log grows."""

    def step(folder: Path) -> None:
        with (folder / name).open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)

    return step


def _start(folder: Path) -> None:
    folder.mkdir()
    for name, text in (
        ("deals.csv", DEALS),
        ("history.csv", HISTORY),
        ("activities.csv", ACTIVITIES),
    ):
        (folder / name).write_text(text, encoding="utf-8")


def _run(
    folder: Path, steps: list[list[Step]], monkeypatch: pytest.MonkeyPatch, *, on: bool, **options
) -> tuple[HubConfig, list[SourceRun]]:
    """Pull the first files, then after each list of steps pull again."""
    with monkeypatch.context() as patch:
        if not on:
            patch.setattr(appended, "why_not_kind", lambda *args: "turned off in this test")
        _start(folder)
        config = _config(folder, **options)
        runs = [pull(config)]
        for changes in steps:
            for change in changes:
                change(folder)
            runs.append(pull(config))
    for run in runs:
        assert run.status == "ok", run.error
    return config, runs


def _same_as_whole_reads(
    tmp_path: Path, steps: list[list[Step]], monkeypatch: pytest.MonkeyPatch, **options
) -> list[SourceRun]:
    config, runs = _run(tmp_path / "on", steps, monkeypatch, on=True, **options)
    oracle, _ = _run(tmp_path / "off", steps, monkeypatch, on=False, **options)
    assert _tables(config) == _tables(oracle)
    return runs


def _notes(run: SourceRun, name: str) -> list[str]:
    """The notes saying which path ``name`` took."""
    paths = (f"{name}: read from line", f"{name} read whole")
    return [note for note in run.notes if note.startswith(paths)]


@pytest.mark.parametrize("fast_path", [True, False])
def test_appended_rows_load_as_a_whole_read_of_the_final_file_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_path: bool
) -> None:
    steps = [
        [append("history.csv", MORE_HISTORY), append("activities.csv", MORE_ACTIVITIES)],
        [append("history.csv", "D3,Won,2026-01-10T09:00:00Z,cy\n")],
    ]
    runs = _same_as_whole_reads(tmp_path, steps, monkeypatch, fast_path=fast_path)

    assert _notes(runs[1], "history.csv") == [
        f"history.csv: read from line 6 (byte {len(HISTORY.encode())}): it only grew since "
        "the last read"
    ]
    assert _notes(runs[1], "activities.csv")[0].startswith("activities.csv: read from line 5 ")
    assert _notes(runs[2], "history.csv")[0].startswith("history.csv: read from line 11 ")
    assert _notes(runs[2], "activities.csv") == []  # unchanged: skipped
    # One fresh pull of the final files gives the same tables too.
    fresh = tmp_path / "fresh"
    shutil.copytree(tmp_path / "on", fresh, ignore=shutil.ignore_patterns(".hub"))
    fresh_config = _config(fresh, fast_path=fast_path)
    assert pull(fresh_config).status == "ok"
    on = _tables(_config(tmp_path / "on", fast_path=fast_path))
    assert on == _tables(fresh_config)
    # What a whole read says of the appended lines, at their lines in the whole file.
    assert [row[2:4] for row in sorted(on["quarantine"], key=lambda row: row[2])] == [
        ("activities.csv:7", "at"),  # a bad date: dropped, the row loaded
        ("activities.csv:8", "id"),  # A6 again
        ("history.csv:7", "at"),  # a bad required date: skipped
        ("history.csv:8", None),  # ragged
    ]
    events = query(
        fresh_config,
        f"SELECT count(*) FROM {SCHEMA}.stage_changes WHERE deal_key = 'exp:D2' "
        "AND stage_id = 'Negotiation'",
    )
    assert events == [(1,)]  # the event exported twice is loaded once


@pytest.mark.parametrize(
    ("case", "change", "why"),
    [
        (
            "rewritten",
            lambda f: write("history.csv", HISTORY.replace("ann", "Ann") + MORE_HISTORY)(f),
            f"its first {len(HISTORY.encode())} bytes changed since the last read",
        ),
        (
            "truncated",
            lambda f: write("history.csv", HISTORY.rsplit("D2,Proposal", 1)[0])(f),
            "it is shorter than at the last read",
        ),
        (
            "reordered",
            lambda f: write(
                "history.csv",
                "".join([HISTORY.splitlines(True)[0], *reversed(HISTORY.splitlines(True)[1:])])
                + MORE_HISTORY,
            )(f),
            f"its first {len(HISTORY.encode())} bytes changed",
        ),
        (
            "another header",
            lambda f: write(
                "history.csv", HISTORY.replace("deal,stage,at,by", "deal,stage,at,who")
            )(f),
            f"its first {len(HISTORY.encode())} bytes changed",
        ),
    ],
)
def test_a_file_that_did_not_only_grow_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, change: Step, why: str
) -> None:
    runs = _same_as_whole_reads(tmp_path, [[change]], monkeypatch)
    (note,) = _notes(runs[1], "history.csv")
    assert note.startswith("history.csv read whole: " + why), (case, note)


def test_changed_options_read_the_grown_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "f"
    _start(folder)
    assert pull(_config(folder)).status == "ok"
    append("history.csv", MORE_HISTORY)(folder)
    config = _config(folder, value_maps={"stage_id": {"Meeting": "Meeting Booked"}})
    run = pull(config)
    assert run.status == "ok", run.error
    assert _notes(run, "history.csv") == [
        "history.csv read whole: its mapping changed (value_maps)"
    ]
    assert query(
        config, f"SELECT count(*) FROM {SCHEMA}.stage_changes WHERE stage_id = 'Meeting Booked'"
    ) == [(1,)]


def test_appended_rows_that_repeat_a_loaded_key_send_the_file_to_the_whole_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole read skips a repeated activity id (the first row wins) and leaves out a stage
    event exported again: the appended path cannot tell, so it reads the file whole."""
    steps = [
        [
            append("activities.csv", "A2,D3,call,2026-01-09T10:00:00Z,A2 again\n"),
            append("history.csv", "D1,Qualified,2026-01-05T09:00:00Z,someone else\n"),
        ]
    ]
    runs = _same_as_whole_reads(tmp_path, steps, monkeypatch)
    for name in ("activities.csv", "history.csv"):
        (note,) = _notes(runs[1], name)
        assert note == (
            f"{name} read whole: 1 appended row(s) repeat a key already loaded "
            "(a whole read decides which row wins)"
        )
    config = _config(tmp_path / "on")
    assert query(
        config, f"SELECT deal_key FROM {SCHEMA}.activities WHERE source_activity_id = 'A2'"
    ) == [("exp:D2",)]
    assert query(
        config,
        f"SELECT changed_by FROM {SCHEMA}.stage_changes WHERE deal_key = 'exp:D1' AND stage_id = 'Qualified'",
    ) == [("nobody",)]


def test_a_partial_last_line_is_read_as_the_whole_read_reads_it_then_the_file_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export still being written: its last line has no end yet. The whole read takes
    what is there (a ragged row is quarantined, a cut value is what it is); so does the
    appended read. The next pull cannot start after a line that was not complete, so it
    reads the file whole, as the whole reads would."""
    steps = [
        [append("history.csv", "D1,Meeting,2026-01-07T09:00:00Z,ann\nD2,Negot")],
        [append("history.csv", "iation,2026-01-08T09:00:00Z,bob\n")],
        [append("history.csv", "D3,Won,2026-01-10T09:00:00Z,cy\n")],
        [append("activities.csv", "A4,D1,call,2026-01-07T10:00:00Z,Check")],
        [append("activities.csv", "-in\n")],
    ]
    runs = _same_as_whole_reads(tmp_path, steps, monkeypatch)
    assert _notes(runs[1], "history.csv")[0].startswith("history.csv: read from line 6 ")
    assert _notes(runs[2], "history.csv") == [
        "history.csv read whole: the last read did not end at a complete line"
    ]
    assert _notes(runs[3], "history.csv")[0].startswith("history.csv: read from line 8 ")
    assert _notes(runs[4], "activities.csv")[0].startswith("activities.csv: read from line 5 ")
    assert _notes(runs[5], "activities.csv") == [
        "activities.csv read whole: 1 appended row(s) repeat a key already loaded "
        "(a whole read decides which row wins)"
    ] or _notes(runs[5], "activities.csv") == [
        "activities.csv read whole: the last read did not end at a complete line"
    ]
    config = _config(tmp_path / "on")
    subjects = query(
        config, f"SELECT subject FROM {SCHEMA}.activities WHERE source_activity_id = 'A4'"
    )
    assert subjects == [("Check-in",)]


def test_a_last_line_open_in_quotes_is_no_place_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quoted value still open at the end: the appended bytes continue it, so a read from
    there would see records the whole read does not."""
    steps = [
        [append("activities.csv", 'A4,D1,call,2026-01-07T10:00:00Z,"Notes: first\n')],
        [append("activities.csv", 'second",x\nA5,D2,call,2026-01-08T10:00:00Z,Plain\n')],
    ]
    runs = _same_as_whole_reads(tmp_path, steps, monkeypatch)
    assert _notes(runs[2], "activities.csv") == [
        "activities.csv read whole: the last read did not end at a complete line"
    ]


def test_a_crash_before_the_load_commits_leaves_the_state_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the appended part was read and before the state was recorded: the next
    pull reads the same part again. Killed after extract (the package pending): the next
    pull loads the package first, then finds the file unchanged or read from there."""
    folder = tmp_path / "f"
    _start(folder)
    config = _config(folder)
    assert pull(config).status == "ok"
    append("history.csv", MORE_HISTORY)(folder)

    def crash(*args: object) -> None:
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(appended, "read_to", crash)
        assert pull(config).status == "failed"
    assert query(config, f"SELECT count(*) FROM {SCHEMA}.stage_changes") == [(4,)]

    pipeline, _ = extract_only(config)  # read, extracted, never loaded
    pipeline.normalize()
    assert query(config, f"SELECT count(*) FROM {SCHEMA}.stage_changes") == [(4,)]
    append("history.csv", "D3,Won,2026-01-10T09:00:00Z,cy\n")(folder)
    run = pull(config)
    assert run.status == "ok", run.error
    assert run.recovered_packages == 1
    assert _notes(run, "history.csv")[0].startswith("history.csv: read from line 11 ")

    fresh = tmp_path / "fresh"
    shutil.copytree(folder, fresh, ignore=shutil.ignore_patterns(".hub"))
    fresh_config = _config(fresh)
    assert pull(fresh_config).status == "ok"
    assert _tables(config) == _tables(fresh_config)


def test_appended_bytes_in_another_encoding_send_the_file_to_the_whole_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole read finds the file no longer UTF-8 and reads all of it as Latin-1 (the
    prefix's "é" included), so the appended path must not keep the prefix as it was read."""

    def append_latin1(folder: Path) -> None:
        with (folder / "activities.csv").open("ab") as handle:
            handle.write("A4,D1,call,2026-01-07T10:00:00Z,Caf\xe9\n".encode("latin-1"))

    steps = [[write("activities.csv", ACTIVITIES + "A9,D1,note,2026-01-06T10:00:00Z,Né\n")]]
    steps.append([append_latin1])
    runs = _same_as_whole_reads(tmp_path, steps, monkeypatch)
    assert _notes(runs[2], "activities.csv") == [
        "activities.csv read whole: the appended bytes are not utf-8-sig"
    ]


def test_a_large_appended_part_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appended, "MAX_APPENDED", 40)
    runs = _same_as_whole_reads(tmp_path, [[append("history.csv", MORE_HISTORY)]], monkeypatch)
    (note,) = _notes(runs[1], "history.csv")
    assert note == (
        f"history.csv read whole: {len(MORE_HISTORY):,} bytes were appended (at most 40 are held)"
    )


def test_the_key_check_waits_for_the_warehouse_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The appended rows' key check registers an Arrow table on the warehouse: never beside
    another file's merge (connectors.csv.duck.WAREHOUSE_TURN). Without the turn, about one
    pull in five of a small export failed with DuckDB's "Table Function with name
    python_arrow_scan does not exist!" when the deals merge registered its custom-field maps
    at the same time."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from connectors.csv import duck

    calls: list[tuple] = []
    check = appended._known_in_duckdb

    def keeping(*args):  # type: ignore[no-untyped-def]
        calls.append(args)
        return check(*args)

    monkeypatch.setattr(appended, "_known_in_duckdb", keeping)
    _run(tmp_path / "on", [[append("history.csv", MORE_HISTORY)]], monkeypatch, on=True)
    assert calls, "the appended path was not taken"
    finished = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        with duck.WAREHOUSE_TURN:  # another file's merge under way
            future = pool.submit(lambda: (check(*calls[-1]), finished.set())[0])
            assert not finished.wait(1.0), "the key check ran during a merge"
        # after the turn it answers: every appended key is loaded by now
        assert future.result(timeout=60) == calls[-1][2].num_rows > 0
