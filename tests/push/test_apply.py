"""Plan, apply, and the journal, against each of the three CRM sandboxes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hub.push import apply_push, plan_push
from tests.push.conftest import KINDS, Crm

BATCH = {"hubspot": 100, "salesforce": 25, "pipedrive": 1}  # deals per write request


@pytest.mark.parametrize("kind", KINDS)
def test_scores_land_in_the_largest_batches_and_a_second_push_writes_nothing(
    kind: str, make_crm: Any
) -> None:
    crm: Crm = make_crm(kind, n_deals=300)
    deals = crm.deals(230)
    crm.outbound(crm.scores(deals, lambda i: f"0.{i % 90 + 10}"))
    plan = plan_push(crm.config())
    counts = plan.sources[crm.name].counts
    n = counts["write"]
    # Pipedrive keeps archived deals out of /deals: the hub cannot write them, says so per row
    assert n >= 120 and counts["missing"] == len(deals) - n
    crm.reset_requests()
    result = apply_push(crm.config(), plan)
    assert result.sources[crm.name].counts == {
        "written": n,
        **({"failed": counts["missing"]} if counts["missing"] else {}),
    }
    assert crm.write_requests() == math.ceil(n / BATCH[kind])
    written = {r.deal_id for r in plan.sources[crm.name].rows if r.action == "write"}
    assert all(
        crm.value(d[1], "hub_score") == f"0.{i % 90 + 10}".rstrip("0")
        for i, d in enumerate(deals)
        if d[1] in written
    )
    assert [r[5] for r in crm.log()].count("written") == n and len(crm.log()) == len(deals)

    crm.reset_requests()
    again = plan_push(crm.config())
    assert again.sources[crm.name].counts["write"] == 0
    assert again.sources[crm.name].counts["unchanged"] == n
    assert apply_push(crm.config(), again).counts["written"] == 0
    assert crm.write_requests() == 0  # the journal answers; only the missing are re-read


@pytest.mark.parametrize("kind", KINDS)
def test_a_reps_edit_after_the_pull_is_a_conflict_in_the_plan_and_the_log(
    kind: str, make_crm: Any
) -> None:
    crm: Crm = make_crm(kind)
    deals = crm.deals(6)
    crm.outbound(crm.scores(deals, "0.5"))
    apply_push(crm.config(), plan_push(crm.config()))
    edited = deals[2][1]
    crm.rep_edit_score(edited, 0.93)  # the rep overrides the hub's score in the CRM
    crm.outbound(crm.scores(deals, "0.61"))  # the next score run moves every deal
    plan = plan_push(crm.config())
    by_deal = {r.deal_id: r for r in plan.sources[crm.name].rows}
    assert by_deal[edited].action == "conflict"
    assert by_deal[edited].current_value == "0.93" and by_deal[edited].base_value == "0.5"
    assert {r.action for d, r in by_deal.items() if d != edited} == {"write"}
    result = apply_push(crm.config(), plan)
    assert result.sources[crm.name].counts == {"written": 5, "conflict": 1}
    assert crm.value(edited, "hub_score") == "0.93"
    assert all(crm.value(d[1], "hub_score") == "0.61" for d in deals if d[1] != edited)
    logged = [r for r in crm.log() if r[1] == edited and r[5] == "conflict"]
    assert len(logged) == 1 and logged[0][3] == "0.93" and "0.5" in logged[0][6]


@pytest.mark.parametrize("kind", KINDS)
def test_a_deleted_deal_and_an_invalid_stage_fail_alone_and_their_batch_mates_land(
    kind: str, make_crm: Any
) -> None:
    crm: Crm = make_crm(kind)
    deals = crm.deals(8)
    rows = crm.scores(deals, "0.3")
    bad_stage = deals[3]
    rows.append(
        {
            "deal_key": bad_stage[0],
            "source_deal_id": bad_stage[1],
            "pipeline_id": bad_stage[2],
            "field": "stage_id",
            "value": "no_such_stage",
            "current_value": bad_stage[3],
            "crm_updated_at": bad_stage[4],
        }
    )
    crm.outbound(rows)
    plan = plan_push(crm.config())
    crm.delete(deals[5][1])  # deleted between the plan and the apply
    result = apply_push(crm.config(), plan)
    log = {(r[1], r[2]): r for r in crm.log()}
    assert log[(deals[5][1], "hub_score")][5] == "failed"
    assert log[(bad_stage[1], "stage_id")][5] == "failed"
    landed = [d for i, d in enumerate(deals) if i not in (3, 5)]
    assert all(log[(d[1], "hub_score")][5] == "written" for d in landed)
    assert all(crm.value(d[1], "hub_score") == "0.3" for d in landed)
    assert crm.value(bad_stage[1], "stage_id") == bad_stage[3]
    assert result.counts["failed"] >= 2


@pytest.mark.parametrize("kind", KINDS)
def test_locked_rows_and_429s_are_retried_and_land(
    kind: str, make_crm: Any, virtual_clock: Any
) -> None:
    crm: Crm = make_crm(kind)
    crm.push = {"max_attempts": 5}
    deals = crm.deals(30)
    crm.outbound(crm.scores(deals, "0.7"))
    plan = plan_push(crm.config())
    n = plan.sources[crm.name].counts["write"]
    crm.reset_requests()
    if kind == "salesforce":  # per-row UNABLE_TO_LOCK_ROW inside a 200 Collections answer
        crm.sandbox.lock_row_rate = 0.2
    else:
        crm.faults(rate_429=0.4, path_pattern=r"batch/update|/api/v2/deals/\d+", seed=3)
    result = apply_push(crm.config(), plan)
    counts = result.sources[crm.name].counts
    assert counts["written"] == n and counts["retryable"] == 0, (counts, crm.log()[-3:])
    assert counts["failed"] == plan.sources[crm.name].counts["missing"]  # archived, not retried
    assert all(
        crm.value(d[1], "hub_score") == "0.7"
        for d in deals
        if d[1] in {r.deal_id for r in plan.sources[crm.name].rows if r.action == "write"}
    )
    stats = crm.requests()
    if kind == "salesforce":
        assert 1 < crm.write_requests() <= 5  # only the locked rows went out again
    else:
        assert sum(v for k, v in stats.items() if k.endswith(" 429")) > 0
    assert virtual_clock.slept  # waited between attempts, honouring the CRM's headers


def test_a_429_storm_leaves_rows_retryable_and_the_next_push_lands_them(make_crm: Any) -> None:
    crm: Crm = make_crm("hubspot")
    deals = crm.deals(12)
    crm.outbound(crm.scores(deals, "0.8"))
    crm.faults(rate_429=1.0, path_pattern="batch/update")
    result = apply_push(crm.config(), plan_push(crm.config()))
    assert result.sources[crm.name].counts == {"retryable": 12}
    assert {r[5] for r in crm.log()} == {"retryable"}
    crm.faults()
    plan = plan_push(crm.config())
    assert plan.sources[crm.name].counts["write"] == 12  # retryable is not "last written"
    assert apply_push(crm.config(), plan).counts["written"] == 12
    assert all(crm.value(d[1], "hub_score") == "0.8" for d in deals)


def test_the_safety_cap_refuses_before_writing_and_force_overrides_it(make_crm: Any) -> None:
    from hub.push import PushAborted

    crm: Crm = make_crm("hubspot")
    crm.push = {"max_share": 0.05}
    deals = crm.deals(20)
    crm.outbound(crm.scores(deals, "0.2"))
    plan = plan_push(crm.config())
    with pytest.raises(PushAborted, match="push.max_share"):
        apply_push(crm.config(), plan)
    assert crm.write_requests() == 0 and crm.log() == []
    assert apply_push(crm.config(), plan, force=True).counts["written"] == 20


def test_the_cli_plans_by_default_and_no_token_reaches_output_or_log(
    make_crm: Any, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from hub.cli import app

    crm: Crm = make_crm("hubspot")
    deals = crm.deals(5)
    crm.outbound(crm.scores(deals, "0.25"))
    path = crm.config().config_path
    token = crm.entry()["credentials"]["token"]
    planned = CliRunner().invoke(app, ["push", "--config", str(path)])
    assert planned.exit_code == 0, planned.output
    assert "5 to write" in planned.output and deals[0][1] in planned.output
    assert crm.write_requests() == 0
    applied = CliRunner().invoke(app, ["push", "--apply", "--config", str(path)])
    assert applied.exit_code == 0, applied.output
    crm.faults(rate_5xx=1.0)  # errors carry the request; the token must not be in them
    crm.outbound(crm.scores(deals, "0.35"))
    failing = CliRunner().invoke(app, ["push", "--apply", "--config", str(path)])
    logged = " ".join(str(v) for row in crm.log() for v in row)
    for text in (planned.output, applied.output, failing.output, logged):
        assert token not in text
