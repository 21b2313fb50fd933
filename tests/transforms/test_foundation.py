"""Staging, stage history and the deals mart against facts computed in Python.

The expected values come from the synthetic world's own deals (fixtures.ExpectedDeal), never
from the warehouse, so every assertion here can fail if the SQL is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from models.canonical import CANONICAL_TABLES

from .conftest import Built
from .fixtures import (
    AS_OF,
    FX,
    OPEN_STAGES,
    OUTCOME,
    SOURCES,
    STAGE_ORDER,
    STAGE_PROBABILITY,
    ExpectedDeal,
)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_dbt_build_passes_every_model_data_test_and_unit_test(built: Built) -> None:
    failed = [r for r in built.results if r[1] not in ("success", "pass")]
    assert built.success and not failed, failed
    kinds = {uid.split(".")[0] for uid, _, _ in built.results}
    assert {"model", "test", "unit_test"} <= kinds


# Staging columns the pydantic models define, renamed where staging speaks more plainly.
RENAMED = {
    ("pipelines", "label"): "pipeline_label",
    ("pipelines", "pipeline_key"): "native_pipeline_key",
    ("stages", "label"): "stage_label",
    ("stages", "stage_key"): "native_stage_key",
    ("activities", "type"): "activity_type",
    ("owners", "name"): "owner_name",
    ("owners", "owner_key"): "native_owner_key",
}


@pytest.mark.parametrize("table", sorted(CANONICAL_TABLES))
def test_staging_has_every_canonical_column(built: Built, table: str) -> None:
    cols = {
        r["column_name"]
        for r in built.rows(
            "select column_name from information_schema.columns "
            "where table_schema = 'hub_staging' and table_name = ?",
            [f"stg_{table}"],
        )
    }
    model = CANONICAL_TABLES[table]
    wanted = {RENAMED.get((table, f), f) for f in model.model_fields}
    assert wanted - cols == set()


def test_missing_source_tables_give_empty_typed_staging(built: Built) -> None:
    # csv_legacy has no stages/pipelines tables; 'ghost' has no schema at all.
    assert (
        built.rows(
            "select count(*) n from hub_staging.stg_stages where source_name in ('csv_legacy','ghost')"
        )[0]["n"]
        == 0
    )
    assert (
        built.rows("select count(*) n from hub_staging.stg_deals where source_name = 'ghost'")[0][
            "n"
        ]
        == 0
    )
    types = {
        r["column_name"]: r["data_type"]
        for r in built.rows(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'hub_staging' and table_name = 'stg_stage_observations'"
        )
    }
    assert types["observed_at"] == "TIMESTAMP"


def test_every_input_deal_is_in_the_deals_mart_once(built: Built) -> None:
    keys = [r["deal_key"] for r in built.rows("select deal_key from analytics.deals")]
    assert sorted(keys) == sorted(d.deal_key for d in built.expected)


def _history(built: Built) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in built.rows(
        "select * from analytics.deal_stage_history order by deal_key, spell_index"
    ):
        out.setdefault(r["deal_key"], []).append(r)
    return out


def test_stage_history_is_the_expected_canonical_path_for_every_deal(built: Built) -> None:
    """Covers Pipedrive's won-in-an-open-stage terminal step, collapsed duplicate observations,
    back-dated creation, deals without history, unmapped stages and events after as_of."""
    history = _history(built)
    mismatches = []
    for deal in built.expected:
        got = [
            (r["canonical_stage"], _utc(r["entered_at"])) for r in history.get(deal.deal_key, [])
        ]
        if got != deal.path:
            mismatches.append((deal.deal_key, deal.path, got))
    assert not mismatches, mismatches[:3]


def test_spell_flags_and_durations(built: Built) -> None:
    history = _history(built)
    n_backward = n_skips = 0
    for deal in built.expected:
        spells = history.get(deal.deal_key, [])
        for k, row in enumerate(spells):
            stage, entered = deal.path[k]
            end = deal.path[k + 1][1] if k + 1 < len(deal.path) else AS_OF
            assert row["days"] == pytest.approx((end - entered).total_seconds() / 86400, abs=1e-6)
            assert row["is_current"] is (k == len(deal.path) - 1)
            backward = skipped = False
            expected_skips = ""
            if k > 0:
                prev = deal.path[k - 1][0]
                if prev in STAGE_ORDER and stage in STAGE_ORDER:
                    backward = STAGE_ORDER[stage] < STAGE_ORDER[prev]
                    if STAGE_ORDER[stage] > STAGE_ORDER[prev] and OUTCOME.get(stage) != "lost":
                        between = [
                            s
                            for s in OPEN_STAGES
                            if STAGE_ORDER[prev] < STAGE_ORDER[s] < STAGE_ORDER[stage]
                        ]
                        expected_skips = ",".join(between)
                        skipped = bool(between)
            assert row["is_backward"] is backward, (deal.deal_key, k)
            assert row["skipped_stages"] == expected_skips, (deal.deal_key, k)
            n_backward += backward
            n_skips += skipped
    # the fixture really exercises both
    assert n_backward > 10 and n_skips > 10


def _expected_probability(deal: ExpectedDeal) -> float | None:
    if deal.own_probability is not None:
        return deal.own_probability
    return STAGE_PROBABILITY.get(deal.canonical_stage)


def test_deals_mart_current_state(built: Built) -> None:
    rows = {r["deal_key"]: r for r in built.rows("select * from analytics.deals")}
    for deal in built.expected:
        row = rows[deal.deal_key]
        assert row["canonical_stage"] == deal.canonical_stage, deal.deal_key
        if deal.amount is None:  # nothing to convert, nothing missing
            assert row["amount_base"] is None and row["is_fx_missing"] is False
        elif deal.currency in FX:
            assert row["amount_base"] == pytest.approx(
                Decimal(str(deal.amount_base)), abs=Decimal("0.000001")
            )
            assert row["is_fx_missing"] is False
        else:
            assert row["amount_base"] is None and row["is_fx_missing"] is True
        assert row["probability"] == pytest.approx(_expected_probability(deal))
        assert row["rep_key"] == f"email:{deal.owner_email.lower()}"
        assert row["is_open"] is (deal.exists and (deal.status == "open" or deal.closed_at > AS_OF))
        assert row["is_counted"] is deal.counts, deal.deal_key
        assert row["is_deleted"] is deal.is_deleted


def test_an_owner_in_three_crms_is_one_rep(built: Built) -> None:
    reps = built.rows("select * from analytics.reps where rep_key like 'email:%northwind%'")
    assert reps and all(r["n_owner_accounts"] == 3 and r["n_sources"] == 3 for r in reps)
    owners = {e.owner_email.lower() for e in built.expected if e.source_name in SOURCES}
    assert {r["email"] for r in reps} >= owners


def test_unknown_currency_is_flagged_not_converted(built: Built) -> None:
    row = built.rows("select * from analytics.deals where deal_key = 'edge:yen'")[0]
    assert row["currency"] == "JPY" and row["amount_base"] is None and row["is_fx_missing"]


def test_unmapped_stage_is_kept_not_dropped(built: Built) -> None:
    row = built.rows("select * from analytics.deals where deal_key = 'edge:mystery'")[0]
    assert row["canonical_stage"] == "unmapped" and row["probability"] is None
    mapped = built.rows(
        "select * from hub_staging.int_stages_mapped where stage_id = 'mystery_stage'"
    )
    assert len(mapped) == 1 and mapped[0]["is_unmapped"]


def test_decoy_wildcard_rule_loses_to_the_specific_pipeline(built: Built) -> None:
    rows = built.rows(
        "select canonical_stage, matched_pipeline from hub_staging.int_stages_mapped "
        "where source_name = 'hubspot_main' and stage_id = 'appointmentscheduled'"
    )
    assert rows == [{"canonical_stage": "prospecting", "matched_pipeline": "default"}]
