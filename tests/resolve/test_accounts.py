"""Company resolution on hand-written accounts: each rule, its limits and the overrides."""

from __future__ import annotations

import pytest

from hub.resolve.accounts import resolve_accounts
from hub.resolve.records import AccountRecord
from models.config import AccountsConfig
from models.errors import ConfigError

RANK = {"crm_a": 0, "crm_b": 1, "crm_c": 2}


def acct(
    key: str, name: str | None, domain: str | None = None, created: float | None = None
) -> AccountRecord:
    return AccountRecord(key, key.split(":", 1)[0], name, domain, created)


def companies(
    records: list[AccountRecord], **overrides: list[list[str]]
) -> dict[str, tuple[str, str]]:
    """account_key -> (company_key, rule)."""
    resolved = resolve_accounts(records, AccountsConfig(**overrides), RANK)
    return {r.account_key: (r.company_key, r.rule) for r in resolved.rows}


def test_same_domain_is_one_company_whatever_the_names() -> None:
    out = companies(
        [acct("crm_a:1", "Acme", "acme.com"), acct("crm_b:9", "ACME Holdings", "eu.acme.com")]
    )
    assert out == {"crm_a:1": ("crm_a:1", "domain"), "crm_b:9": ("crm_a:1", "domain")}


def test_same_name_without_domains_is_one_company() -> None:
    out = companies(
        [
            acct("crm_a:1", "Acme Labs Inc."),
            acct("crm_b:2", "ACME LABS"),
            acct("crm_c:3", "Acme Labs L.L.C."),
        ]
    )
    assert {v for v in out.values()} == {("crm_a:1", "name")}


def test_different_domains_are_never_joined_by_name() -> None:
    """The generator's twins: one name up to the suffix, two domains."""
    out = companies(
        [
            acct("crm_a:1", "Acme Robotics Inc.", "acme-robotics.com"),
            acct("crm_b:2", "Acme Robotics Ltd", "acmerobotics.co.uk"),
        ]
    )
    assert out == {"crm_a:1": ("crm_a:1", "single"), "crm_b:2": ("crm_b:2", "single")}


def test_a_record_without_domain_joins_the_one_named_company_with_a_domain() -> None:
    out = companies(
        [
            acct("crm_a:1", "Acme", "acme.com"),
            acct("crm_b:2", "ACME INC"),
            acct("crm_c:3", "Acme", "acme.com"),
        ]
    )
    assert out["crm_b:2"] == ("crm_a:1", "name")
    assert out["crm_a:1"] == out["crm_c:3"] == ("crm_a:1", "domain")


def test_a_record_without_domain_between_two_domains_joins_neither() -> None:
    """Which of two same-named companies a bare record means is unknown: it stays apart
    (with the other bare records of that name)."""
    out = companies(
        [
            acct("crm_a:1", "Acme Inc.", "acme.com"),
            acct("crm_a:2", "Acme Ltd", "acme.co.uk"),
            acct("crm_b:3", "ACME"),
            acct("crm_c:4", "acme"),
        ]
    )
    assert out["crm_a:1"][0] == "crm_a:1" and out["crm_a:2"][0] == "crm_a:2"
    assert out["crm_b:3"] == out["crm_c:4"] == ("crm_b:3", "name")


def test_public_hosts_neither_join_nor_separate() -> None:
    """gmail.com says nothing: two companies on it stay apart, and a record on it joins its
    company by name as if it had no domain."""
    out = companies(
        [
            acct("crm_a:1", "Bakery Bros", "gmail.com"),
            acct("crm_b:2", "Flower Shop", "gmail.com"),
            acct("crm_c:3", "Bakery Bros Ltd", "linkedin.com"),
            acct("crm_c:4", "Bakery Bros", "bakerybros.com"),
        ]
    )
    assert out["crm_a:1"] == out["crm_c:3"] == out["crm_c:4"] == ("crm_a:1", "name")
    assert out["crm_b:2"] == ("crm_b:2", "single")


def test_records_without_domain_or_name_stay_single() -> None:
    out = companies([acct("crm_a:1", None), acct("crm_b:2", ""), acct("crm_c:3", "Inc.")])
    assert out == {k: (k, "single") for k in ("crm_a:1", "crm_b:2", "crm_c:3")}


