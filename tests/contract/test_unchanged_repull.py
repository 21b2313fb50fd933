"""An unchanged re-pull changes no stored row, for every connector kind (issue #18, item 9).

Each kind's world (the CSV export, or the kind's sandbox, as in test_connector_contract.py)
is pulled, changed by its users and pulled again, with one bad optional value on the way:
a sandbox gets two CRM edit rounds through ``/_sandbox/mutate`` (the first read by a full
refresh, the second by an incremental pull), the CSV export a new version without one deal
under ``full_snapshot``. That is the baseline, with history, deletions, quarantine and
observations in it. Then, with nothing changed at the source, it is pulled once more:

* ``again``: a plain re-pull; the incremental cursors re-read their lookback window;
* ``full_refresh``: ``hub pull --full-refresh``; every record is read again;
* ``days_later``: two days later on the virtual clock (past what is kept for a day:
  Pipedrive's field definitions, Salesforce's describes, HubSpot's association sweep)
  with the lookback widened to ten years, so the incremental reads return the records
  again.

Every table of the source's dataset must then hold exactly the rows it held before: a
checksum of the contents (every row, every column except dlt's own), never of counts.

What "unchanged" means, table by table:

* the canonical tables (deals, pipelines, stages, stage_changes, activities, owners,
  accounts, deal_accounts, field_definitions) merge on their keys: a record read again
  must come out as the same row, with no value recomputed from the clock and no value
  that only one read path knows replaced by a cheaper path's guess (Pipedrive's
  ``changed_by`` of a won/lost step comes from the deal flow; the step rebuilt from the
  deal alone has no user);
* ``quarantine`` is append-only: one row per refused value (entity, record, field, value,
  reason; the location too for a record without an id), stamped when it was first
  refused. Reading the same bad value again adds nothing (the hub drops the copy after
  the load); a new bad value, or the same one in another record or field, adds a row;
* ``stage_observations`` (written by the hub after each load) is append-only: a row only
  when a deal's stage differs from its last observation, so it cannot grow here.

Left out of the checksum, and why:

* ``_dlt_load_id`` and ``_dlt_id``: dlt stamps every row it writes with its load and a
  fresh row id, so a row merged over itself with identical values gets new ones; they
  say when dlt wrote the row, not what the CRM holds;
* dlt's own tables (``_dlt_loads``, ``_dlt_pipeline_state``, ``_dlt_version``): one row per
  load and the cursors, which move on every run by design;
* ``hub_meta.hub_runs``: the run log, one row per run by design.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from pprint import pformat
from typing import Any

import duckdb
import pytest

import hub.pull
from connectors.registry import all_connectors
from connectors.sandbox import SandboxServer
from hub.generate import Generated, csv_source_entry
from hub.pull import SourceRun, run_pull
from models.config import HubConfig, parse_config
from tests.harness import (
    VirtualClock,
    has_sandbox,
    mutate,
    sandbox_entry,
    start_sandbox,
    stop_quietly,
)

KINDS = sorted(c.kind for c in all_connectors())
SCENARIOS = ("again", "full_refresh", "days_later")
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")
DAYS_LATER = timedelta(days=2)
YEARS_MINUTES = 10 * 365 * 24 * 60
# Each API kind's own lookback option, widened to ten years for ``days_later``.
WIDE_LOOKBACK: dict[str, dict[str, int]] = {
    "hubspot": {"lookback_minutes": YEARS_MINUTES},
    "pipedrive": {"lookback_minutes": YEARS_MINUTES},
    "salesforce": {"lookback_s": YEARS_MINUTES * 60},
}
# CRM edit rounds every sandbox understands; each reads the keys it knows.
EDITS = {
    "seed": 5,
    "stage_moves": 4,
    "won": 2,
    "lost": 1,
    "deletes": 1,
    "new_deals": 2,
    "new_activities": 3,
    "association_changes": 1,
    "org_edits": 2,
    "org_deletes": 1,
    "account_edits": 2,
    "account_deletes": 1,
}
# Only what every kind's incremental read sees: HubSpot reports an association change (and
# an activity losing its deleted deal) only to its daily sweep or a full refresh.
VISIBLE_EDITS = {**EDITS, "seed": 6, "deletes": 0, "association_changes": 0}


# ----- edits by hand: a bad optional value in the deal edited last; Pipedrive's flow case ---------


def _pipedrive_by_hand(server: Any) -> None:
    """A rep moves a deal on and wins it half an hour later, both before the next pull:
    that pull reads the deal's flow (who won it), and an unchanged re-pull meets the deal
    again in its lookback with the move outside it. Then the deal gets a bad amount."""
    store = server.store
    deal = min(
        (
            d
            for d in store.deals.values()
            if d["status"] == "open"
            and d["pipeline_id"] == 1
            and d["stage_id"] < 5
            and not (d["is_deleted"] or d["is_archived"])
        ),
        key=lambda d: d["id"],
    )
    store.move(deal, deal["stage_id"] + 1, server.now(), deal["owner_id"], "app")
    server.time_offset_s += 1800
    store.set_status(deal, "won", server.now(), deal["owner_id"], "app")
    deal["value"] = "lots"


def _hubspot_by_hand(server: Any) -> None:
    deal = max(server.objects["deals"].values(), key=lambda o: (o.lastmod_ms, int(o.id)))
    deal.props["amount"] = "lots"


def _salesforce_by_hand(server: Any) -> None:
    table = server.org.tables["Opportunity"]
    deal = max(table.values(), key=lambda r: (r["SystemModstamp"], r["Id"]))
    deal["Amount"] = "lots"


BY_HAND: dict[str, Callable[[Any], None]] = {
    "pipedrive": _pipedrive_by_hand,
    "hubspot": _hubspot_by_hand,
    "salesforce": _salesforce_by_hand,
}


# ----- worlds -----------------------------------------------------------------------------------


@dataclass
class World:
    kind: str
    folder: Path
    entry: dict[str, Any]
    sandbox: SandboxServer | None = None
    shifted_s: float = 0.0  # how far a test moved the shared sandbox's clock on

    def config(self, **options: Any) -> HubConfig:
        entry = {**self.entry, "options": {**self.entry.get("options", {}), **options}}
        return parse_config({"sources": [entry]}, self.folder / "hub.yml")

    @property
    def schema(self) -> str:
        return f"src_{self.entry['name']}"


def _pull(config: HubConfig, *, full_refresh: bool = False) -> SourceRun:
    (run,) = run_pull(config, full_refresh=full_refresh)
    assert run.status == "ok", run.error
    return run


def _sandbox_world(kind: str, folder: Path, clock: VirtualClock) -> Generator[World, None, None]:
    """Pulled, edited, read in full; edited again (and by hand, ``BY_HAND``) and pulled
    incrementally, so the state holds lookback memories cut back to the window."""
    sandbox = start_sandbox(kind, n_deals=60, seed=11)
    clock.follow(sandbox)
    try:
        world = World(kind, folder, sandbox_entry(sandbox, f"{kind}_r"), sandbox)
        _pull(world.config())
        # Edits land a few (virtual) seconds after the read before them: CRMs stamp changes
        # to the second, and an edit in the very second the hub last read the record is the
        # cursor's tail case, not what this test is about.
        clock.sleep(2)
        mutate(sandbox, **EDITS)
        _pull(world.config(), full_refresh=True)
        clock.sleep(2)
        mutate(sandbox, **VISIBLE_EDITS)
        if kind in BY_HAND:
            with sandbox.lock:
                BY_HAND[kind](sandbox)
        _pull(world.config())
        yield world
    finally:
        stop_quietly([sandbox])


def _csv_world(folder: Path, export: Generated) -> World:
    """The export with one bad amount, pulled; then a new export without one deal."""
    shutil.copytree(export.export.out_dir, folder, dirs_exist_ok=True)
    entry = csv_source_entry(export.export, "csv_r", export.export.out_dir)
    entry["options"]["deals"]["full_snapshot"] = True
    path = folder / entry["options"]["deals"]["path"]
    with path.open(encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    rows[0][header.index("amount")] = "lots"
    world = World("csv", folder, entry)
    _write_csv(path, header, rows)
    _pull(world.config())
    _write_csv(path, header, rows[:1] + rows[2:])  # the second deal is gone
    _pull(world.config())
    return world


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *rows])


@pytest.fixture(scope="module", params=KINDS, ids=lambda kind: f"kind={kind}")
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, World | None]]:
    """A sandbox kind's world, built once for its three scenarios (three pulls each time
    was most of this file's time). Tests pull into a copy of its folder, never into it;
    the sandbox is shared, only read, and a test that moves its clock moves it back."""
    kind = request.param
    if not has_sandbox(kind):
        yield kind, None
        return
    clock = VirtualClock()
    folder = tmp_path_factory.mktemp(f"built-{kind}")
    with pytest.MonkeyPatch.context() as patch:
        clock.install(patch)
        worlds = _sandbox_world(kind, folder, clock)
        world = next(worlds)
    try:
        yield kind, world
    finally:
        worlds.close()


@pytest.fixture
def world(
    built: tuple[str, World | None],
    tmp_path: Path,
    small_export: Generated,
    virtual_clock: VirtualClock,
) -> Iterator[World]:
    kind, shared = built
    if shared is not None and shared.sandbox is not None:
        folder = tmp_path / "world"
        shutil.copytree(shared.folder, folder)
        virtual_clock.follow(shared.sandbox)
        world = World(kind, folder, shared.entry, shared.sandbox)
        try:
            yield world
        finally:
            shared.sandbox.time_offset_s -= world.shifted_s
    elif kind == "csv":
        # Built per test: the CSV source remembers its files by absolute path, so in a
        # copied folder they would be new files and ``again`` would read them whole.
        yield _csv_world(tmp_path, small_export)
    else:
        pytest.skip(f"kind {kind} ships no sandbox, so it cannot be pulled offline")


# ----- checksums ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableContents:
    """One table's rows (dlt's columns left out) as a multiset of their text forms."""

    columns: tuple[str, ...]
    rows: Counter[str]

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256("\x1f".join(self.columns).encode())
        for row in sorted(self.rows.elements()):
            digest.update(b"\x1e" + row.encode())
        return digest.hexdigest()


def _contents(config: HubConfig, schema: str) -> dict[str, TableContents]:
    path = config.resolve_path(config.warehouse.path)
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                "AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\' ORDER BY table_name",
                [schema],
            ).fetchall()
        ]
        out = {}
        for table in tables:
            columns = tuple(
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                    "AND table_name = ? ORDER BY column_name",
                    [schema, table],
                ).fetchall()
                if name not in DLT_COLUMNS
            )
            select = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'SELECT {select} FROM {schema}."{table}"').fetchall()
            out[table] = TableContents(columns, Counter(repr(row) for row in rows))
    return out


def _differences(
    before: dict[str, TableContents], after: dict[str, TableContents]
) -> dict[str, Any]:
    """What changed, table by table: rows gone and rows new (a few of each)."""
    out: dict[str, Any] = {}
    for table in sorted(set(before) | set(after)):
        old = before.get(table, TableContents((), Counter()))
        new = after.get(table, TableContents((), Counter()))
        if old.checksum == new.checksum:
            continue
        out[table] = {
            "columns": new.columns if old.columns != new.columns else "same",
            "rows": f"{sum(old.rows.values())} -> {sum(new.rows.values())}",
            "gone": list((old.rows - new.rows).elements())[:3],
            "new": list((new.rows - old.rows).elements())[:3],
        }
    return out


def _live_deals(config: HubConfig, schema: str) -> int:
    path = config.resolve_path(config.warehouse.path)
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(f"SELECT count(*) FROM {schema}.deals WHERE NOT is_deleted").fetchone()
    assert row is not None and row[0] > 0
    return int(row[0])


# ----- the test ------------------------------------------------------------------------------------


def _later(monkeypatch: pytest.MonkeyPatch, world: World, delta: timedelta) -> None:
    """Move the run's start (hub.pull's clock) and the sandbox's clock on by ``delta``."""

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:
            return datetime.now(tz) + delta  # type: ignore[return-value]

    monkeypatch.setattr(hub.pull, "datetime", Later)
    if world.sandbox is not None:
        world.sandbox.time_offset_s += delta.total_seconds()
        world.shifted_s += delta.total_seconds()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_an_unchanged_repull_changes_no_stored_row(
    world: World, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = world.config()
    before = _contents(config, world.schema)
    assert {"deals", "stage_changes", "quarantine", "stage_observations"} <= set(before)
    assert before["quarantine"].rows, "the world's bad value was not quarantined"
    live = _live_deals(config, world.schema)

    if scenario == "again":
        run = _pull(config)
    elif scenario == "full_refresh":
        run = _pull(config, full_refresh=True)
        assert run.rows.get("deals", 0) >= live, "a full refresh reads every live deal again"
    else:
        _later(monkeypatch, world, DAYS_LATER)
        run = _pull(world.config(**WIDE_LOOKBACK.get(world.kind, {})))
        if world.kind in WIDE_LOOKBACK:
            assert run.rows.get("deals", 0) > live // 2, "the wide lookback re-read deals"

    after = _contents(config, world.schema)
    changed = _differences(before, after)
    assert not changed, f"rows changed by a re-pull ({scenario}):\n{pformat(changed, width=100)}"
    assert {t: c.checksum for t, c in after.items()} == {t: c.checksum for t, c in before.items()}
    assert run.observations == 0
    assert run.quarantined == 0, "the bad value was counted as newly quarantined again"
