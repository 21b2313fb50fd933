"""Clean files merged by DuckDB (connectors/csv/duck.py) give the tables the row path gives.

Every case pulls the same files twice: with the defaults (DuckDB takes the clean activity
and stage history files, the Arrow fast path the rest) and with ``fast_path: false`` (the
row path, which defines the result); every table and the quarantine must be equal, row for
row. A spy on :func:`connectors.csv.duck.load` records which files DuckDB merged and which
it handed back, so a case cannot pass by never taking the path it is about.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from connectors.csv import duck
from hub.generate import Generated
from models.config import HubConfig, load_config
from tests.csv_helpers import CSV_TABLES as TABLES
from tests.csv_helpers import pull, query

SCHEMA = "src_crm_export"


@pytest.fixture
def merged(monkeypatch: pytest.MonkeyPatch) -> dict[str, int | None]:
    """File name -> rows DuckDB merged (None: handed back to the other paths)."""
    seen: dict[str, int | None] = {}
    load = duck.load

    def spying(read):  # type: ignore[no-untyped-def]
        seen[read.facts.path.name] = result = load(read)
        return result

    monkeypatch.setattr(duck, "load", spying)
    return seen


def _project(export: Generated, folder: Path, **options: object) -> HubConfig:
    shutil.copytree(export.export.out_dir, folder)
    path = folder / "hub.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["sources"][0]["options"].update(options)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_config(path)


def _tables(config: HubConfig) -> dict[str, list[tuple]]:
    out = {
        table: sorted(query(config, f"SELECT * FROM {SCHEMA}.{table}"), key=repr)
        for table in TABLES
    }
    out["quarantine"] = sorted(
        query(
            config,
            "SELECT entity, record_id, location, column_name, value, reason "
            f"FROM {SCHEMA}.quarantine",
        )
        if ("quarantine",)
        in query(
            config,
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{SCHEMA}'",
        )
        else [],
        key=repr,
    )
    return out


def _columns(config: HubConfig, table: str) -> list[tuple]:
    return query(
        config,
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        f"WHERE table_schema = '{SCHEMA}' AND table_name = '{table}' ORDER BY ordinal_position",
    )


def _pair(tmp_path: Path, export: Generated) -> tuple[HubConfig, HubConfig]:
    return (
        _project(export, tmp_path / "duck"),
        _project(export, tmp_path / "rows", fast_path=False),
    )


def _pull_both(duck_config: HubConfig, rows_config: HubConfig) -> None:
    for config in (duck_config, rows_config):
        run = pull(config)
        assert run.status == "ok", run.error


def test_clean_export_merged_by_duckdb_equals_the_row_path(
    tmp_path: Path, small_export: Generated, merged: dict[str, int | None]
) -> None:
    duck_config, rows_config = _pair(tmp_path, small_export)
    duck_run = pull(duck_config)
    assert duck_run.status == "ok", duck_run.error
    counts = small_export.export.row_counts
    assert merged == {
        "deals.csv": counts["deals"],
        "stage_history.csv": counts["stage_history"],
        "activities.csv": counts["activities"],
    }
    rows_run = pull(rows_config)
    assert rows_run.status == "ok", rows_run.error
    assert duck_run.rows == rows_run.rows  # DuckDB's rows are counted with dlt's
    assert _tables(duck_config) == _tables(rows_config)
    # As dlt makes them: in order, typed, NOT NULL where dlt says, no default (a first
    # load's staged table becomes the table: whatever it was built with, it must carry none).
    for table in ("deals", "deal_accounts", "activities", "stage_changes"):
        assert _columns(duck_config, table) == _columns(rows_config, table)

    # A changed export: some rows edited, one removed, new ones; merged on the keys.
    for config in (duck_config, rows_config):
        folder = config.base_dir
        lines = (folder / "activities.csv").read_text(encoding="utf-8").splitlines()
        header, body = lines[0], lines[1:]
        edited = [line.replace(",email,", ",Phone Call,", 1) for line in body[:50]]
        extra = [
            f"A-new-{i},{body[0].split(',')[1]},demo,New {i},2026-01-0{i + 1}T00:00:00Z,yes,,{i},,"
            for i in range(3)
        ]
        text = "\n".join([header, *edited, *body[51:], *extra]) + "\n"
        (folder / "activities.csv").write_text(text, encoding="utf-8")
        history = (folder / "stage_history.csv").read_text(encoding="utf-8")
        (folder / "stage_history.csv").write_text(
            history.replace("T", " ", 40).replace(" ", "T", 1), encoding="utf-8"
        )
    merged.clear()
    _pull_both(duck_config, rows_config)
    assert merged["activities.csv"] == counts["activities"] + 2
    assert _tables(duck_config) == _tables(rows_config)
    # An unchanged pull reads nothing and changes nothing.
    merged.clear()
    before = _tables(duck_config)
    _pull_both(duck_config, rows_config)
    assert merged == {} and _tables(duck_config) == before


# Each line breaks one thing DuckDB must not decide; the file then takes the other paths.
DIRTY = {
    "bad timestamp": "X1,D0000001,call,s,2025-02-30T10:00:00Z,true,,5,,",
    "empty id": ",D0000001,call,s,2025-01-02T10:00:00Z,true,,5,,",
    "duplicate id": "A0000001-0,D0000001,call,s,2025-01-02T10:00:00Z,true,,5,,",
    "ragged row": "X2,D0000001,call,s,2025-01-02T10:00:00Z,true,,5,,,extra",
    "blank line": "",
    "quote after a blank": 'X3,D0000001,call, "quoted",2025-01-02T10:00:00Z,true,,5,,',
    "quoted newline": 'X4,D0000001,call,"two\nlines",2025-01-02T10:00:00Z,true,,5,,',
    "naive among offsets": "X5,D0000001,call,s,2025-01-02 10:00:00,true,,5,,",
    "not an integer": "X6,D0000001,call,s,2025-01-02T10:00:00Z,true,,5.5,,",
    "not yes or no": "X7,D0000001,call,s,2025-01-02T10:00:00Z,maybe,,5,,",
    "non-ASCII type": "X8,D0000001,Cäll,s,2025-01-02T10:00:00Z,true,,5,,",
    "footer": "Total,1240",
    # over DuckDB's own 2 MB line limit (the row path reads up to 16 MB): read_csv refuses it
    "line over 2 MB": "X9,D0000001,call," + "s" * 3_000_000 + ",2025-01-02T10:00:00Z,true,,5,,",
}


@pytest.mark.parametrize("case", list(DIRTY))
def test_a_file_duckdb_cannot_prove_clean_is_read_as_before(
    tmp_path: Path, small_export: Generated, merged: dict[str, int | None], case: str
) -> None:
    duck_config, rows_config = _pair(tmp_path, small_export)
    for config in (duck_config, rows_config):
        path = config.base_dir / "activities.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        lines.insert(len(lines) // 2, DIRTY[case])
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _pull_both(duck_config, rows_config)
    assert merged.get("activities.csv") is None  # refused before or after DuckDB read it
    assert merged["stage_history.csv"]  # the clean file of the same source still merged
    assert _tables(duck_config) == _tables(rows_config)


@pytest.mark.parametrize(
    ("data", "lines", "lone", "blank_quote"),
    [
        (b"a,b\n1,2\n", 2, 0, False),
        (b"a,b\r\n1,2", 2, 0, False),
        (b"a,b\r1,2\r\n", 2, 1, False),
        (b'a,b\n1, "x"\n', 2, 0, True),
        (b'a,b\n1,x "y"\n', 2, 0, False),  # a quote inside an unquoted value: read alike
        (b'a;b\n  "x";2\n', 2, 0, True),
        (b'a\tb\n1\t"x"\n', 2, 0, True),  # a tab may be a blank: not DuckDB's to judge
    ],
)
def test_the_byte_layout_counts_lines_as_python_does(
    data: bytes, lines: int, lone: int, blank_quote: bool
) -> None:
    import csv
    import io

    from connectors.csv.reading import ByteLayout

    for cut in range(1, len(data)):  # every split into two chunks gives the same counts
        layout = ByteLayout()
        layout.add(data[:cut])
        layout.add(data[cut:])
        assert (layout.lines(), layout.lone_returns) == (lines, lone), cut
        assert layout.blank_before_quote == blank_quote, cut
    reader = csv.reader(io.StringIO(data.decode(), newline=""))
    list(reader)
    assert reader.line_num == lines


def test_a_quote_after_a_blank_in_text_is_judged_once_with_the_bytes_before_it() -> None:
    """A quote inside quoted text after a space (``he said ""hi""`` in a quoted field)
    starts no field. When
    a chunk of the pass ends just after that space, the quote is judged in its own chunk,
    where the bytes before the space show it; the next chunk does not judge it again from
    the carried tail alone, where the space looked like the start of the file (which sent
    such a file to the row path)."""
    from connectors.csv.reading import ByteLayout

    head = b'h1,h2\n1,"he said'
    tail = b' ""hi"" and' + b"x" * 53  # the 64 bytes a chunk's end carries to the next
    first, second = head + tail, b' more"\n2,"x"\n'
    layout = ByteLayout()
    layout.add(first)
    layout.add(second)
    whole = ByteLayout()
    whole.add(first + second)
    assert (layout.blank_before_quote, whole.blank_before_quote) == (False, False)
    assert layout.lines() == whole.lines() == 3


@pytest.mark.parametrize("name", ["hubspot", "hubspot_history", "salesforce", "pipedrive"])
def test_vendor_exports_load_the_same_with_duckdb_offered_the_files(
    tmp_path: Path, merged: dict[str, int | None], name: str
) -> None:
    """The recipes' files (report footers, vendor date forms, change logs with value maps):
    DuckDB takes only Pipedrive's clean deals export whole, and nothing it looked at
    changes a table."""
    from models.config import parse_config
    from tests.csv_exports.test_vendor_exports import HERE, recipe

    configs = []
    for fast_path in (True, False):
        folder = tmp_path / f"fast_{fast_path}"
        shutil.copytree(HERE / name, folder)
        source = recipe(name)
        source["options"]["fast_path"] = fast_path
        configs.append(parse_config({"sources": [source]}, folder / "hub.yml"))
    for config in configs:
        run = pull(config)
        assert run.status == "ok", run.error
    taken = {file for file, rows in merged.items() if rows}
    assert taken == ({"deals-export.csv"} if name == "pipedrive" else set()), merged
    schema = f"src_{configs[0].sources[0].name}"
    tables = [
        t
        for (t,) in query(
            configs[1],
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' "
            "AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\'",
        )
    ]
    assert "deals" in tables
    for table in tables:
        columns = "*"
        if table == "quarantine":  # quarantined_at is the run's own time
            columns = "entity, record_id, location, column_name, value, reason"
        elif table == "stage_observations":  # the sync time where the CRM gives none
            columns = "* EXCLUDE (seen_at, observed_at)"
        select = f"SELECT {columns} FROM {schema}.{table}"
        rows = [sorted(query(c, select), key=repr) for c in configs]
        assert rows[0] == rows[1], table


# The deals file: one line added to it, after a deal known to have an account.
# Columns: deal_id, deal_name, owner_email, account_id, account_name, pipeline, stage,
# status, amount, currency, probability, created_at, expected_close_date, closed_at,
# lost_reason, updated_at, lead_source, legacy_id.
def _deal(**cells: str) -> str:
    row = {
        "deal_id": "X1",
        "deal_name": "New deal",
        "owner_email": "dana@example.com",
        "account_id": "ACC00001",
        "account_name": "Acme",
        "pipeline": "Sales",
        "stage": "Qualified",
        "status": "open",
        "amount": "1200.50",
        "currency": "USD",
        "probability": "",
        "created_at": "2025-01-02T10:00:00Z",
        "expected_close_date": "2025-03-01",
        "closed_at": "",
        "lost_reason": "",
        "updated_at": "2025-01-03T10:00:00Z",
        "lead_source": "Inbound",
        "legacy_id": "",
    }
    row.update(cells)
    return ",".join(row.values())


# Each breaks one rule only the row path may judge: the deals file takes the other paths.
DIRTY_DEALS = {
    "unknown status": _deal(status="maybe"),
    "non-ASCII status": _deal(status="wön"),
    "negative amount": _deal(amount="-5.00"),
    "amount above max_amount": _deal(amount="2000000000000"),
    "amount with a thousands separator": _deal(amount='"1,200.50"'),
    "not a currency": _deal(currency="US"),
    "probability above 100": _deal(probability="250"),
    "probability in percent": _deal(probability="35%"),
    "impossible date": _deal(expected_close_date="2025-02-30"),
    "date in a local form": _deal(expected_close_date="03/04/2025"),
    "naive among offsets": _deal(created_at="2025-01-02 10:00:00"),
    "duplicate id": _deal(deal_id="D0000001"),
    "empty id": _deal(deal_id=""),
    "custom value not of its type": _deal(lead_source="Carrier pigeon"),
    "tab at a custom value's edge": _deal(legacy_id="L-1\t"),
    "footer": "Total,1240",
    # over DuckDB's own 2 MB line limit (the row path reads up to 16 MB): read_csv refuses it
    "line over 2 MB": "X9,D0000001,call," + "s" * 3_000_000 + ",2025-01-02T10:00:00Z,true,,5,,",
}
# Forms the row path reads without a quarantine record, which DuckDB leaves to it.
READ_ALIKE_BY_PYTHON = {
    "amount with a thousands separator",
    "probability in percent",
    "date in a local form",
    "naive among offsets",
    "tab at a custom value's edge",
}
# Forms both readers read alike: DuckDB keeps the file, and the tables are the row path's.
CLEAN_DEALS = {
    "status alias": _deal(status="Closed Won", closed_at="2025-02-01T00:00:00Z"),
    "upper-case status": _deal(status="LOST"),
    "no status": _deal(status=""),
    "lower-case currency, spaces": _deal(currency=" usd "),
    "probability 0-100": _deal(probability="35"),
    "probability 0-1": _deal(probability="0.35"),
    "no account": _deal(account_id="", account_name=""),
    "new stage and pipeline": _deal(pipeline="Renewals", stage="Signed"),
    "legacy id": _deal(legacy_id="SF-0061"),
}
# Enum values declared, so an undeclared one is a value to quarantine.
LEAD_SOURCES = {"type": "enum", "values": ["Inbound", "Outbound", "Referral", "Partner", "Event"]}


def _deals_pair(tmp_path: Path, export: Generated, line: str) -> tuple[HubConfig, HubConfig]:
    custom = {"custom_fields": {"lead_source": LEAD_SOURCES, "legacy_id": "text"}}
    configs = []
    for name, fast_path in (("duck", True), ("rows", False)):
        config = _project(export, tmp_path / name, fast_path=fast_path)
        path = config.base_dir / "hub.yml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["sources"][0]["options"]["deals"].update(custom)
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        deals = config.base_dir / "deals.csv"
        lines = deals.read_text(encoding="utf-8").splitlines()
        lines.insert(len(lines) // 2, line)
        deals.write_text("\n".join(lines) + "\n", encoding="utf-8")
        configs.append(load_config(path))
    return configs[0], configs[1]


@pytest.mark.parametrize("case", list(DIRTY_DEALS))
def test_a_deals_file_duckdb_cannot_prove_clean_is_read_as_before(
    tmp_path: Path, small_export: Generated, merged: dict[str, int | None], case: str
) -> None:
    duck_config, rows_config = _deals_pair(tmp_path, small_export, DIRTY_DEALS[case])
    _pull_both(duck_config, rows_config)
    assert "deals.csv" in merged and merged["deals.csv"] is None  # offered, handed back
    assert merged["activities.csv"]  # the clean files of the same source still merged
    tables = _tables(duck_config)
    assert tables == _tables(rows_config)
    assert bool(tables["quarantine"]) is (case not in READ_ALIKE_BY_PYTHON)


@pytest.mark.parametrize("case", list(CLEAN_DEALS))
def test_a_clean_deals_file_merged_by_duckdb_equals_the_row_path(
    tmp_path: Path, small_export: Generated, merged: dict[str, int | None], case: str
) -> None:
    duck_config, rows_config = _deals_pair(tmp_path, small_export, CLEAN_DEALS[case])
    duck_run, rows_run = pull(duck_config), pull(rows_config)
    assert duck_run.status == rows_run.status == "ok", (duck_run.error, rows_run.error)
    assert merged["deals.csv"] == small_export.export.row_counts["deals"] + 1
    assert duck_run.rows == rows_run.rows
    assert _tables(duck_config) == _tables(rows_config)


def test_a_full_snapshot_merged_by_duckdb_marks_the_missing_deals(
    tmp_path: Path, small_export: Generated, merged: dict[str, int | None]
) -> None:
    """The deals a re-export lacks are marked deleted, as after the row path, and the
    progress line says how many."""
    duck_config, rows_config = _pair(tmp_path, small_export)
    runs = {}
    for config in (duck_config, rows_config):
        path = config.base_dir / "hub.yml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["sources"][0]["options"]["deals"]["full_snapshot"] = True
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        first = pull(load_config(path))
        assert first.status == "ok", first.error
        deals = config.base_dir / "deals.csv"
        lines = deals.read_text(encoding="utf-8").splitlines()
        deals.write_text("\n".join(lines[:1] + lines[6:]) + "\n", encoding="utf-8")
        runs[config.base_dir.name] = pull(load_config(path))
    assert merged["deals.csv"] == small_export.export.row_counts["deals"] - 5
    warnings = {name: run.stats.warnings for name, run in runs.items()}
    assert warnings["duck"] == warnings["rows"]
    assert any("full_snapshot: 5 of" in w for w in warnings["duck"]), warnings
    assert _tables(duck_config) == _tables(rows_config)
    deleted = query(duck_config, f"SELECT count(*) FROM {SCHEMA}.deals WHERE is_deleted")
    assert deleted == [(5,)]


@pytest.mark.parametrize(
    ("text", "odd"),
    [
        ("plain, ascii\n", False),
        ("Müller – Café 株式会社 ‘quoted’\n", False),  # non-ASCII, none of it whitespace
        ("a\tb\n", True),
        ("no-break\u00a0space\n", True),
        ("ideographic\u3000space\n", True),
        ("medium\u205fspace\n", True),
        ("line\u2028separator\n", True),
        ("thin\u2009space\n", True),
        ("ogham\u1680mark\n", True),
    ],
)
def test_the_layout_counted_with_the_digest_is_the_layout_of_its_own_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, odd: bool
) -> None:
    """DuckDB's byte facts come from the digest's pass (count_layout), cut into chunks like
    any other pass; they must be what a pass of their own finds, and ``odd_whitespace``
    exactly whether ``str.strip()`` could take more than spaces off a cell."""
    import dataclasses

    from connectors.csv import reading

    monkeypatch.setattr(reading, "_CHUNK", 7)  # multi-byte characters cut between chunks
    path = tmp_path / "f.csv"
    body = "h1,h2\r\n" + "x,y\r" * 3 + text * 5
    path.write_bytes(body.encode("utf-8"))
    counted = reading.inspect_file(path, encoding=None, delimiter=None, count_layout=True)
    alone = reading.inspect_file(path, encoding=None, delimiter=None)
    assert counted.counted is not None and alone.counted is None
    assert dataclasses.astuple(counted.layout) == dataclasses.astuple(alone.layout)
    assert counted.layout.odd_whitespace is odd
    assert any(c.isspace() and c not in " \r\n" for c in body) is odd
    assert counted.layout.lone_returns == 3


def test_the_files_of_a_source_are_read_at_once_and_merged_one_at_a_time(
    tmp_path: Path, small_export: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The three clean files are inspected at the same time (connectors/csv/background.py):
    each waits at a barrier the others must reach too, which one-after-another reads never
    do. Their DuckDB merges never overlap: the process's connections share one DuckDB
    instance and its memory limit, which three big merges at once ran out at 1M deals."""
    import threading
    import time

    from connectors.csv import driver

    meet = threading.Barrier(3, timeout=60)
    inspect, merge = driver.inspect_file, duck._load
    threads: set[str] = set()
    watch = threading.Lock()
    merging: list[str] = []
    overlaps: list[str] = []

    def together(path, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path).name in ("deals.csv", "activities.csv", "stage_history.csv"):
            threads.add(threading.current_thread().name)
            meet.wait()  # BrokenBarrierError (the pull fails) unless all three are here
        return inspect(path, **kwargs)

    def alone(con, read, values):  # type: ignore[no-untyped-def]
        name = read.facts.path.name
        with watch:
            overlaps.extend(f"{name} with {other}" for other in merging)
            merging.append(name)
        try:
            time.sleep(0.5)  # time for another file's merge to start, were it allowed to
            return merge(con, read, values)
        finally:
            with watch:
                merging.remove(name)

    monkeypatch.setattr(driver, "inspect_file", together)
    monkeypatch.setattr(duck, "_load", alone)
    duck_config, rows_config = _pair(tmp_path, small_export)
    _pull_both(duck_config, rows_config)
    assert len(threads) == 3 and threading.main_thread().name not in threads
    assert not overlaps, overlaps
    assert _tables(duck_config) == _tables(rows_config)


