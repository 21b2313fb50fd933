"""The reverse-sync writer: batches of 100, a result per row, no overwriting a rep's edit,
one bad row never failing the rest, the hub's properties created in their own group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.base import DealUpdate
from connectors.hubspot import CONNECTOR
from connectors.hubspot.sandbox import RENEWALS, FakeHubspot
from connectors.hubspot.writer import HubspotWriter
from tests.harness import SandboxHub, sandbox_requests


def writer_for(sandbox: FakeHubspot, tmp_path: Path) -> HubspotWriter:
    config = SandboxHub(sandbox, tmp_path).config()
    writer = CONNECTOR.build_writer(CONNECTOR.context(config, config.sources[0]))  # type: ignore[misc]
    assert isinstance(writer, HubspotWriter)
    return writer


def live_deals(sandbox: FakeHubspot, pipeline: str = "default") -> list[Any]:
    return sorted(
        (
            d
            for d in sandbox.objects["deals"].values()
            if not d.archived and d.props["pipeline"] == pipeline
        ),
        key=lambda d: int(d.id),
    )


def test_setup_fields_creates_the_group_and_properties_once(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=5)
    writer = writer_for(sandbox, tmp_path)
    assert writer.setup_fields() == [
        "created property group crm_sync_hub",
        "created deal property hub_score",
        "created deal property hub_score_reason",
    ]
    assert {p["groupName"] for p in sandbox.properties if p["name"].startswith("hub_")} == {
        "crm_sync_hub"
    }
    assert writer.setup_fields() == [
        "deal property hub_score already exists",
        "deal property hub_score_reason already exists",
    ]


def test_writes_go_100_a_call_with_one_result_per_row(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(n_deals=300)
    writer = writer_for(sandbox, tmp_path)
    writer.setup_fields()
    deals = live_deals(sandbox)[:229]
    assert len(deals) == 229
    updates = [
        DealUpdate(d.id, {"hub_score": round(0.01 * (i % 100), 2)}) for i, d in enumerate(deals)
    ]
    updates.append(DealUpdate("99999999999", {"hub_score": 0.5}))
    results = writer.write(updates)
    assert [r.deal_id for r in results] == [u.deal_id for u in updates]
    assert [r.status for r in results[:-1]] == ["written"] * 229
    assert results[-1].status == "failed"
    assert all(r.modified_at is not None for r in results[:-1])
    counts = sandbox_requests(sandbox)
    assert counts["POST /crm/v3/objects/deals/batch/update 200"] == 3
    assert sandbox.objects["deals"][deals[5].id].props["hub_score"] == "0.05"
    assert writer.max_batch == 100


def test_a_value_the_crm_changed_since_the_hub_read_it_is_not_overwritten(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=40)
    writer = writer_for(sandbox, tmp_path)
    a, b, c = live_deals(sandbox)[:3]
    results = writer.write(
        [
            DealUpdate(a.id, {"amount": "123.45"}, base={"amount": "1"}),  # a rep changed it
            DealUpdate(b.id, {"amount": b.props["amount"]}, base={"amount": b.props["amount"]}),
            DealUpdate(c.id, {"amount": "999"}, base={"amount": c.props["amount"]}),
        ]
    )
    assert [r.status for r in results] == ["conflict", "skipped", "written"]
    assert a.props["amount"] != "123.45" and c.props["amount"] == "999"


def test_one_invalid_stage_does_not_fail_the_rest_of_the_batch(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=60)
    writer = writer_for(sandbox, tmp_path)
    deals = [d for d in live_deals(sandbox) if d.props["dealstage"] != "contractsent"][:10]
    updates = [DealUpdate(d.id, {"stage_id": "contractsent"}, pipeline_id="default") for d in deals]
    updates[4] = DealUpdate(deals[4].id, {"stage_id": "no_such_stage"}, pipeline_id="default")
    results = writer.write(updates)
    assert [r.status for r in results].count("written") == 9
    assert results[4].status == "failed" and "INVALID_OPTION" in (results[4].error or "")
    assert all(d.props["dealstage"] == "contractsent" for i, d in enumerate(deals) if i != 4)


def test_stage_writes_use_the_internal_stage_id_with_its_pipeline(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(n_deals=80)
    writer = writer_for(sandbox, tmp_path)
    deal = next(d for d in live_deals(sandbox, RENEWALS) if d.props["dealstage"] != "4010003")
    [result] = writer.write([DealUpdate(deal.id, {"stage_id": "4010003"}, pipeline_id=RENEWALS)])
    assert result.status == "written"
    assert deal.props["dealstage"] == "4010003"
    last = deal.history[-1]
    assert (last["sourceType"], last["sourceId"]) == ("INTEGRATION", FakeHubspot.APP_ID)


def test_a_207_is_parsed_per_input(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox(n_deals=20)
    writer = writer_for(sandbox, tmp_path)
    a, b = live_deals(sandbox)[:2]
    b.archived = True  # deleted between the pre-read and the write
    out = writer._send(
        [
            (0, DealUpdate(a.id, {"amount": "10"}), {"amount": "10"}),
            (1, DealUpdate(b.id, {"amount": "20"}), {"amount": "20"}),
        ]
    )
    assert out[0].status == "written"
    assert out[1].status == "failed" and "OBJECT_NOT_FOUND" in (out[1].error or "")
    assert sandbox_requests(sandbox)["POST /crm/v3/objects/deals/batch/update 207"] == 1
