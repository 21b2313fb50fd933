"""A `hub push --apply` killed with SIGKILL mid-write, then rerun: every intended change
lands exactly once and hub_push_log accounts for every row and every intent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hub.push import apply_push, plan_push
from tests.push.conftest import Crm

ROOT = Path(__file__).resolve().parents[2]


def test_kill_9_mid_apply_then_rerun_lands_every_change_exactly_once(make_crm: Any) -> None:
    crm: Crm = make_crm("pipedrive", n_deals=300)  # one PATCH per deal: the widest window
    deals = crm.deals(220)
    crm.outbound(crm.scores(deals, lambda i: f"0.{i % 80 + 11}"))
    plan = plan_push(crm.config())
    wanted = {r.deal_id: r.new_value for r in plan.sources[crm.name].rows if r.action == "write"}
    assert len(wanted) > 150
    config_path = crm.config().config_path
    sandbox = crm.sandbox
    sandbox.patch_bodies.clear()

    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "push", "--apply", "--config", str(config_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
    while len(sandbox.patch_bodies) < 40 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    sent_before_kill = len(sandbox.patch_bodies)
    assert 40 <= sent_before_kill < len(wanted), "the kill must land mid-apply"
    intents = crm.sql("SELECT count(*) FROM hub_meta.hub_push_journal")[0][0]
    assert intents >= sent_before_kill  # intents were journalled before the calls
    assert crm.sql("SELECT count(*) FROM hub_meta.hub_push_log WHERE status = 'written'")[0][0] == 0

    rerun = plan_push(crm.config())
    counts = rerun.sources[crm.name].counts
    assert counts["confirm"] >= sent_before_kill - 1  # what landed is read back, not resent
    result = apply_push(crm.config(), rerun)
    assert result.sources[crm.name].counts["written"] == len(wanted) - counts["confirm"]

    # exactly once: one PATCH per intended deal across both runs, and every value is there
    assert len(sandbox.patch_bodies) == len(wanted)
    assert {d: crm.value(d, "hub_score") for d in wanted} == {
        d: v.rstrip("0") if v else v for d, v in wanted.items()
    }
    # the log: one 'written' per intended change; every intent has exactly one outcome
    written = Counter(
        r[0] for r in crm.sql("SELECT deal_id FROM hub_meta.hub_push_log WHERE status = 'written'")
    )
    assert set(written) == set(wanted) and set(written.values()) == {1}
    outcomes = crm.sql("""
        SELECT j.run_id, j.deal_id, count(l.status) AS n
        FROM hub_meta.hub_push_journal j
        LEFT JOIN hub_meta.hub_push_log l
          ON l.run_id = j.run_id AND l.deal_key = j.deal_key AND l.field = j.field
        GROUP BY j.run_id, j.deal_id""")
    assert outcomes and {r[2] for r in outcomes} == {1}
    statuses = Counter(r[0] for r in crm.sql("SELECT status FROM hub_meta.hub_push_log"))
    assert statuses["interrupted"] == len({r[1] for r in outcomes if r[0] != result.run_id}) - (
        statuses["written"] - result.sources[crm.name].counts["written"]
    )
    # and a third push has nothing left to do
    assert plan_push(crm.config()).sources[crm.name].counts["write"] == 0