def test_a_file_that_fails_while_others_merge_fails_the_run_with_its_own_message(
    tmp_path: Path, small_export: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that fails stops the run while DuckDB still merges another file in its
    thread: the run waits for that merge, so its connection is closed before the hub logs
    the run (else the log's connection is refused as another configuration of the same
    file), and the error is the failing file's own."""
    import threading
    import time

    from models.errors import InputError

    load = duck.load
    started, done = threading.Event(), []

    def one_fails(read):  # type: ignore[no-untyped-def]
        name = read.facts.path.name
        if name == "deals.csv":
            assert started.wait(60)
            raise InputError("deals.csv: broken on purpose")
        if name == "activities.csv":
            started.set()
            time.sleep(3)  # still merging when the deals file has failed
        result = load(read)
        done.append(name)
        return result

    monkeypatch.setattr(duck, "load", one_fails)
    config = _project(small_export, tmp_path / "duck")
    run = pull(config)
    assert run.status == "failed"
    assert "deals.csv: broken on purpose" in (run.error or ""), run.error
    assert "activities.csv" in done  # the run waited for the merge under way
    # Nothing is left open: the warehouse opens, the run is logged.
    assert query(config, "SELECT status FROM hub_meta.hub_runs") == [("failed",)]


def test_a_merge_whose_turn_finds_the_disk_full_hands_its_file_to_dlt(
    tmp_path: Path,
    small_export: Generated,
    merged: dict[str, int | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each file is offered to DuckDB if the disk holds its merge alone (why_not, before
    the files are opened at once); merges take turns, and each checks the disk again when
    its turn comes. Here the first merge leaves no room: the other files take dlt's path,
    and every table is still what the row path gives."""
    from types import SimpleNamespace

    duck_config, rows_config = _pair(tmp_path, small_export)
    biggest = max((duck_config.base_dir / name).stat().st_size for name in DUCK_FILES)
    free = {"bytes": duck.SPACE_PER_FILE_BYTE * biggest}  # each file alone fits
    monkeypatch.setattr(duck.shutil, "disk_usage", lambda path: SimpleNamespace(free=free["bytes"]))
    load = duck._load

    def filling(con, read, values):  # type: ignore[no-untyped-def]
        rows = load(con, read, values)
        free["bytes"] = 0  # the merge took what was left
        return rows

    monkeypatch.setattr(duck, "_load", filling)
    _pull_both(duck_config, rows_config)
    assert sorted(merged) == sorted(DUCK_FILES)
    taken = [name for name, rows in merged.items() if rows is not None]
    assert len(taken) == 1, merged  # the first in turn; the others found no room
    assert _tables(duck_config) == _tables(rows_config)


DUCK_FILES = ("deals.csv", "stage_history.csv", "activities.csv")


def test_the_custom_fields_scan_needs_no_turn_and_finds_every_distinct_value(
    tmp_path: Path, small_export: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deals file's scan for its custom fields' distinct values runs before its merge's
    turn (in a DuckDB of its own, beside the other files' merges): it completes while
    another merge holds the turn, and finds what Python's csv module finds."""
    import csv
    from concurrent.futures import ThreadPoolExecutor

    reads = []
    load = duck.load

    def keeping(read):  # type: ignore[no-untyped-def]
        reads.append(read)
        return load(read)

    monkeypatch.setattr(duck, "load", keeping)
    config = _project(small_export, tmp_path / "duck")
    assert pull(config).status == "ok"
    (deals,) = [read for read in reads if read.facts.path.name == "deals.csv"]
    with duck.WAREHOUSE_TURN, ThreadPoolExecutor(1) as pool:  # another file's merge under way
        values = pool.submit(duck._custom_values, deals).result(timeout=60)
    assert values is not None
    with (config.base_dir / "deals.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for column, table in zip(deals.custom.columns, values, strict=True):
        assert sorted(table["raw"].to_pylist()) == sorted(
            {row[column.name].strip() for row in rows}
        )
