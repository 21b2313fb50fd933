"""Two hub runs on one hub.yml, and the load packages such runs used to break.

Before ``hub.locks``, two ``hub pull`` (or ``hub sync``) started together or seconds apart
each took the other's in-flight dlt load packages for a crashed run's and finished them
(``hub.packages.finish_interrupted``); the loser failed with "unexpected
FileNotFoundError", and now and then it left a package folder without its schema (it
recreated ``load/normalized/<id>/started_jobs`` after the winner had moved the package to
``load/loaded``), after which every pull of the source failed, ``--full-refresh``
included, until someone deleted files under ``.hub/pipelines`` by hand.

- the wedge, made the way the race and a failing disk leave it, must not stop a pull: the
  package is moved to ``.hub/set-aside/`` (not deleted), with a warning, and the source is
  re-read in full, so the warehouse ends where a clean pull would;
- seeded trials with real ``hub pull`` processes started 0 to ~1.5 runs apart: with
  ``--wait`` the second waits and both succeed; without it the second exits 4 at once with
  one line naming the holder; never a broken package, and the warehouse equals a clean one;
- the lock itself: held by another process (message, ``--wait``, a SIGKILLed holder frees
  it), by another thread (it waits), and a wait that runs out (virtual clock).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hub import locks
from hub.pull import run_pull
from models.config import HubConfig, load_config
from tests.csv_helpers import csv_config, extract_only, pull, query
from tests.harness import VirtualClock, write_hub_yml
from tests.pg import pg_warehouse
from tests.reliability.harness import (
    HUB,
    ROOT,
    diff_prints,
    fingerprint,
    hub_env,
    run_hub,
    world,
)

HEADER = "id,name,stage,created\n"
COLUMNS = {"source_deal_id": "id", "name": "name", "stage_id": "stage", "created_at": "created"}
ROWS = {
    1: "1,Alpha,Discovery,2026-01-02\n",
    2: "2,Beta,Qualified,2026-01-03\n",
    3: "3,Gamma,Discovery,2026-01-04\n",
}
SEED = 18


def _export(folder: Path, *rows: str) -> None:
    (folder / "deals.csv").write_text(HEADER + "".join(rows), encoding="utf-8")


def _config(folder: Path) -> HubConfig:
    return csv_config(folder, {"path": "deals.csv", "columns": COLUMNS})


def _pipeline_dir(config: HubConfig) -> Path:
    return config.hub_dir / "pipelines" / "hub_exp"


def _extract(config: HubConfig, *, normalize: bool) -> str:
    """Extract the export as it is now (and normalize it), as a run does before it loads."""
    pipeline, load_id = extract_only(config)
    if normalize:
        pipeline.normalize()
    return load_id


# ----- the wedge -----------------------------------------------------------------------------


def _orphan_of_a_finished_package(config: HubConfig) -> None:
    """The loser of the race moved a job into ``started_jobs`` of a package the winner had
    already loaded and moved to ``load/loaded``: the folder it recreated holds that job and
    nothing else (no schema, no state, no new_jobs)."""
    loaded = sorted((_pipeline_dir(config) / "load" / "loaded").iterdir())[-1]
    job = next(p for p in (loaded / "completed_jobs").iterdir() if p.name.startswith("deals."))
    orphan = _pipeline_dir(config) / "load" / "normalized" / loaded.name / "started_jobs"
    orphan.mkdir(parents=True)
    shutil.copy(job, orphan / job.name)


def _extracted_without_jobs(config: HubConfig) -> None:
    """The other run normalized and deleted the package while this one was still in it:
    the folder is left without ``new_jobs`` (the race's "FileNotFoundError: ...new_jobs")."""
    load_id = _extract(config, normalize=False)
    shutil.rmtree(_pipeline_dir(config) / "normalize" / "extracted" / load_id / "new_jobs")


def _normalized_without_schema(config: HubConfig) -> None:
    """A normalized package whose schema file never made it to disk."""
    load_id = _extract(config, normalize=True)
    (_pipeline_dir(config) / "load" / "normalized" / load_id / "schema.json").unlink()


BREAKS = {
    "orphaned started_jobs": _orphan_of_a_finished_package,
    "extracted, no new_jobs": _extracted_without_jobs,
    "normalized, no schema": _normalized_without_schema,
}


@pytest.mark.parametrize("full_refresh", [False, True], ids=["pull", "full-refresh"])
@pytest.mark.parametrize("shape", list(BREAKS))
def test_a_broken_load_package_is_set_aside_and_the_source_re_read(
    tmp_path: Path, shape: str, full_refresh: bool
) -> None:
    _export(tmp_path, ROWS[1], ROWS[2])
    config = _config(tmp_path)
    assert pull(config).status == "ok"
    _export(tmp_path, ROWS[1].replace("Discovery", "Qualified"), ROWS[2])
    BREAKS[shape](config)  # the package that would have carried deal 1's move
    _export(tmp_path, ROWS[1].replace("Discovery", "Qualified"), ROWS[2], ROWS[3])

    (run,) = run_pull(config, full_refresh=full_refresh)

    assert run.status == "ok", run.error
    assert run.set_aside_packages == 1
    warning = "\n".join(run.stats.warnings)
    assert "set aside 1 broken load package(s)" in warning and "re-read in full" in warning
    # The re-read found the whole export, deal 1's move included.
    assert dict(query(config, "SELECT source_deal_id, stage_id FROM src_exp.deals")) == {
        "1": "Qualified",
        "2": "Qualified",
        "3": "Discovery",
    }
    # Moved, not deleted; nothing left pending; the next pull is an ordinary one.
    (kept,) = (config.hub_dir / "set-aside" / "exp").iterdir()
    assert [p.name.split("-")[0] for p in kept.iterdir()] == [
        "normalized" if shape != "extracted, no new_jobs" else "extracted"
    ]
    for stage in ("normalize/extracted", "load/normalized", "load/new"):
        assert not list((_pipeline_dir(config) / stage).iterdir()), stage
    (again,) = run_pull(config)
    assert again.status == "ok" and again.set_aside_packages == 0 and not again.stats.warnings
    assert again.rows.get("deals", 0) == 0  # unchanged export: nothing re-read


def test_a_whole_package_left_by_a_killed_run_is_still_finished_not_set_aside(
    tmp_path: Path,
) -> None:
    """Setting aside is for broken packages only: a whole one is loaded as before."""
    _export(tmp_path, ROWS[1])
    config = _config(tmp_path)
    assert pull(config).status == "ok"
    _export(tmp_path, ROWS[1], ROWS[2])
    _extract(config, normalize=True)

    (run,) = run_pull(config)

    assert run.status == "ok" and run.recovered_packages == 1 and run.set_aside_packages == 0
    assert not (config.hub_dir / "set-aside").exists()
    assert sorted(query(config, "SELECT source_deal_id FROM src_exp.deals")) == [("1",), ("2",)]


# ----- the lock between processes -----------------------------------------------------------

HOLDER = """
import sys, time
from hub import locks
from models.config import load_config
with locks.holding_warehouse(load_config(sys.argv[1]), "sync"):
    print("held", flush=True)
    if sys.argv[2] == "until-told":
        sys.stdin.readline()  # until the test closes our stdin
    else:
        time.sleep(float(sys.argv[2]))
"""


def _hold_in_another_process(config_path: Path, seconds: float | None) -> subprocess.Popen[str]:
    """A process holding the warehouse lock for ``seconds``, or (None) until its stdin closes."""
    env = {**hub_env(), "PYTHONPATH": str(ROOT)}
    if "HUB_TEST_WAREHOUSE_PASSWORD" in os.environ:  # the PostgreSQL test's (tests/pg.py)
        env["HUB_TEST_WAREHOUSE_PASSWORD"] = os.environ["HUB_TEST_WAREHOUSE_PASSWORD"]
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(config_path), str(seconds or "until-told")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def csv_hub(tmp_path: Path) -> Path:
    _export(tmp_path, ROWS[1], ROWS[2])
    return write_hub_yml(
        tmp_path,
        {
            "sources": [
                {
                    "name": "exp",
                    "kind": "csv",
                    "options": {"deals": {"path": "deals.csv", "columns": COLUMNS}},
                }
            ]
        },
    )


def test_a_second_run_exits_4_at_once_naming_the_holder_or_waits_for_it(csv_hub: Path) -> None:
    holder = _hold_in_another_process(csv_hub, 60)
    try:
        busy = run_hub("pull", "--config", str(csv_hub), cwd=csv_hub.parent)
        waited = run_hub("pull", "--config", str(csv_hub), "--wait", "1", cwd=csv_hub.parent)
    finally:
        holder.send_signal(signal.SIGKILL)  # the process we started; the kernel drops its lock
        holder.wait(timeout=30)
    assert busy.code == 4, busy.output
    lines = [line for line in busy.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in busy.output, busy.output
    assert f"hub sync, pid {holder.pid}" in lines[0], lines[0]
    assert "hub.duckdb" in lines[0] and "--wait SECONDS" in lines[0], lines[0]
    assert busy.seconds < 20
    assert waited.code == 4 and "after waiting 1 s" in waited.stderr, waited.output
    assert "waiting up to 1 s" in waited.stderr, waited.output
    # SIGKILLed holder: no stale lock, the next run goes ahead.
    after = run_hub("pull", "--config", str(csv_hub), cwd=csv_hub.parent)
    assert after.code == 0, after.output


def test_a_run_that_waits_starts_when_the_holder_is_done(csv_hub: Path) -> None:
    # Held until the run says it waits: a fixed hold (it was 3 s) could end before a busy
    # machine (a parallel test run) had even started the run, which then never waited.
    holder = _hold_in_another_process(csv_hub, None)
    waiter = _launch("pull", "--config", str(csv_hub), "--wait", "120", cwd=csv_hub.parent)
    assert holder.stdin is not None and waiter.stderr is not None
    try:
        first = waiter.stderr.readline()  # "waiting up to 120 s: ..." (or its failure)
    finally:
        holder.stdin.close()  # the holder leaves its block and exits
        holder.wait(timeout=60)
    out, rest = waiter.communicate(timeout=300)
    stderr = first + rest
    assert holder.returncode == 0
    assert waiter.returncode == 0, out + stderr
    assert "waiting up to 120 s" in stderr and f"pid {holder.pid}" in stderr


def test_a_wait_that_runs_out_fails_with_the_holder(
    csv_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--wait 600 against a holder that stays: the clock is virtual, the lock real."""
    clock = VirtualClock().install(monkeypatch)
    monkeypatch.setattr(locks, "policy", locks.WaitPolicy(wait_s=600))
    holder = _hold_in_another_process(csv_hub, 60)
    try:
        with pytest.raises(locks.LockBusy, match=f"pid {holder.pid}.*after waiting 600 s"):
            run_pull(load_config(csv_hub))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert 599 <= sum(clock.slept) <= 601
    assert len(clock.slept) >= 600 / locks.POLL_S - 1  # it kept trying, it did not just sleep


def test_two_threads_pulling_one_hub_take_turns(
    csv_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "policy", locks.WaitPolicy(wait_s=120))
    config = load_config(csv_hub)
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def one() -> None:
        started: list[float] = []
        try:
            run_pull(
                config,
                on_source_start=lambda _s: started.append(time.perf_counter()),
                on_source_done=lambda _r: spans.append((started[0], time.perf_counter())),
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    (a, b) = sorted(spans)
    assert a[1] <= b[0], f"the two pulls overlapped: {spans}"


def test_on_postgresql_runs_from_two_folders_share_one_advisory_lock(
    pg_database: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hub folders on one PostgreSQL database: a file lock would not see each other."""
    configs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        _export(folder, ROWS[1], ROWS[2])
        entry = {"path": "deals.csv", "columns": COLUMNS}
        configs.append(
            write_hub_yml(
                folder,
                {
                    "warehouse": pg_warehouse(pg_database),
                    "sources": [
                        {"name": f"exp_{name}", "kind": "csv", "options": {"deals": entry}}
                    ],
                },
            )
        )
    holder = _hold_in_another_process(configs[0], 60)
    try:
        with pytest.raises(locks.LockBusy, match=f"PostgreSQL .*hub sync, pid {holder.pid}"):
            run_pull(load_config(configs[1]))
    finally:
        holder.send_signal(signal.SIGKILL)  # its session ends, and the advisory lock with it
        holder.wait(timeout=30)
    # The server ends the dead session's lock as soon as it notices; a short wait covers it.
    monkeypatch.setattr(locks, "policy", locks.WaitPolicy(wait_s=30))
    (run,) = run_pull(load_config(configs[1]))
    assert run.status == "ok", run.error


# ----- seeded trials with real processes -----------------------------------------------------


def _launch(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [HUB, *args],
        cwd=cwd,
        env=hub_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _pending_or_set_aside(folder: Path) -> list[str]:
    hub_dir = folder / ".hub"
    found = [
        str(p.relative_to(hub_dir))
        for stage in ("normalize/extracted", "load/normalized", "load/new")
        for p in (hub_dir / "pipelines").glob(f"hub_*/{stage}/*")
    ]
    return found + [str(p.relative_to(hub_dir)) for p in (hub_dir / "set-aside").glob("*/*")]


def test_two_pulls_started_together_or_apart_never_break_a_package(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    with world(tmp_path / "world", n_deals=40, seed=SEED, kinds=("pipedrive",)) as src:
        clean, racing = tmp_path / "clean", tmp_path / "racing"
        for folder in (clean, racing):
            write_hub_yml(folder, src.config())
        measured = run_hub("pull", "--config", str(clean / "hub.yml"), cwd=clean)
        assert measured.code == 0, measured.output
        log: list[dict[str, object]] = [{"clean_pull_s": round(measured.seconds, 1)}]
        trials: list[tuple[str, ...]] = [()] * 2 + [("--wait", "240")] * 3
        for trial, wait in enumerate(trials):
            offset = rng.uniform(0, measured.seconds)
            cfg = ("--config", str(racing / "hub.yml"))
            runs = [_launch("pull", *cfg, *wait, cwd=racing)]
            time.sleep(offset)
            runs.append(_launch("pull", *cfg, *wait, cwd=racing))
            errs = [proc.communicate(timeout=300)[1] for proc in runs]
            codes = [proc.returncode for proc in runs]
            entry: dict[str, object] = {"trial": trial, "wait": bool(wait), "codes": codes}
            entry["offset_s"] = round(offset, 2)
            log.append(entry)
            assert "Traceback" not in "".join(errs) and "FileNotFoundError" not in "".join(errs)
            if wait:
                assert codes == [0, 0], errs
                entry["waited"] = any("waiting up to" in err for err in errs)
            else:
                # Whichever took the lock first ran; the other was refused at once, or
                # started after the first had finished.
                assert sorted(codes) in ([0, 0], [0, 4]), errs
                for mine, other in ((0, 1), (1, 0)):
                    if codes[mine] == 4:
                        lines = [line for line in errs[mine].splitlines() if line.strip()]
                        assert len(lines) == 1, errs[mine]
                        assert f"pid {runs[other].pid}" in lines[0], lines[0]
            assert not _pending_or_set_aside(racing), (entry, _pending_or_set_aside(racing))
        # One more pull after the last trial, the same for both folders, then compare.
        for folder in (clean, racing):
            done = run_hub("pull", "--config", str(folder / "hub.yml"), cwd=folder)
            assert done.code == 0, done.output
        print(json.dumps(log, indent=1))
        want = fingerprint(clean / ".hub" / "hub.duckdb")
        have = fingerprint(racing / ".hub" / "hub.duckdb")
        ignore_observations = {k for k in want if k.endswith("stage_observations")}
        problems = diff_prints(
            {k: v for k, v in want.items() if k not in ignore_observations},
            {k: v for k, v in have.items() if k not in ignore_observations},
        )
        assert not problems, problems
        assert any(e.get("waited") for e in log), f"no trial overlapped: {log}"
        assert any(4 in e.get("codes", []) for e in log), f"no trial was refused: {log}"
