"""Rich markup in data: ``[/]``, ``[red]`` and ``[bold]`` in CRM values, file headers and
messages reach the terminal as the text they are, through the real ``hub`` CLI (a
subprocess), in every command that prints data.

Before, rich read them as markup: ``[/]`` (a closing tag with nothing open) raised a
MarkupError traceback out of ``hub stages``, ``hub status --quarantine``, ``hub push`` and
``hub sync``, and a tag-like word was silently dropped (``sources[hs].credentials`` printed
as ``sources.credentials``; test_config_hygiene checks that message).
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
import requests
import yaml

from hub.generate import generate
from tests.harness import SandboxHub, write_hub_yml
from tests.reliability.harness import Ran, run_hub

pytestmark = pytest.mark.slow

STAGE = "[/]Won [red]big"  # a native stage label nobody mapped
PIPELINE = "[bold]Sales[/bold] [/]"
AMOUNT = "[/red]12"  # not a number: quarantined with its raw value
HEADER = "[/]notes"  # a column of a CSV file the hub cannot read
DEALS_FILE = "[red]deals.csv"  # named in the warning about its quarantined value


def _edit_csv(path: Path, change: dict[int, dict[str, str]]) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for index, values in change.items():
        rows[index].update(values)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _no_traceback(ran: Ran) -> None:
    assert "Traceback" not in ran.output and "MarkupError" not in ran.output, ran.output
    assert "unexpected error" not in ran.output, ran.output


@pytest.fixture(scope="module")
def bracketed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran]:
    """A CSV export whose data holds markup, plus a second CSV source that fails on a header
    with markup in it; synced once through ``hub sync``."""
    folder = tmp_path_factory.mktemp("bracketed")
    made = generate(folder, seed=5, deals=40)
    assert made.config_path is not None
    _edit_csv(
        folder / "deals.csv",
        {
            0: {"stage": STAGE, "pipeline": PIPELINE, "status": "open"},
            1: {"amount": AMOUNT},
            2: {"deal_name": "[/] [link=https://evil.example]x[/link]"},
        },
    )
    (folder / "deals.csv").rename(folder / DEALS_FILE)
    (folder / "broken.csv").write_text(f"deal_id,{HEADER}\nD1,x\n", encoding="utf-8")
    config = yaml.safe_load(made.config_path.read_text(encoding="utf-8"))
    config["sources"][0]["options"]["deals"]["path"] = DEALS_FILE
    config["sources"].append(
        {
            "name": "broken",
            "kind": "csv",
            "options": {
                "deals": {
                    "path": "broken.csv",
                    "columns": {"source_deal_id": "deal_id", "name": "deal_name"},
                }
            },
        }
    )
    write_hub_yml(folder, config)
    return folder, run_hub("sync", "--config", "hub.yml", cwd=folder)


def test_sync_prints_a_failing_sources_message_with_its_markup(
    bracketed: tuple[Path, Ran],
) -> None:
    _, ran = bracketed
    _no_traceback(ran)
    assert ran.code == 3, ran.output  # one source failed, the other synced and transformed
    assert f"the file has: deal_id, {HEADER}" in ran.output
    assert f"crm_export: {DEALS_FILE}: 1 value(s) quarantined" in ran.output
    assert "transform:" in ran.output


def test_stages_shows_native_labels_as_they_are(bracketed: tuple[Path, Ran]) -> None:
    folder, _ = bracketed
    ran = run_hub("stages", "--config", "hub.yml", cwd=folder)
    _no_traceback(ran)
    assert ran.code == 0
    assert STAGE in ran.stdout
    assert PIPELINE in ran.stdout


def test_status_shows_errors_and_quarantined_values_as_they_are(
    bracketed: tuple[Path, Ran],
) -> None:
    folder, _ = bracketed
    runs = run_hub("status", "--config", "hub.yml", cwd=folder)
    _no_traceback(runs)
    assert runs.code == 0
    assert f"{DEALS_FILE}: 1 value(s) quarantined" in runs.stdout  # the run's note
    quarantine = run_hub("status", "--config", "hub.yml", "--quarantine", "crm_export", cwd=folder)
    _no_traceback(quarantine)
    assert quarantine.code == 0
    assert AMOUNT in quarantine.stdout


# ----- push: values a rep typed into the CRM, values the hub writes ---------------------------

TYPED = "[/red] typed [bold]by a rep"
NEW = "[/] [red]hub reason[/red]"


def _rep_types(hub: SandboxHub, deal_id: str, reason: str) -> None:
    """A rep edits the deal in HubSpot (its public batch update, as the UI would)."""
    entry = hub.entry()
    response = requests.post(
        f"{entry['options']['base_url']}/crm/v3/objects/deals/batch/update",
        json={"inputs": [{"id": deal_id, "properties": {"hub_score_reason": reason}}]},
        headers={"Authorization": f"Bearer {entry['credentials']['token']}"},
        timeout=30,
    )
    response.raise_for_status()


def _outbound(hub: SandboxHub, deal_key: str, deal_id: str, value: str, current: str) -> None:
    """Stand in for dbt's outbound.deal_scores: one reason for the deal (``current``: the
    value the latest pull saw)."""
    with duckdb.connect(str(hub.db_path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS outbound")
        con.execute(
            "CREATE OR REPLACE TABLE outbound.deal_scores (source_name varchar, crm varchar, "
            "deal_key varchar, source_deal_id varchar, pipeline_id varchar, field varchar, "
            "value varchar, current_value varchar, crm_updated_at timestamp)"
        )
        con.execute(
            "INSERT INTO outbound.deal_scores VALUES (?, 'hubspot', ?, ?, NULL, "
            "'hub_score_reason', ?, ?, NULL)",
            [hub.name, deal_key, deal_id, value, current],
        )


def test_push_plan_and_apply_print_crm_values_as_they_are(sandboxes, tmp_path: Path) -> None:
    hub = SandboxHub(
        sandboxes("hubspot", n_deals=12),
        tmp_path,
        name="hs",
        top={"push": {"max_share": 1.0, "models": ["deal_scores"], "require_better_score": False}},
    )
    hub.config()  # writes hub.yml
    setup = run_hub("push", "--setup", "--config", "hub.yml", cwd=tmp_path)
    assert setup.code == 0, setup.output
    first = run_hub("pull", "--config", "hub.yml", cwd=tmp_path)
    assert first.code == 0, first.output
    deal = hub.rows("deals", ["deal_key", "source_deal_id"])[0]
    _rep_types(hub, deal["source_deal_id"], TYPED)
    second = run_hub("pull", "--config", "hub.yml", cwd=tmp_path)  # the hub sees the edit
    assert second.code == 0, second.output
    _outbound(hub, deal["deal_key"], deal["source_deal_id"], NEW, TYPED)

    plan = run_hub("push", "--config", "hub.yml", cwd=tmp_path)
    _no_traceback(plan)
    assert plan.code == 0, plan.output
    assert TYPED in plan.stdout and NEW in plan.stdout  # current value (live) and new value

    applied = run_hub("push", "--apply", "--config", "hub.yml", cwd=tmp_path)
    _no_traceback(applied)
    assert applied.code == 0, applied.output
    assert NEW in applied.stdout
    entry = hub.entry()
    read = requests.post(
        f"{entry['options']['base_url']}/crm/v3/objects/deals/batch/read",
        json={"inputs": [{"id": deal["source_deal_id"]}], "properties": ["hub_score_reason"]},
        headers={"Authorization": f"Bearer {entry['credentials']['token']}"},
        timeout=30,
    ).json()
    assert read["results"][0]["properties"]["hub_score_reason"] == NEW  # written as it is
