"""Malformed API payloads: one bad record in a CRM sandbox must never cost the good ones.

Together with the 21 CSV cases of tests/test_csv_bad_inputs.py this is the bad-input
corpus (65 cases). Each case below edits one deal (or, with ``target="activity"``, one
activity) of a freshly seeded sandbox (in this process) so the API serves a malformed
value, then pulls through ``hub.pull.run_pull``:

* ``quarantine``: the run is ok, every deal and activity is loaded (a bad optional value
  drops only that value, a garbage last-modified stamp must not break the cursor either)
  and ``quarantine`` holds a row for that record with a reason;
* ``loads``: the run is ok and every deal and activity is loaded (unknown stages, pipelines
  and owners, unicode, HTML, nulls and every timestamp format the vendor uses are data,
  not errors).

No case may print a traceback or fail the source. Cases that today fail the whole source
are marked ``xfail(strict=True)`` with the exact current failure, so fixing the connector
turns them into failures that ask for the mark to go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hub.pull import run_pull
from models.config import parse_config
from tests.harness import VirtualClock, sandbox_entry, start_sandbox, stop_quietly

N_DEALS = 12


@dataclass(frozen=True)
class Case:
    kind: str
    edit: dict[str, Any]
    expect: str = "loads"  # or "quarantine"
    bug: str | None = None  # current failure, for xfail
    check: dict[str, Any] = field(default_factory=dict)  # column -> value after the load
    target: str = "deal"  # or "activity": which sandbox record the edit applies to


NULLS_HS = dict.fromkeys(
    (
        "dealname",
        "amount",
        "dealstage",
        "pipeline",
        "hubspot_owner_id",
        "createdate",
        "closedate",
        "deal_currency_code",
    )
)
NULLS_SF = dict.fromkeys(
    ("Name", "Amount", "StageName", "OwnerId", "CloseDate", "Probability", "AccountId")
)
NULLS_PD = dict.fromkeys(
    (
        "title",
        "value",
        "stage_id",
        "owner_id",
        "currency",
        "expected_close_date",
        "org_id",
        "probability",
    )
)
NAME = "🚀 Ünïcødé <b>Big</b> deal & <script>x</script>"
JAN5 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

CASES: dict[str, Case] = {
    # ----- HubSpot: every property is a string ------------------------------------------------
    "hubspot-amount-not-a-number": Case("hubspot", {"amount": "lots"}, "quarantine"),
    "hubspot-negative-amount": Case("hubspot", {"amount": "-500"}),
    "hubspot-huge-amount": Case("hubspot", {"amount": "1e30"}, "quarantine"),
    "hubspot-probability-out-of-range": Case(
        "hubspot", {"hs_forecast_probability": "7"}, "quarantine"
    ),
    "hubspot-unknown-stage": Case(
        "hubspot", {"dealstage": "teleported"}, check={"stage_id": "teleported"}
    ),
    "hubspot-unknown-pipeline": Case(
        "hubspot", {"pipeline": "ghost"}, check={"pipeline_id": "ghost"}
    ),
    "hubspot-unknown-owner": Case(
        "hubspot", {"hubspot_owner_id": "999999"}, check={"owner_id": "999999"}
    ),
    "hubspot-unicode-emoji-html-name": Case("hubspot", {"dealname": NAME}, check={"name": NAME}),
    "hubspot-timestamp-epoch-ms": Case("hubspot", {"createdate": "1767607200000"}),
    "hubspot-timestamp-iso-z": Case("hubspot", {"createdate": "2026-01-05T10:00:00Z"}),
    "hubspot-timestamp-iso-millis-offset": Case(
        "hubspot", {"createdate": "2026-01-05T10:00:00.123+02:00"}
    ),
    "hubspot-timestamp-garbage": Case("hubspot", {"createdate": "yesterday"}, "quarantine"),
    "hubspot-date-garbage": Case("hubspot", {"closedate": "31/31/2026"}, "quarantine"),
    "hubspot-null-everywhere": Case("hubspot", NULLS_HS),
    "hubspot-activity-timestamp-garbage": Case(
        "hubspot", {"hs_timestamp": "yesterday"}, "quarantine", target="activity"
    ),
    "hubspot-activity-lastmod-garbage": Case(
        "hubspot", {"hs_lastmodifieddate": "yesterday"}, "quarantine", target="activity"
    ),
    "hubspot-activity-timestamp-epoch-ms": Case(
        "hubspot",
        {"hs_timestamp": "1767607200000"},
        check={"occurred_at": JAN5},
        target="activity",
    ),
    # ----- Salesforce: typed JSON ---------------------------------------------------------------
    "salesforce-amount-not-a-number": Case("salesforce", {"Amount": "lots"}, "quarantine"),
    "salesforce-negative-amount": Case("salesforce", {"Amount": -500.0}),
    "salesforce-huge-amount": Case("salesforce", {"Amount": 1e30}, "quarantine"),
    "salesforce-probability-out-of-range": Case("salesforce", {"Probability": 700.0}, "quarantine"),
    "salesforce-unknown-stage": Case(
        "salesforce", {"StageName": "Teleported"}, check={"stage_id": "Teleported"}
    ),
    "salesforce-unknown-owner": Case("salesforce", {"OwnerId": "005000000000BAD"}),
    "salesforce-unicode-emoji-html-name": Case("salesforce", {"Name": NAME}, check={"name": NAME}),
    "salesforce-timestamp-garbage": Case("salesforce", {"CreatedDate": "yesterday"}, "quarantine"),
    "salesforce-date-garbage": Case("salesforce", {"CloseDate": "31/31/2026"}, "quarantine"),
    "salesforce-null-everywhere": Case("salesforce", NULLS_SF),
    "salesforce-activity-timestamp-garbage": Case(
        "salesforce",
        {"CompletedDateTime": "yesterday", "ActivityDate": "yesterday"},
        "quarantine",
        target="activity",
    ),
    "salesforce-activity-modstamp-garbage": Case(
        "salesforce", {"SystemModstamp": "yesterday"}, "quarantine", target="activity"
    ),
    "salesforce-activity-timestamp-offset": Case(
        "salesforce",
        {"CompletedDateTime": "2026-01-05T12:00:00.000+0200"},
        check={"occurred_at": JAN5},
        target="activity",
    ),
    # ----- Pipedrive -------------------------------------------------------------------------------
    "pipedrive-amount-not-a-number": Case("pipedrive", {"value": "lots"}, "quarantine"),
    "pipedrive-negative-amount": Case("pipedrive", {"value": -500}),
    "pipedrive-huge-amount": Case("pipedrive", {"value": 1e30}, "quarantine"),
    "pipedrive-probability-out-of-range": Case("pipedrive", {"probability": 700}, "quarantine"),
    "pipedrive-unknown-stage": Case("pipedrive", {"stage_id": 999}, check={"stage_id": "999"}),
    "pipedrive-unknown-pipeline": Case(
        "pipedrive", {"pipeline_id": 999}, check={"pipeline_id": "999"}
    ),
    "pipedrive-unknown-owner": Case(
        "pipedrive", {"owner_id": 999999}, check={"owner_id": "999999"}
    ),
    "pipedrive-unicode-emoji-html-name": Case("pipedrive", {"title": NAME}, check={"name": NAME}),
    "pipedrive-timestamp-garbage": Case("pipedrive", {"add_time": "yesterday"}, "quarantine"),
    "pipedrive-date-garbage": Case(
        "pipedrive", {"expected_close_date": "31/31/2026"}, "quarantine"
    ),
    "pipedrive-null-everywhere": Case("pipedrive", NULLS_PD),
    "pipedrive-activity-due-date-garbage": Case(
        "pipedrive", {"due_date": "yesterday"}, "quarantine", target="activity"
    ),
    "pipedrive-activity-update-time-garbage": Case(
        "pipedrive", {"update_time": "yesterday"}, "quarantine", target="activity"
    ),
    "pipedrive-activity-update-time-v1": Case(
        "pipedrive",
        {"update_time": "2026-01-05 10:00:00"},
        check={"updated_at": JAN5},
        target="activity",
    ),
}


def _params() -> list[Any]:
    out = []
    for name, case in CASES.items():
        marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
        out.append(pytest.param(name, id=name, marks=marks))
    return out


def _first_deal(kind: str, server: Any) -> tuple[str, dict[str, Any]]:
    """(native id, the mutable record) of the sandbox's first deal."""
    if kind == "hubspot":
        deal = min(server.objects["deals"].values(), key=lambda o: int(o.id))
        return deal.id, deal.props
    if kind == "salesforce":
        deal_id = min(server.org.tables["Opportunity"])
        return deal_id, server.org.tables["Opportunity"][deal_id]
    deal_id = min(server.store.deals)
    return str(deal_id), server.store.deals[deal_id]


