"""Never overwrite a rep's edit, raced for real (issue #18, item 4).

A rep's save goes to the sandbox over HTTP as its own request, at a point fixed by a hook
in the sandbox (not by timing): either just before the hub's last read of the deal, or
after every read the hub made and before its write lands (the write in flight). The first
must be prevented outright on every CRM. The second only a conditional write can prevent
(Salesforce: ``If-Unmodified-Since``); HubSpot and Pipedrive have none, so the hub must
see it afterwards in the deal's history, put the rep's value back and log a conflict,
never ``written``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from hub.push import apply_push, plan_push
from tests.push.conftest import KINDS, Crm


def _json(request: Any) -> Any:
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        return None


def the_hubs_write(kind: str, deal_id: str) -> Callable[[Any], bool]:
    """Matches the request that writes ``deal_id``."""

    def matches(request: Any) -> bool:
        if kind == "pipedrive":
            return request.method == "PATCH" and request.path == f"/api/v2/deals/{deal_id}"
        if kind == "hubspot":
            body = _json(request) or {}
            return request.path.endswith("/batch/update") and any(
                str(i.get("id")) == deal_id for i in body.get("inputs", [])
            )
        body = _json(request) or {}
        return request.path.endswith("/composite") and any(
            str(sub.get("url", "")).endswith(f"/{deal_id}")
            for sub in body.get("compositeRequest", [])
        )

    return matches


def the_hubs_last_read(kind: str, deal_id: str) -> Callable[[Any], bool]:
    """Matches the read the hub makes right before writing ``deal_id`` (the plan's read
    is over when the hook is set)."""

    def matches(request: Any) -> bool:
        if kind == "pipedrive":
            return request.method == "GET" and request.path == f"/api/v2/deals/{deal_id}"
        if kind == "hubspot":
            body = _json(request) or {}
            return request.path.endswith("/batch/read") and any(
                str(i.get("id")) == deal_id for i in body.get("inputs", [])
            )
        return request.path.rstrip("/").endswith("/query") and deal_id in (request.arg("q") or "")

    return matches


def scored_twice(crm: Crm) -> tuple[list[Any], Any]:
    """Six deals the hub scored 0.5; the plan to move them all to 0.61."""
    deals = crm.deals(6)
    crm.outbound(crm.scores(deals, "0.5"))
    assert apply_push(crm.config(), plan_push(crm.config())).counts["written"] == 6
    crm.outbound(crm.scores(deals, "0.61"))
    plan = plan_push(crm.config())
    assert plan.sources[crm.name].counts["write"] == 6
    return deals, plan


def this_runs_log(crm: Crm, run_id: str) -> dict[str, Any]:
    rows = [r for r in crm.log() if r[0] == run_id]
    assert len(rows) == len({r[1] for r in rows}) == 6  # one outcome per row
    return {r[1]: r for r in rows}


@pytest.mark.parametrize("kind", KINDS)
def test_a_reps_save_just_before_the_hubs_last_read_is_never_written_over(
    kind: str, make_crm: Any
) -> None:
    crm: Crm = make_crm(kind)
    deals, plan = scored_twice(crm)
    edited = deals[2][1]
    crm.reset_requests()
    saved = crm.before_request(
        the_hubs_last_read(kind, edited), lambda: crm.rep_saves_score_over_http(edited, 0.93)
    )
    result = apply_push(crm.config(), plan)
    assert saved.is_set()
    assert result.sources[crm.name].counts == {"written": 5, "conflict": 1}
    assert crm.value(edited, "hub_score") == "0.93"
    log = this_runs_log(crm, result.run_id)
    assert log[edited][5] == "conflict" and "put back" not in log[edited][6]  # never sent
    assert all(crm.value(d[1], "hub_score") == "0.61" for d in deals if d[1] != edited)
    if kind == "pipedrive":  # one PATCH per other deal, plus the rep's own
        assert crm.write_requests() == 5 + 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_reps_save_while_the_hubs_write_is_in_flight_is_kept_and_logged_a_conflict(
    kind: str, make_crm: Any
) -> None:
    crm: Crm = make_crm(kind)
    deals, plan = scored_twice(crm)
    edited = deals[2][1]
    saved = crm.before_request(
        the_hubs_write(kind, edited), lambda: crm.rep_saves_score_over_http(edited, 0.93)
    )
    result = apply_push(crm.config(), plan)
    assert saved.is_set()  # the save landed after every read of the hub, before its write
    assert result.sources[crm.name].counts == {"written": 5, "conflict": 1}
    assert crm.value(edited, "hub_score") == "0.93"  # the rep's value stands
    log = this_runs_log(crm, result.run_id)
    status, error = log[edited][5], log[edited][6]
    assert status == "conflict"
    if kind == "salesforce":  # the conditional write refused it: nothing to repair
        assert "not overwritten" in error
    else:  # no conditional write: seen in the history, the rep's value put back
        assert "in flight" in error and "0.93" in error and error.endswith("put back")
    assert all(crm.value(d[1], "hub_score") == "0.61" for d in deals if d[1] != edited)

    # the next push still sees the rep's value as the rep's: a conflict, not 'written'
    again = plan_push(crm.config()).sources[crm.name]
    assert [(r.deal_id, r.action) for r in again.rows] == [(edited, "conflict")]
