"""Duplicate deals on hand-written deals: both rules, their guards, and which copy counts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hub.resolve.duplicates import find_duplicates
from hub.resolve.records import DealRecord
from models.config import DuplicatesConfig

DAY = 86_400.0
SOURCES = ["crm_a", "crm_b", "crm_c"]
COMPANY = {"crm_a:acc": "crm_a:acc", "crm_b:acc": "crm_a:acc", "crm_c:acc": "crm_a:acc"}
WORDS = {"crm_a:acc": frozenset({"acme", "labs", "inc"})}


def deal(key: str, name: str = "Acme Labs - Renewal", **facts: Any) -> DealRecord:
    source, native = key.split(":", 1)
    values: dict[str, Any] = {
        "account_key": f"{source}:acc",
        "amount": Decimal("1200.00"),
        "currency": "EUR",
        "owner": "ana@example.com",
        "created_at": 100 * DAY,
        "closed_at": None,
        "status": "open",
        **facts,
    }
    return DealRecord(key, source, native, name, **values)


def run(deals: list[DealRecord], **settings: Any) -> set[tuple[str, str, str, float]]:
    config = DuplicatesConfig(**{"legacy_id_field": "legacy_id", **settings})
    found = find_duplicates(deals, COMPANY, WORDS, config, SOURCES)
    return {(d.deal_key, d.duplicate_of, d.rule, round(d.score, 3)) for d in found}


def test_legacy_id_names_the_original_in_another_source() -> None:
    deals = [
        deal("crm_a:D1"),
        # Different everything but the legacy id: the id is the CRM's own word for it.
        deal("crm_b:M1", "Something else", legacy_id="D1", amount=None, account_key=None),
    ]
    assert run(deals) == {("crm_b:M1", "crm_a:D1", "legacy_id", 1.0)}


def test_legacy_id_may_hold_the_canonical_key() -> None:
    assert run([deal("crm_a:D1"), deal("crm_b:M1", "x", legacy_id="crm_a:D1")]) == {
        ("crm_b:M1", "crm_a:D1", "legacy_id", 1.0)
    }


def test_legacy_id_in_the_same_source_is_not_a_duplicate() -> None:
    deals = [deal("crm_a:D1"), deal("crm_a:D2", "x", legacy_id="D1", amount=Decimal(1))]
    assert run(deals) == set()


def test_an_ambiguous_legacy_id_takes_the_same_company_or_nothing() -> None:
    deals = [
        deal("crm_a:77"),
        deal("crm_b:77", "Other", account_key="crm_b:other", amount=Decimal(5)),
        deal("crm_c:M", "Unrelated", legacy_id="77", amount=Decimal(9)),
    ]
    assert run(deals) == {("crm_c:M", "crm_a:77", "legacy_id", 1.0)}
    # Both candidates in the same company: nothing is certain, nothing is joined.
    same = [deals[0], deal("crm_b:77", "Other", amount=Decimal(5)), deals[2]]
    assert run(same) == set()


def test_legacy_ids_are_off_without_the_setting() -> None:
    deals = [deal("crm_a:D1"), deal("crm_b:M1", "x", legacy_id="D1", amount=Decimal(1))]
    assert run(deals, legacy_id_field=None) == set()


def test_same_company_similar_name_close_dates_agreeing_facts() -> None:
    deals = [
        deal("crm_a:1", "Acme Labs Inc. - Renewal"),
        deal("crm_b:2", "ACME LABS - Renewal (migrated)", created_at=101.5 * DAY),
    ]
    assert run(deals, legacy_id_field=None) == {("crm_b:2", "crm_a:1", "account_name_dates", 1.0)}


def test_each_guard_keeps_a_pair_apart() -> None:
    original = deal("crm_a:1")
    apart = {
        "another company": {"account_key": "crm_b:elsewhere"},
        "no company": {"account_key": None},
        "too far apart": {"created_at": 132 * DAY},
        "no created date": {"created_at": None},
        "other amount": {"amount": Decimal("1200.01")},
        "other currency": {"currency": "USD"},
        "other owner": {"owner": "bo@example.com"},
        "closed days apart": {
            "status": "won",
            "closed_at": 150 * DAY,
            "_a": {"status": "won", "closed_at": 152 * DAY},
        },
        "won vs lost": {"status": "won", "_a": {"status": "lost"}},
    }
    for why, facts in apart.items():
        a_facts = facts.pop("_a", {})
        pair = [deal("crm_a:1", **a_facts) if a_facts else original, deal("crm_b:2", **facts)]
        assert run(pair, legacy_id_field=None) == set(), why
    assert run([original, deal("crm_b:2", "Acme Labs - Expansion")], legacy_id_field=None) == set()


def test_unknown_facts_do_not_keep_apart() -> None:
    unknown = {"amount": None, "currency": None, "owner": None, "closed_at": None}
    deals = [deal("crm_a:1"), deal("crm_b:2", status="won", **unknown)]
    assert run(deals, legacy_id_field=None) == {("crm_b:2", "crm_a:1", "account_name_dates", 1.0)}


def test_the_expected_close_date_does_not_keep_apart_but_the_close_date_does() -> None:
    # CRMs rewrite the expected close date (Salesforce's CloseDate becomes the close date),
    # so a migrated copy may disagree on it; closed within a day is the same close.
    closed = {"status": "lost", "closed_at": 150 * DAY}
    same_day = [deal("crm_a:1", **closed), deal("crm_b:2", **{**closed, "closed_at": 150.6 * DAY})]
    assert run(same_day, legacy_id_field=None) == {
        ("crm_b:2", "crm_a:1", "account_name_dates", 1.0)
    }


def test_max_days_apart_and_threshold_are_settings() -> None:
    deals = [
        deal("crm_a:1", "Acme Labs - Seats upgrade 2026"),
        deal("crm_b:2", "Acme Labs - Seats upgrade 2025", created_at=140 * DAY),
    ]
    assert run(deals, legacy_id_field=None) == set()
    found = run(deals, legacy_id_field=None, max_days_apart=45)
    assert {(k, d, r) for k, d, r, _ in found} == {("crm_b:2", "crm_a:1", "account_name_dates")}
    assert 0.85 <= next(iter(found))[3] < 1.0
    assert run(deals, legacy_id_field=None, max_days_apart=45, name_similarity=0.99) == set()


def test_deals_of_one_source_are_never_duplicates() -> None:
    deals = [deal("crm_a:1"), deal("crm_a:2"), deal("crm_a:3", legacy_id="1")]
    assert run(deals) == set()


def test_a_group_holds_one_deal_per_source() -> None:
    """Two equal deals in crm_a and one in crm_b: crm_b's joins the nearer one only (and,
    created first, is the one counted)."""
    deals = [
        deal("crm_a:1", created_at=100 * DAY),
        deal("crm_a:2", created_at=110 * DAY),
        deal("crm_b:3", created_at=109 * DAY),
    ]
    assert run(deals, legacy_id_field=None) == {("crm_a:2", "crm_b:3", "account_name_dates", 1.0)}


def test_the_earliest_created_counts_then_hub_yml_order() -> None:
    deals = [deal("crm_a:1", created_at=101 * DAY), deal("crm_b:2", created_at=100 * DAY)]
    assert {d for _, d, _, _ in run(deals, legacy_id_field=None)} == {"crm_b:2"}
    tie = [deal("crm_c:1"), deal("crm_b:2")]
    assert {(k, d) for k, d, _, _ in run(tie, legacy_id_field=None)} == {("crm_c:1", "crm_b:2")}


def test_prefer_beats_creation_order() -> None:
    deals = [
        deal("crm_a:1", created_at=100 * DAY),
        deal("crm_b:2", created_at=101 * DAY, legacy_id="1"),
        deal("crm_c:3", created_at=102 * DAY, legacy_id="2"),
    ]
    found = run(deals, prefer=["crm_c"])
    assert found == {
        ("crm_a:1", "crm_c:3", "legacy_id", 1.0),
        ("crm_b:2", "crm_c:3", "legacy_id", 1.0),
    }
    # A chain: crm_c copies crm_b which copies crm_a, all one deal counted once.
    assert {d for _, d, _, _ in run(deals)} == {"crm_a:1"}


def test_disabled_finds_nothing() -> None:
    assert run([deal("crm_a:1"), deal("crm_b:2", legacy_id="1")], enabled=False) == set()