def _first_activity(kind: str, server: Any) -> tuple[str, dict[str, Any]]:
    """(native id, the mutable record) of the sandbox's first activity (a Task in Salesforce,
    whose completion and due dates make its ``occurred_at``)."""
    if kind == "hubspot":
        first = min(
            (o for t, objs in server.objects.items() if t != "deals" for o in objs.values()),
            key=lambda o: int(o.id),
        )
        return first.id, first.props
    if kind == "salesforce":
        task_id = min(server.org.tables["Task"])
        return task_id, server.org.tables["Task"][task_id]
    activity_id = min(server.store.activities)
    return str(activity_id), server.store.activities[activity_id]


@pytest.mark.parametrize("name", _params())
def test_a_malformed_api_record_is_quarantined_or_loaded_never_fatal(
    name: str, tmp_path: Path, virtual_clock: VirtualClock
) -> None:
    case = CASES[name]
    server = start_sandbox(case.kind, n_deals=N_DEALS, seed=3, source_index=0, n_sources=1)
    try:
        n_activities = len(server.expected_canonical("bad")["activities"])
        deal_id, record = _first_deal(case.kind, server)
        if case.target == "activity":
            record_id, record = _first_activity(case.kind, server)
        else:
            record_id = deal_id
        with server.lock:
            record.update(case.edit)
        config = parse_config({"sources": [sandbox_entry(server, "bad")]}, tmp_path / "hub.yml")
        (run,) = run_pull(config)
    finally:
        stop_quietly([server])
    assert "Traceback" not in (run.error or "")
    assert run.status == "ok", run.error
    with duckdb.connect(str(tmp_path / ".hub" / "hub.duckdb"), read_only=True) as con:
        loaded = {r[0] for r in con.execute("SELECT source_deal_id FROM src_bad.deals").fetchall()}
        assert len(loaded) == N_DEALS and deal_id in loaded, f"{N_DEALS - len(loaded)} deals lost"
        acts = con.execute("SELECT source_activity_id FROM src_bad.activities").fetchall()
        assert len(acts) == n_activities, f"{n_activities - len(acts)} activities lost"
        table = "activities" if case.target == "activity" else "deals"
        key = "source_activity_id" if case.target == "activity" else "source_deal_id"
        for column, value in case.check.items():
            got = con.execute(
                f"SELECT {column} FROM src_bad.{table} WHERE {key} = ?", [record_id]
            ).fetchone()[0]
            assert got == value, (column, got)
        has_q = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'src_bad' "
            "AND table_name = 'quarantine'"
        ).fetchone()[0]
        quarantined = (
            con.execute("SELECT record_id, reason FROM src_bad.quarantine").fetchall()
            if has_q
            else []
        )
    if case.expect == "quarantine":
        reasons = [reason for rid, reason in quarantined if rid == record_id]
        assert reasons and all(reasons), (
            f"no quarantine row with a reason for {record_id}: {quarantined}"
        )
