"""Two ``hub push --apply`` at once (issue #18, item 1), with no lock between them: each
change is claimed in the journal by one run only, sent once and logged once; the hub's
own writes are never taken for a rep's edit.

Both runs plan before either writes, so they plan the same changes from the same journal
state: the case a warehouse lock would serialise, here left to the journal on its own.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

import pytest

from hub.locks import LockBusy, holding_warehouse
from hub.push import PushResult, apply_push, plan_push
from hub.push.apply import apply_unlocked
from tests.push.conftest import KINDS, Crm

PER_WRITE_REQUEST = {"hubspot": 100, "pipedrive": 1, "salesforce": 25}


def score_open_deals(crm: Crm, n: int) -> dict[str, str]:
    """Outbound scores for ``n`` open deals, each its own value: deal id -> score."""
    deals = crm.deals(n, "status = 'open'")
    wanted = {d[1]: f"0.{i % 80 + 11}" for i, d in enumerate(deals)}
    crm.outbound(crm.scores(deals, lambda i: wanted[deals[i][1]]))
    return wanted


def check_each_change_landed_and_was_logged_once(crm: Crm, wanted: dict[str, str]) -> None:
    log = crm.log()
    assert [r for r in log if r[5] != "written"] == []  # no conflict, nothing else
    assert Counter(r[1] for r in log) == dict.fromkeys(wanted, 1)
    assert {d: crm.value(d, "hub_score") for d in wanted} == {
        d: v.rstrip("0") for d, v in wanted.items()
    }
    # sent once: as many write requests as one run alone needs
    assert crm.write_requests() == math.ceil(len(wanted) / PER_WRITE_REQUEST[crm.kind])
    # and every intent has exactly one outcome
    unresolved = crm.sql(
        "SELECT count(*) FROM hub_meta.hub_push_journal j WHERE NOT EXISTS (SELECT 1 FROM "
        "hub_meta.hub_push_log l WHERE l.run_id = j.run_id AND l.deal_key = j.deal_key "
        "AND l.field = j.field)"
    )
    assert unresolved[0][0] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_two_applies_in_threads_at_once_send_and_log_each_change_once(
    kind: str, make_crm: Any
) -> None:
    crm: Crm = make_crm(kind, n_deals=200)
    wanted = score_open_deals(crm, 30)
    config = crm.config()
    plans = [plan_push(config), plan_push(config)]
    assert plans[0].sources[crm.name].counts["write"] == len(wanted)
    crm.reset_requests()
    start = threading.Barrier(2)
    results: list[PushResult] = []
    errors: list[BaseException] = []

    # The journal alone must hold: both run without the warehouse lock (hub/locks.py), which
    # would otherwise make the second wait or refuse (tests/reliability/test_concurrency.py).
    def apply(i: int) -> None:
        try:
            start.wait()
            results.append(apply_unlocked(config, plans[i]))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    counts = [r.sources[crm.name].counts for r in results]
    assert sum(c["written"] for c in counts) == len(wanted)
    assert sum(c["by_other_run"] for c in counts) == len(wanted)
    assert sum(c["conflict"] for c in counts) == 0
    check_each_change_landed_and_was_logged_once(crm, wanted)


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_apply_of_the_same_plan_leaves_the_first_runs_writes_alone(
    kind: str, make_crm: Any
) -> None:
    """Serialised (as under a lock), the second run's plan is stale: it still asks for the
    changes the first run made. They are neither conflicts nor written a second time."""
    crm: Crm = make_crm(kind, n_deals=200)
    wanted = score_open_deals(crm, 30)
    config = crm.config()
    first, second = plan_push(config), plan_push(config)
    crm.reset_requests()
    assert apply_push(config, first).sources[crm.name].counts["written"] == len(wanted)
    again = apply_push(config, second).sources[crm.name].counts
    assert again == {"by_other_run": len(wanted)}
    check_each_change_landed_and_was_logged_once(crm, wanted)


def test_apply_unlocked_goes_past_a_held_warehouse_lock_that_stops_apply_push(
    make_crm: Any,
) -> None:
    """The entry point the threads test relies on: ``apply_push`` refuses while another run
    holds the warehouse, ``apply_unlocked`` (the journal-level apply) does not ask."""
    crm: Crm = make_crm("pipedrive", n_deals=60)
    wanted = score_open_deals(crm, 5)
    config = crm.config()
    plan = plan_push(config)
    crm.reset_requests()
    held, done = threading.Event(), threading.Event()

    def hold_the_warehouse() -> None:
        with holding_warehouse(config, "transform"):
            held.set()
            done.wait(timeout=300)

    holder = threading.Thread(target=hold_the_warehouse)
    holder.start()
    try:
        assert held.wait(timeout=60)
        with pytest.raises(LockBusy, match="hub transform"):
            apply_push(config, plan)
        assert crm.write_requests() == 0
        assert apply_unlocked(config, plan).sources[crm.name].counts["written"] == len(wanted)
    finally:
        done.set()
        holder.join(timeout=60)
    check_each_change_landed_and_was_logged_once(crm, wanted)
