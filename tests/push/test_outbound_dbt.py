"""The outbound relations end to end: real dbt builds outbound.stage_updates (a stage rule
resolved to each pipeline's native stage id), the hub scores the open deals into
outbound.deal_scores, hub push writes them to the HubSpot sandbox (once the score guard is
switched off: no backtest exists), and the next pull sees the hub's own stage moves as
origin hub_push, not as a rep's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.push import apply_push, dbt_vars, plan_push
from hub.score.store import write_scores
from hub.transform import prepare_warehouse, run_dbt
from hub.warehouse import Warehouse
from tests.push.conftest import Crm

RULE = {
    "name": "called",
    "activity_type": "call",
    "from_stages": ["prospecting", "qualification"],
    "to_stage": "meeting",
}
MEETING = {"default": "presentationscheduled", "17893452": "4010003"}  # per pipeline


def transform(crm: Crm) -> None:
    config = crm.config()
    prepare_warehouse(config)
    as_of = datetime.now(UTC)
    result = run_dbt(
        config, ["build", "--exclude", "test_type:unit"], as_of=as_of, extra_vars=dbt_vars(config)
    )
    assert not result.failures, result.failures
    assert write_scores(config, Warehouse(config), as_of).scored > 0  # what hub transform adds


def test_outbound_models_are_built_pushed_and_recognised_on_the_next_pull(make_crm: Any) -> None:
    crm: Crm = make_crm("hubspot", n_deals=200)
    crm.push = {"stage_rules": True, "rules": [RULE]}
    transform(crm)
    moves = crm.sql(
        "SELECT deal_key, source_deal_id, pipeline_id, value, current_value, reason "
        "FROM outbound.stage_updates"
    )
    assert moves, "the rule should match some open deals with a completed call"
    assert all(m[3] == MEETING[m[2]] and m[4] != m[3] for m in moves)
    assert {m[5] for m in moves} == {"called: to meeting"}
    scores = crm.sql("SELECT field, count(*) FROM outbound.deal_scores GROUP BY field")
    assert dict(scores)["hub_score"] == dict(scores)["hub_score_reason"] > 0

    # The guard (push.require_better_score, on by default): no backtest yet, so the stage
    # moves go and the scores wait, and the plan says what to run.
    crm.push = {**crm.push, "require_better_score": True}
    guarded = plan_push(crm.config())
    assert {r.field for r in guarded.sources[crm.name].rows} == {"stage_id"}
    assert any("run 'hub score --backtest'" in note for note in guarded.notes)
    crm.push = {**crm.push, "require_better_score": False}

    plan = plan_push(crm.config())
    rows = plan.sources[crm.name].rows
    assert {r.field for r in rows} == {"stage_id", "hub_score", "hub_score_reason"}
    assert {(r.deal_id, r.new_value) for r in rows if r.field == "stage_id"} == {
        (m[1], m[3]) for m in moves
    }
    result = apply_push(crm.config(), plan, force=True)
    assert result.sources[crm.name].counts["written"] == len(rows)
    assert all(crm.value(m[1], "stage_id") == m[3] for m in moves)

    crm.pull()  # loop prevention: the hub's own moves come back as origin hub_push
    origins = dict(
        crm.sql(
            f"SELECT deal_key, origin FROM src_{crm.name}.stage_changes WHERE stage_id IN "
            f"('presentationscheduled', '4010003') AND deal_key IN ({', '.join(repr(m[0]) for m in moves)})"
        )
    )
    assert set(origins) == {m[0] for m in moves} and set(origins.values()) == {"hub_push"}
    again = plan_push(crm.config()).sources[crm.name]
    assert again.rows == [] and again.counts["unchanged"] == len(rows)
