"""Crash safety: ``hub sync`` killed with SIGKILL at random points, then rerun.

One world (a CSV export plus the HubSpot, Pipedrive and Salesforce sandboxes, served from
this process over real HTTP) is synced into two hub folders: a *clean* one that is never
interrupted, and a *crash* one whose ``hub sync`` subprocesses are SIGKILLed after seeded
random delays spread over a measured clean run (extraction, normalize, load, the hub's
observations, dbt). A killed run's rerun may itself be killed (a crash during recovery);
every rerun that completes must leave the crash warehouse identical to the clean one:
same row count and order-independent content checksum for every table in ``src_*``
(canonical tables, quarantine, stage_observations) and ``analytics.*``, and no duplicate
merge keys. Run-time columns (``_dlt_load_id``, ``_dlt_id``, ``seen_at``) are left out.

Round A kills the first, full sync of an empty warehouse; then every sandbox changes
(stage moves, new, won, lost and deleted deals) and round B kills the incremental sync,
including inside dbt, so history recorded before the crash must survive it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from tests.harness import mutate, write_hub_yml
from tests.reliability.harness import (
    HUB,
    Sources,
    diff_prints,
    fingerprint,
    hub_env,
    run_hub,
    table_diff,
    world,
)

SEED = 20260630
N_DEALS = 30  # per source; four sources


@dataclass
class Timeline:
    """One ``hub`` subprocess: when its pull finished (its summary reached stderr), when it
    ended, and whether we killed it."""

    started: float
    pull_done_at: float | None = None
    ended_at: float | None = None
    code: int | None = None
    killed: bool = False
    stderr: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)

    @property
    def pull_s(self) -> float | None:
        return None if self.pull_done_at is None else self.pull_done_at - self.started

    @property
    def total_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started


def launch(
    *args: str,
    cwd: Path,
    kill_after: float | None = None,
    kill_after_pull: float | None = None,
    timeout: float = 240,
) -> Timeline:
    """Run ``hub ARGS`` and SIGKILL it ``kill_after`` seconds after start, or
    ``kill_after_pull`` seconds after its pull finished (i.e. inside dbt)."""
    proc = subprocess.Popen(
        [HUB, *args],
        cwd=cwd,
        env=hub_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = Timeline(time.perf_counter())

    def read_err() -> None:
        assert proc.stderr is not None
        for text in proc.stderr:
            if line.pull_done_at is None and "pull " in text and ("ok" in text or "failed" in text):
                line.pull_done_at = time.perf_counter()
            line.stderr.append(text)

    def read_out() -> None:
        assert proc.stdout is not None
        line.stdout.extend(proc.stdout)

    readers = [
        threading.Thread(target=read_err, daemon=True),
        threading.Thread(target=read_out, daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = line.started + timeout
    while proc.poll() is None and time.perf_counter() < deadline:
        now = time.perf_counter()
        if kill_after is not None and now - line.started >= kill_after:
            break
        if (
            kill_after_pull is not None
            and line.pull_done_at is not None
            and now - line.pull_done_at >= kill_after_pull
        ):
            break
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)  # the process we started, by its id
        line.killed = True
    line.code = proc.wait(timeout=30)
    line.ended_at = time.perf_counter()
    for reader in readers:
        reader.join(timeout=5)
    return line


def where_it_died(folder: Path, line: Timeline) -> str:
    """A label for the kill point: dbt, or the pull step whose work was left pending."""
    if line.pull_done_at is not None:
        return f"dbt (+{line.ended_at - line.pull_done_at:.1f}s after the pull)"  # type: ignore[operator]
    pending = []
    for pipeline in sorted((folder / ".hub" / "pipelines").glob("hub_*")):
        source = pipeline.name[4:]
        if any((pipeline / "normalize" / "extracted").glob("*")):
            pending.append(f"{source}: extracted, not normalized")
        if any((pipeline / "load" / "normalized").glob("*")):
            pending.append(f"{source}: normalized, not loaded")
    done = _runs_logged(folder)
    return f"pull ({done} source runs logged{'; ' + ', '.join(pending) if pending else ''})"


def _runs_logged(folder: Path) -> int:
    db = folder / ".hub" / "hub.duckdb"
    if not db.exists():
        return 0
    with duckdb.connect(str(db), read_only=True) as con:
        has = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'hub_meta' "
            "AND table_name = 'hub_runs'"
        ).fetchone()[0]
        return con.execute("SELECT count(*) FROM hub_meta.hub_runs").fetchone()[0] if has else 0


def assert_sound(folder: Path) -> None:
    """After a kill: the warehouse opens and holds no duplicate keys (it may be partial)."""
    db = folder / ".hub" / "hub.duckdb"
    if not db.exists():
        return
    dupes = {t: p.duplicate_keys for t, p in fingerprint(db).items() if p.duplicate_keys}
    assert not dupes, f"duplicate keys after a kill: {dupes}"


def assert_nothing_pending(folder: Path) -> None:
    """After a completed rerun no load package of a killed run may be left on disk: each
    is either loaded (hub.pull.finish_interrupted) or its data was pulled again."""
    left = [
        str(package.relative_to(folder))
        for pipeline in (folder / ".hub" / "pipelines").glob("hub_*")
        for stage in ("normalize/extracted", "load/normalized")
        for package in (pipeline / stage).glob("*")
    ]
    assert not left, f"load packages left after a completed rerun: {left}"


def assert_identical(clean: Path, crash: Path, *, schemas: tuple[str, ...]) -> None:
    want = {
        t: p for t, p in fingerprint(clean / ".hub" / "hub.duckdb").items() if t.startswith(schemas)
    }
    have = {
        t: p for t, p in fingerprint(crash / ".hub" / "hub.duckdb").items() if t.startswith(schemas)
    }
    problems = diff_prints(want, have)
    if problems:
        details = [
            table_diff(
                clean / ".hub" / "hub.duckdb", crash / ".hub" / "hub.duckdb", p.split(":")[0]
            )
            for p in problems[:3]
            if p.split(":")[0] in want and p.split(":")[0] in have
        ]
        pytest.fail(
            "warehouse after rerun differs from the clean run:\n" + "\n".join(problems + details)
        )
    assert want, "nothing compared"


def mutate_all(src: Sources, seed: int) -> None:
    spec = {
        "seed": seed,
        "stage_moves": 4,
        "backward_moves": 1,
        "won": 1,
        "lost": 1,
        "deletes": 1,
        "new_deals": 2,
    }
    for server in src.servers.values():
        mutate(server, **spec)


@pytest.fixture(scope="module")
def crash_world(tmp_path_factory: pytest.TempPathFactory):
    with world(tmp_path_factory.mktemp("crash-world"), n_deals=N_DEALS, seed=SEED % 1000) as src:
        yield src


def test_sigkill_at_random_points_then_rerun_gives_the_clean_warehouse(
    crash_world: Src, tmp_path: Path, record_property
) -> None:
    src = crash_world
    rng = random.Random(SEED)
    clean, crash = tmp_path / "clean", tmp_path / "crash"
    for folder in (clean, crash):
        write_hub_yml(folder, src.config())
    log: list[dict[str, object]] = []

    def kill(
        args: tuple[str, ...],
        *,
        after: float | None = None,
        after_pull: float | None = None,
        tries: int = 3,
    ) -> None:
        line = launch(
            *args,
            "--config",
            str(crash / "hub.yml"),
            cwd=crash,
            kill_after=after,
            kill_after_pull=after_pull,
        )
        if not line.killed and tries > 1:  # it ran faster than measured: a completed rerun
            assert line.code in (0, 3), "".join(line.stderr)[-2000:]
            log.append(
                {
                    "round": round_name,
                    "args": " ".join(args),
                    "finished_before_kill_s": after or after_pull,
                }
            )
            kill(
                args,
                after=after and after * 0.5,
                after_pull=after_pull and after_pull * 0.3,
                tries=tries - 1,
            )
            return
        entry = {
            "round": round_name,
            "args": " ".join(args),
            "delay_s": round(after or after_pull or 0, 2),
            "ran_s": round(line.total_s or 0, 1),
            "killed": line.killed,
            "at": where_it_died(crash, line) if line.killed else "finished first",
            "code": line.code,
        }
        log.append(entry)
        if not line.killed:
            assert line.code in (0, 3), "".join(line.stderr)[-2000:]
        assert_sound(crash)

    def rerun(*args: str) -> None:
        done = run_hub(*args, "--config", str(crash / "hub.yml"), cwd=crash)
        assert done.code == 0, (
            f"rerun of hub {' '.join(args)} failed ({done.code}):\n{done.output[-3000:]}"
        )
        assert "Traceback" not in done.output
        assert_nothing_pending(crash)
        log.append(
            {
                "round": round_name,
                "args": " ".join(args),
                "rerun": True,
                "seconds": round(done.seconds, 1),
            }
        )

    # ----- round A: the first, full sync of an empty warehouse --------------------------------
    round_name = "A"
    measured = launch("pull", "--config", str(clean / "hub.yml"), cwd=clean)
    assert measured.code == 0, "".join(measured.stderr)[-3000:]
    pull_s = measured.total_s or 5.0
    log.append({"round": "A", "clean_pull_s": round(pull_s, 1)})
    # Kill points spread over the run (stratified, seeded): start-up, extraction of each
    # source in turn, normalize, load, observations. In each group a run is killed, its
    # rerun is killed too, and so on; then a rerun completes and is compared.
    strata = 6
    delays = [pull_s * (0.35 + 0.65 * (i + rng.random()) / strata) for i in range(strata)]
    rng.shuffle(delays)
    for group in (delays[0:3], delays[3:6]):
        for delay in group:
            kill(("sync",), after=delay)
        rerun("pull")
        assert_identical(clean, crash, schemas=("src_",))

    # ----- round B: every CRM changes; kill the incremental sync, inside dbt too -------------
    round_name = "B"
    mutate_all(src, seed=rng.randrange(1000))
    measured = launch("sync", "--config", str(clean / "hub.yml"), cwd=clean)
    assert measured.code == 0, "".join(measured.stderr)[-3000:]
    assert measured.pull_s is not None and measured.total_s is not None
    pull_b, dbt_b = measured.pull_s, measured.total_s - measured.pull_s
    log.append({"round": "B", "clean_pull_s": round(pull_b, 1), "clean_dbt_s": round(dbt_b, 1)})
    for i in range(2):
        kill(("sync",), after=pull_b * (0.45 + 0.5 * (i + rng.random()) / 2))
    for i in range(2):
        kill(("sync",), after_pull=dbt_b * (0.05 + 0.85 * (i + rng.random()) / 2))
    rerun("sync")
    assert_identical(clean, crash, schemas=("src_", "analytics"))

    kills = [e for e in log if e.get("killed")]
    in_dbt = [e for e in kills if str(e["at"]).startswith("dbt")]
    in_pull = [e for e in kills if str(e["at"]).startswith("pull")]
    summary = json.dumps(log, indent=1)
    record_property("crash_log", summary)
    print(summary)
    out = os.environ.get("HUB_RELIABILITY_LOG")
    if out:
        Path(out).write_text(summary, encoding="utf-8")
    assert len(kills) >= 10, summary
    assert len(in_dbt) >= 1 and len(in_pull) >= 5, summary


Src = Sources