def test_company_key_and_name_come_from_the_preferred_source() -> None:
    records = [
        acct("crm_c:1", "ACME LABS", "acme.com", created=1.0),
        acct("crm_b:7", "Acme Labs Inc.", "acme.com", created=5.0),
        acct("crm_b:3", "Acme Labs (old)", "acme.com", created=9.0),
    ]
    resolved = resolve_accounts(records, AccountsConfig(), RANK)
    assert {(r.company_key, r.company_name) for r in resolved.rows} == {
        ("crm_b:7", "Acme Labs Inc.")
    }
    # Preference is the caller's rank (duplicates.prefer, then hub.yml order).
    resolved = resolve_accounts(records, AccountsConfig(), {"crm_c": 0, "crm_b": 1})
    assert {(r.company_key, r.company_name) for r in resolved.rows} == {("crm_c:1", "ACME LABS")}


def test_primary_without_a_name_borrows_one() -> None:
    resolved = resolve_accounts(
        [acct("crm_a:1", None, "acme.com"), acct("crm_b:2", "Acme", "acme.com")],
        AccountsConfig(),
        RANK,
    )
    assert {(r.company_key, r.company_name) for r in resolved.rows} == {("crm_a:1", "Acme")}


def test_same_company_override_joins_anything() -> None:
    records = [
        acct("crm_a:1", "Acme", "acme.com"),
        acct("crm_b:2", "Wile E. Coyote Supplies", "coyote.com"),
        acct("crm_c:3", "Acme", "acme.com"),
    ]
    out = companies(records, same_company=[["crm_a:1", "crm_b:2"]])
    assert out["crm_a:1"] == out["crm_b:2"] == ("crm_a:1", "override")
    assert out["crm_c:3"] == ("crm_a:1", "domain")


def test_different_companies_override_wins_over_domain_and_name() -> None:
    records = [
        acct("crm_a:1", "Acme", "acme.com"),
        acct("crm_b:2", "Acme", "acme.com"),
        acct("crm_c:3", "Acme"),
        acct("crm_c:4", "Acme Corp"),
    ]
    out = companies(records, different_companies=[["crm_a:1", "crm_b:2"], ["crm_c:3", "crm_c:4"]])
    # Kept apart, crm_a:1 and crm_b:2 are two companies with a domain and one name, so the
    # bare records cannot tell which they mean, and are kept apart from each other too.
    assert out == {k: (k, "single") for k in ("crm_a:1", "crm_b:2", "crm_c:3", "crm_c:4")}


def test_conflicting_overrides_are_a_config_error() -> None:
    records = [acct("crm_a:1", "Acme"), acct("crm_b:2", "Globex"), acct("crm_c:3", "Initech")]
    with pytest.raises(ConfigError) as err:
        companies(
            records,
            same_company=[["crm_a:1", "crm_b:2", "crm_c:3"]],
            different_companies=[["crm_a:1", "crm_c:3"]],
        )
    message = str(err.value)
    assert "crm_a:1" in message and "crm_c:3" in message and "different_companies" in message


def test_override_keys_not_in_the_warehouse_are_warnings() -> None:
    records = [acct("crm_a:1", "Acme"), acct("crm_b:2", "Globex")]
    resolved = resolve_accounts(
        records, AccountsConfig(same_company=[["crm_a:1", "crm_b:2", "crm_z:404"]]), RANK
    )
    assert {r.company_key for r in resolved.rows} == {"crm_a:1"}
    assert len(resolved.warnings) == 1 and "crm_z:404" in resolved.warnings[0]


def test_resolution_does_not_depend_on_record_order() -> None:
    records = [
        acct("crm_a:1", "Acme", "acme.com"),
        acct("crm_b:2", "ACME"),
        acct("crm_c:3", "Acme Inc", "eu.acme.com"),
        acct("crm_a:4", "Globex"),
        acct("crm_b:5", "Globex Corp", "globex.de"),
        acct("crm_c:6", "Initech"),
    ]
    forward = resolve_accounts(records, AccountsConfig(), RANK).rows
    backward = resolve_accounts(records[::-1], AccountsConfig(), RANK).rows
    assert forward == backward
