"""Matching keys: company names, deal names and web domains, hostile input included."""

from __future__ import annotations

import pytest

from hub.resolve.domains import company_domain, registrable
from hub.resolve.duplicates import similarity
from hub.resolve.names import company_name_key, deal_name_key, words


@pytest.mark.parametrize(
    ("variants", "key"),
    [
        (["Müller GmbH", "MULLER GMBH", "Muller Gmbh", "Müller"], "muller"),
        (["Café Olé", "CAFE OLE", "Cafe Ole SAS"], "cafe ole"),
        (
            ["Smith, Jones & Partners", "Smith Jones & Partners", "SMITH JONES AND PARTNERS LTD."],
            "smith jones and partners",
        ),
        (['The "Good" Company', "The Good Company", "THE GOOD CO.", "Good Co"], "good"),
        (["Søndergaard A/S", "Sondergaard A/S", "SØNDERGAARD AS", "Søndergaard"], "sondergaard"),
        (
            ["Łódź Logistics Sp. z o.o.", "Lodz Logistics Sp z oo", "LODZ LOGISTICS SP. Z O.O."],
            "lodz logistics",
        ),
        (
            ["São Paulo Têxtil Ltda", "Sao Paulo Textil Ltda.", "SAO PAULO TEXTIL"],
            "sao paulo textil",
        ),
        (["株式会社サンプル", "サンプル"], "サンプル"),
        (
            ["Acme Labs Inc.", "Acme Labs Inc", "Acme Labs Incorporated", "ACME LABS INC."],
            "acme labs",
        ),
        (["Initech Ltd", "Initech Limited", "INITECH LTD.", "Initech"], "initech"),
        (["Hooli LLC", "Hooli L.L.C.", "hooli llc"], "hooli"),
        (["Globex Corp.", "Globex Corporation", "Globex Corp"], "globex"),
        (["Umbrella plc", "Umbrella PLC", "Umbrella Plc"], "umbrella"),
        (
            ["Atlas Energy AG", "Atlas Energy SAS", "Atlas Energy BV", "Atlas Energy B.V."],
            "atlas energy",
        ),
        (["Stark GmbH & Co. KG", "Stark GmbH und Co KG", "Stark"], "stark"),
        (["J. P. Morgan", "JP Morgan Corp", "J.P. Morgan"], "jp morgan"),
        (["O'Brien Media", "OBrien Media", "O’Brien Media Ltd"], "obrien media"),
    ],
)
def test_company_variants_share_a_key(variants: list[str], key: str) -> None:
    assert {company_name_key(v) for v in variants} == {key}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("<b>Acme</b> Analytics", "acme analytics"),
        ("Acme &amp; Sons", "acme and sons"),
        ("<script>alert(1)</script>Globex", "alert 1 globex"),
        ("[Acme] (Europe) {EMEA}", "acme europe emea"),
        ("Acme\u00a0Analytics\tInc.\n", "acme analytics"),
        ("Ａｃｍｅ Ａｎａｌｙｔｉｃｓ", "acme analytics"),  # full-width forms
        ("ACME\u200b ANALYTICS", "acme analytics"),  # a zero-width space is no letter
        ("Zürich Analytics AG", "zurich analytics"),
        ("Ωmega Ltd", "ωmega"),
        ("Inc. Magazine Inc.", "inc magazine"),  # only a trailing legal form goes
        ("The", "the"),  # a leading "The" goes only when a name follows
    ],
)
def test_hostile_company_names(name: str, key: str) -> None:
    assert company_name_key(name) == key


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "   ",
        "Inc.",
        "L.L.C.",
        "Company",
        "Co Co",
        "...",
        "<br/>",
        "()",
        42,
        ["Acme"],
        "株式会社",
    ],
)
def test_names_with_nothing_distinctive_have_no_key(name: object) -> None:
    assert company_name_key(name) is None


