"""A third-party kind gets the push engine's safety from what its writer declares
(``live_read``, ``rechecks_before_write``, ``guard_fields``), with no vendor code in the
engine. The kind is installed the way a plug-in package is: a ``hub.connectors`` entry
point in a distribution on ``sys.path``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.registry import available_kinds
from hub.push import PushPlan, apply_push, plan_push
from tests.push import memcrm
from tests.push.conftest import Crm

DEALS = [(f"mem:d{i}", f"d{i}", None) for i in range(1, 6)]


@dataclass
class PluginCrm(Crm):
    """The shared push fixture's helpers (config, outbound rows, log) for the plug-in kind,
    which has no sandbox: its hub.yml entry is written here."""

    @property
    def kind(self) -> str:
        return memcrm.KIND

    def entry(self, **options: Any) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "options": {**self.options, **options}}


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[memcrm.MemoryCrm]:
    dist = tmp_path / "site" / "memcrm_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memcrm-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[hub.connectors]\n{memcrm.KIND} = tests.push.memcrm:CONNECTOR\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    available_kinds.cache_clear()
    crm = memcrm.MemoryCrm({d[1]: {"hub_score": "0.1", "stage_id": "open"} for d in DEALS})
    memcrm.CRMS["mem"] = crm
    yield crm
    del memcrm.CRMS["mem"]
    available_kinds.cache_clear()


def source_notes(plan: PushPlan) -> list[str]:
    return [n for n in plan.notes if n.startswith("mem:")]


def outbound_rows(hub: PluginCrm) -> None:
    """Scores for d1-d4, a stage move for d5; the last pull saw score 0.1, stage open."""
    rows = [{**r, "current_value": "0.1"} for r in hub.scores(DEALS[:4], "0.5")]
    rows.append(
        {
            "deal_key": "mem:d5",
            "source_deal_id": "d5",
            "field": "stage_id",
            "value": "won",
            "current_value": "open",
        }
    )
    hub.outbound(rows)


def test_a_writer_declaring_live_read_gets_conflicts_found_in_the_plan_and_before_each_batch(
    plugin: memcrm.MemoryCrm, tmp_path: Path
) -> None:
    hub = PluginCrm(None, tmp_path, name="mem")
    outbound_rows(hub)
    plugin.rep_edit("d2", "hub_score", "0.9")  # after the last pull, before the plan
    plan = plan_push(hub.config())
    source = plan.sources["mem"]
    assert source.live_checked and source_notes(plan) == []
    assert {r.deal_id: r.action for r in source.rows} == {
        "d1": "write",
        "d2": "conflict",
        "d3": "write",
        "d4": "write",
        "d5": "write",
    }
    assert plugin.calls == ["read"]

    plugin.rep_edit("d3", "hub_score", "0.8")  # between the plan and the apply
    result = apply_push(hub.config(), plan)
    assert result.sources["mem"].counts == {"written": 3, "conflict": 2}
    # the writer does not re-check on its own, so the engine re-reads before each batch of 2
    assert plugin.calls == ["read", "read", "write", "read", "write"]
    assert {d: v["hub_score"] for d, v in plugin.deals.items()} == {
        "d1": 0.5,
        "d2": "0.9",
        "d3": "0.8",
        "d4": 0.5,
        "d5": "0.1",
    }
    assert plugin.deals["d5"]["stage_id"] == "won"
    # guard_fields = {stage_id}: only the stage move carries the re-read's modification time
    guards = {u.deal_id: u.base_modified_at for u in plugin.updates}
    assert guards == {"d1": None, "d4": None, "d5": memcrm.T0}
    conflict = [r for r in hub.log() if r[1] == "d3"]
    assert [r[5] for r in conflict] == ["conflict"] and "now '0.8'" in conflict[0][6]


def test_a_writer_declaring_no_live_read_is_pushed_unchecked_and_the_plan_says_so(
    plugin: memcrm.MemoryCrm, tmp_path: Path
) -> None:
    hub = PluginCrm(None, tmp_path, name="mem")
    outbound_rows(hub)
    plugin.rep_edit("d2", "hub_score", "0.9")
    hub.options = {"live_read": False}
    plan = plan_push(hub.config())
    source = plan.sources["mem"]
    assert not source.live_checked
    assert {r.action for r in source.rows} == {"write"} and len(source.rows) == 5
    assert source_notes(plan) == [
        "mem: the 'memcrm' writer cannot read the CRM live; 5 row(s) not checked for a "
        "rep's newer edit"
    ]
    result = apply_push(hub.config(), plan)
    assert result.sources["mem"].counts == {"written": 5}
    assert plugin.calls == ["write", "write", "write"]  # never read: nothing was declared
    assert plugin.deals["d2"]["hub_score"] == 0.5  # the engine could not know of the edit


def test_a_value_already_there_at_the_engines_re_read_is_written_not_a_conflict(
    plugin: memcrm.MemoryCrm, tmp_path: Path
) -> None:
    """Between the plan and the apply the CRM comes to hold the hub's own value (another
    push, or a rep typing it): nothing of anyone's is lost, so it is not a conflict."""
    hub = PluginCrm(None, tmp_path, name="mem")
    outbound_rows(hub)
    plan = plan_push(hub.config())
    plugin.rep_edit("d3", "hub_score", "0.5")  # the value the hub is about to write
    result = apply_push(hub.config(), plan)
    assert result.sources["mem"].counts == {"written": 5}
    assert [u.deal_id for u in plugin.updates] == ["d1", "d2", "d4", "d5"]  # d3 not sent
    logged = {r[1]: (r[5], r[6]) for r in hub.log()}
    assert logged["d3"] == ("written", "already in memcrm")
