"""A transform killed half-way: no reader may take the mixed marts for one build.

dbt replaces one model at a time, so ``hub transform`` SIGKILLed mid-build leaves some
marts rebuilt and the others from the build before; ``hub report`` used to draw them and
exit 0. Here a real ``hub transform`` subprocess (at a new ``--as-of``, so rebuilt marts
differ) is SIGKILLed after a seeded number of analytics marts were created (read from
dbt's own log as they finish), and then:

- ``hub report`` exits 1 with one line saying the last transform stopped before it
  finished and to run ``hub transform``;
- ``hub status`` warns the same way;
- ``hub push`` (``plan_push``) and ``--apply`` (``apply_push``) refuse the outbound models;
- a completed ``hub transform`` makes all three work again.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from hub.push import PushPlan, apply_push, plan_push
from hub.warehouse.builds import IncompleteBuild
from models.config import load_config
from tests.harness import write_hub_yml
from tests.reliability.harness import HUB, fingerprint, hub_env, run_hub, world

SEED = 1810
NEW_AS_OF = "2026-07-20T00:00:00Z"
CREATED = "OK created sql table model analytics."
TRIGGER = "lead_response_time"  # a mart table that carries as_of


def _kill_after(folder: Path, mart: str, more: int, timeout: float = 400) -> list[str]:
    """Run ``hub transform`` at NEW_AS_OF; SIGKILL it once dbt's log says ``mart`` and then
    ``more`` other analytics marts were created. Returns the marts created before the kill."""
    log = folder / ".hub" / "dbt" / "logs" / "dbt.log"
    offset = log.stat().st_size if log.exists() else 0
    proc = subprocess.Popen(
        [HUB, "transform", "--config", str(folder / "hub.yml"), "--as-of", NEW_AS_OF],
        cwd=folder,
        env=hub_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    created: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists():
                with log.open(encoding="utf-8", errors="replace") as handle:
                    handle.seek(offset)
                    created = [
                        line.split(CREATED, 1)[1].split()[0] for line in handle if CREATED in line
                    ]
            if mart in created and len(created) >= created.index(mart) + 1 + more:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # the process we started, by its id
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the transform finished before it was killed"
    return created


def _analytics_tables(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'analytics' AND table_type = 'BASE TABLE'"
            ).fetchall()
        }


def test_a_killed_transform_leaves_marts_no_reader_takes_for_one_build(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    with world(tmp_path / "world", n_deals=40, seed=SEED % 1000, kinds=()) as src:
        folder = tmp_path / "hub"
        write_hub_yml(folder, src.config())
        cfg = ("--config", str(folder / "hub.yml"))
        synced = run_hub("sync", *cfg, cwd=folder)
        assert synced.code == 0, synced.output
        db = folder / ".hub" / "hub.duckdb"
        before = fingerprint(db)
        marts = _analytics_tables(db)

        # lead_response_time carries as_of, so its rebuild differs; a seeded number of marts
        # after it.
        created = _kill_after(folder, TRIGGER, rng.randint(0, 4))

        # Mixed for real: some marts were rebuilt at the new as_of, the others were not.
        assert TRIGGER in created and len(created) < len(marts), created
        after = fingerprint(db)
        changed = {
            t for t in marts if not after[f"analytics.{t}"].same_as(before[f"analytics.{t}"])
        }
        assert TRIGGER in changed, (changed, created)
        # ... and marts that carry as_of too but were not reached still hold the old build
        # (tables only: a view such as sales_velocity computes as_of when read).
        as_of_marts = {
            "pipeline_snapshot_daily",
            "stalled_deals",
            "pipeline_coverage",
            "rep_activity",
        }
        assert as_of_marts <= set(marts), marts
        assert as_of_marts - set(created) - changed, (changed, created)

        report = run_hub("report", *cfg, cwd=folder)
        assert report.code == 1, report.output
        lines = [line for line in report.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in report.output, report.output
        assert "stopped before it finished" in lines[0] and "'hub transform'" in lines[0]
        assert not (folder / ".hub" / "report.html").exists()

        status = run_hub("status", *cfg, cwd=folder)
        assert status.code == 0, status.output
        assert "stopped before it finished" in " ".join(status.output.split())

        config = load_config(folder / "hub.yml")
        with pytest.raises(IncompleteBuild, match="stopped before it finished"):
            apply_push(config, PushPlan({}, config.push.max_share, []))
        with pytest.raises(IncompleteBuild, match="stopped before it finished"):
            plan_push(config)  # the dry-run plan reads the same outbound models

        rebuilt = run_hub("transform", *cfg, "--as-of", NEW_AS_OF, cwd=folder)
        assert rebuilt.code == 0, rebuilt.output
        assert run_hub("report", *cfg, cwd=folder).code == 0
        status = run_hub("status", *cfg, cwd=folder)
        assert "stopped before" not in status.output and "marts: built" in status.output
        assert apply_push(config, PushPlan({}, config.push.max_share, [])).sources == {}