def test_twins_share_a_name_key() -> None:
    """The generator's twins differ only by the suffix: their name alone cannot keep them
    apart (their domains do, tests/resolve/test_accounts.py)."""
    assert company_name_key("Acme Robotics Inc.") == company_name_key("Acme Robotics Ltd")


@pytest.mark.parametrize(
    "copy",
    [
        "acme labs inc. - renewal",
        "Acme Labs Inc. - Renewal (migrated)",
        "Acme Labs Inc.: Renewal",
        "[Copy] Acme Labs Inc. - Renewal",
        "ACME LABS INC | RENEWAL {imported}",
        "<i>Acme Labs Inc.</i> &ndash; Renewal",
    ],
)
def test_deal_copies_normalize_to_the_original(copy: str) -> None:
    original = "Acme Labs Inc. - Renewal"
    assert deal_name_key(copy) == deal_name_key(original) == "acme labs inc renewal"


def test_deal_names_lose_the_company_words() -> None:
    company = frozenset(words("Acme Labs Inc.") + words("ACME LABS"))
    assert deal_name_key("Acme Labs Inc. - Pilot", company) == "pilot"
    assert deal_name_key("ACME LABS - Platform (migrated)", company) == "platform"
    # A name that is only the company keeps its words, so it is still comparable.
    assert deal_name_key("Acme Labs", company) == "acme labs"
    assert deal_name_key(None, company) == ""
    # Brackets that are not migration noise stay part of the name.
    assert deal_name_key("Acme Labs - Renewal (Phase 2)", company) == "renewal phase 2"


def test_similarity_separates_products_once_the_company_is_gone() -> None:
    company = frozenset(words("Acme Labs Inc."))
    pilot, platform = (
        deal_name_key(f"Acme Labs Inc. - {p}", company) for p in ("Pilot", "Platform")
    )
    assert similarity(pilot, platform) < 0.6
    with_company = similarity(
        deal_name_key("Acme Labs Inc. - Pilot"), deal_name_key("Acme Labs Inc. - Platform")
    )
    assert with_company > 0.8  # why the company words go: they make every pair look alike
    assert similarity("renewal", "renewal") == 1.0
    assert similarity("", "renewal") == 0.0
    assert 0.85 <= similarity("seats upgrade 2026", "seats upgrade 2025") < 1.0


@pytest.mark.parametrize(
    ("domain", "key"),
    [
        ("acme.com", "acme.com"),
        ("eu.acme.com", "acme.com"),
        ("shop.eu.acme.com", "acme.com"),
        ("https://www.Acme.com/about", "acme.com"),
        ("ACME.COM", "acme.com"),
        ("acme.co.uk", "acme.co.uk"),
        ("uk.acme.co.uk", "acme.co.uk"),
        ("saopaulotextil.com.br", "saopaulotextil.com.br"),
        ("sample.co.jp", "sample.co.jp"),
        ("acme.co", "acme.co"),  # Colombia's TLD, not a suffix
        ("acme.github.io", "acme.github.io"),
        ("docs.acme.github.io", "acme.github.io"),
        ("acme.myshopify.com", "acme.myshopify.com"),
    ],
)
def test_company_domain(domain: str, key: str) -> None:
    assert company_domain(domain) == key


@pytest.mark.parametrize(
    "domain",
    [
        None,
        "",
        "gmail.com",
        "mail.google.com",
        "linkedin.com",
        "de.linkedin.com",
        "facebook.com",
        "yahoo.co.uk",
        "github.io",  # the platform itself
        "myshopify.com",
        "localhost",
        "not a host",
        "192.168.0.1",
        "<acme.com>",
        42,
    ],
)
def test_hosts_that_say_nothing_about_a_company(domain: object) -> None:
    assert company_domain(domain) is None


def test_registrable_keeps_short_hosts() -> None:
    assert registrable("acme.com") == "acme.com"
    assert registrable("a.b.c.acme.org.au") == "acme.org.au"
