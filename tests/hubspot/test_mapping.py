"""Payload -> canonical rows, without HTTP: the quirks HubSpot's values come with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.hubspot.fields import FieldSet, select_fields
from connectors.hubspot.mapping import (
    Catalog,
    activity_row,
    deal_row,
    parse_ts,
    pick_deal,
    stage_change_rows,
)

PIPELINES = [
    {
        "id": "default",
        "label": "Sales",
        "displayOrder": 0,
        "stages": [
            {
                "id": "qualifiedtobuy",
                "label": "Qualified",
                "displayOrder": 1,
                "metadata": {"isClosed": "false", "probability": "0.4"},
            },
            {
                "id": "closedwon",
                "label": "Won",
                "displayOrder": 5,
                "metadata": {"isClosed": "true", "probability": "1.0"},
            },
            {
                "id": "closedlost",
                "label": "Lost",
                "displayOrder": 6,
                "metadata": {"isClosed": "true", "probability": "0.0"},
            },
        ],
    }
]
PROPERTIES = [
    {
        "name": "dealtype",
        "type": "enumeration",
        "options": [{"value": "newbusiness", "label": "New Business"}],
    }
]
CATALOG = Catalog.build(PIPELINES)
DEALTYPE = select_fields("deals", ["dealtype"], PROPERTIES)
NO_FIELDS = FieldSet("deals")


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T10:00:00Z",
        "2026-03-01T10:00:00.000Z",
        "2026-03-01T10:00:00.0Z",
        "2026-03-01T10:00:00.000000Z",
        "2026-03-01T10:00:00+00:00",
        "1772359200000",
    ],
)
def test_timestamps_of_any_precision_or_epoch_ms_parse_to_utc(text: str) -> None:
    assert parse_ts(text) == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_won_is_a_closed_stage_at_probability_one_and_enumerations_read_as_labels() -> None:
    raw = {
        "id": "7",
        "properties": {
            "dealstage": "closedwon",
            "amount": "1500.50",
            "dealtype": "newbusiness",
            "closedate": "2026-03-01T10:00:00Z",
            "hs_v2_date_entered_closedwon": "2026-03-01T10:00:00Z",
        },
    }
    row, bad = deal_row("hs", raw, CATALOG, DEALTYPE, archived=False)
    assert row is not None and not bad
    assert (row["status"], str(row["amount"]), row["probability"]) == ("won", "1500.50", 1.0)
    assert row["custom_fields"] == {"dealtype": "New Business"}
    assert row["closed_at"] == row["stage_changed_at"] == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert row["pipeline_id"] == "default" and row["deal_key"] == "hs:7"


def test_a_bad_amount_is_quarantined_and_the_deal_still_arrives() -> None:
    raw = {"id": "8", "properties": {"dealstage": "qualifiedtobuy", "amount": "12,5 k"}}
    row, bad = deal_row("hs", raw, CATALOG, NO_FIELDS, archived=True)
    assert row is not None and row["amount"] is None and row["is_deleted"] is True
    assert [(b["column_name"], b["value"]) for b in bad] == [("amount", "12,5 k")]


def test_history_marks_the_hubs_own_writes_and_fills_a_gap_from_date_entered() -> None:
    raw = {
        "id": "9",
        "properties": {
            "dealstage": "closedlost",
            "hs_v2_date_entered_closedlost": "2026-03-05T00:00:00Z",
        },
    }
    history = [
        {
            "value": "closedwon",
            "timestamp": "2026-03-02T00:00:00Z",
            "sourceType": "INTEGRATION",
            "sourceId": "42",
        },
        {
            "value": "qualifiedtobuy",
            "timestamp": "2026-03-01T00:00:00Z",
            "sourceType": "CRM_UI",
            "sourceId": "userId:5",
            "updatedByUserId": 5,
        },
    ]
    rows, warnings = stage_change_rows("hs", raw, history, CATALOG, app_id="42")
    assert [(r["stage_id"], r["from_stage_id"], r["origin"]) for r in rows] == [
        ("qualifiedtobuy", None, "crm_history"),
        ("closedwon", "qualifiedtobuy", "hub_push"),
        ("closedlost", "closedwon", "derived"),
    ]
    assert rows[0]["changed_by"] == "user:5" and len(warnings) == 1


def test_activities_map_hubspot_codes_to_canonical_words() -> None:
    call = {
        "id": "5",
        "properties": {
            "hs_call_title": "Intro",
            "hs_call_duration": "95000",
            "hs_call_direction": "INBOUND",
            "hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
            "hs_timestamp": "2026-03-01T10:00:00Z",
        },
    }
    row, bad = activity_row("hs", "calls", call, "77")
    assert row is not None and bad == []
    assert (row["type"], row["duration_s"], row["direction"], row["outcome"]) == (
        "call",
        95,
        "inbound",
        "connected",
    )
    assert row["deal_key"] == "hs:77" and row["activity_key"] == "hs:call:5"
    task, _ = activity_row(
        "hs", "tasks", {"id": "6", "properties": {"hs_task_status": "NOT_STARTED"}}, None
    )
    assert task is not None
    assert task["completed"] is False and task["deal_key"] is None
    assert pick_deal(["900", "1000", "899"]) == "899"


def test_an_activity_with_bad_values_loads_without_them_and_quarantines_them() -> None:
    meeting = {
        "id": "7",
        "properties": {
            "hs_meeting_start_time": "soon",
            "hs_meeting_end_time": "2026-03-01T11:00:00Z",
            "hs_timestamp": "yesterday",
            "hs_lastmodifieddate": "31/31/2026",
        },
        "updatedAt": "2026-03-02T00:00:00Z",
    }
    row, bad = activity_row("hs", "meetings", meeting, None)
    assert row is not None and row["occurred_at"] is None and row["duration_s"] is None
    assert row["updated_at"] == parse_ts("2026-03-02T00:00:00Z")  # the record's own stamp
    assert {(q["column_name"], q["record_id"]) for q in bad} == {
        ("hs_meeting_start_time", "7"),
        ("hs_timestamp", "7"),
        ("hs_lastmodifieddate", "7"),
    }
    assert all(q["reason"] for q in bad)
    call, bad = activity_row(
        "hs", "calls", {"id": "8", "properties": {"hs_call_duration": "x"}}, None
    )
    assert (
        call is not None
        and call["duration_s"] is None
        and bad[0]["column_name"] == "hs_call_duration"
    )
    missing, bad = activity_row("hs", "notes", {"properties": {}}, None)
    assert missing is None and bad[0]["record_id"] is None and bad[0]["reason"]
