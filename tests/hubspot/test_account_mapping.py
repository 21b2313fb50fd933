"""Companies, deal-company links and custom properties -> canonical rows, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.hubspot.companies import (
    REMOVED,
    account_row,
    company_links,
    deal_account_rows,
    primary_company,
)
from connectors.hubspot.fields import FieldSet, data_type_of, select_fields
from connectors.values import BadValue, BadValues


def prop(name: str, ptype: str, field_type: str = "text", **more: Any) -> dict[str, Any]:
    return {"name": name, "label": name.title(), "type": ptype, "fieldType": field_type, **more}


def options(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"value": v, "label": label} for v, label in pairs]


COMPANY_PROPS = [
    prop("name", "string", hubspotDefined=True),
    prop("industry", "enumeration", "select", hubspotDefined=True,
         options=options(("COMPUTER_SOFTWARE", "Computer Software"))),
    prop("numberofemployees", "number", "number", hubspotDefined=True),
    prop("segment", "enumeration", "select", options=options(("smb", "SMB"), ("ent", "Enterprise"))),
    prop("tags", "enumeration", "checkbox", options=options(("a", "Alpha"), ("b", "Beta"))),
    prop("key_account", "bool", "booleancheckbox"),
    prop("legacy_checkbox", "enumeration", "booleancheckbox"),
    prop("renewal_date", "date", "date"),
    prop("last_review", "datetime", "date"),
    prop("old_field", "string", archived=True),
    prop("hub_score", "number", "number"),  # written by the hub itself: not taken by all
]  # fmt: skip


@pytest.mark.parametrize(
    ("ptype", "field_type", "want"),
    [
        ("enumeration", "select", "enum"),
        ("enumeration", "checkbox", "enum"),
        ("enumeration", "booleancheckbox", "bool"),
        ("bool", "booleancheckbox", "bool"),
        ("number", "number", "number"),
        ("date", "date", "date"),
        ("datetime", "date", "datetime"),
        ("string", "textarea", "text"),
        ("phone_number", "phonenumber", "text"),
    ],
)
def test_hubspot_types_map_to_field_types(ptype: str, field_type: str, want: str) -> None:
    assert data_type_of({"type": ptype, "fieldType": field_type}) == want


def test_all_takes_the_portals_own_properties_and_employees_from_the_standard_one() -> None:
    chosen = select_fields("companies", "all", COMPANY_PROPS)
    assert [(f.name, f.column, f.data_type) for f in chosen.fields] == [
        ("numberofemployees", "employees", "number"),
        ("segment", "segment", "enum"),
        ("tags", "tags", "enum"),
        ("key_account", "key_account", "bool"),
        ("legacy_checkbox", "legacy_checkbox", "bool"),
        ("renewal_date", "renewal_date", "date"),
        ("last_review", "last_review", "datetime"),
    ]
    assert chosen.warnings == ()


def test_named_properties_that_are_missing_or_collide_are_skipped_with_a_warning() -> None:
    props = [*COMPANY_PROPS, prop("Segment", "string"), prop("employees", "number")]
    chosen = select_fields("companies", ["segment", "Segment", "nope", "employees"], props)
    assert [f.name for f in chosen.fields] == ["numberofemployees", "segment"]
    assert len(chosen.warnings) == 3
    assert any("'nope' does not exist" in w for w in chosen.warnings)
    assert any("'employees'" in w and "numberofemployees" in w for w in chosen.warnings)


def test_values_are_typed_enums_become_labels_and_bad_ones_are_quarantined() -> None:
    chosen = select_fields("companies", "all", COMPANY_PROPS)
    vals = BadValues("hs", "hubspot", "accounts", "9", "/crm/v3/objects/companies")
    raw = {
        "numberofemployees": "250",
        "segment": "ent",
        "tags": "a;b",
        "key_account": "true",
        "legacy_checkbox": "false",
        "renewal_date": "2027-03-01",
        "last_review": "2026-05-01T10:00:00.5Z",
    }
    assert chosen.values(raw, vals) == {
        "employees": 250,
        "segment": "Enterprise",
        "tags": "Alpha;Beta",
        "key_account": True,
        "legacy_checkbox": False,
        "renewal_date": "2027-03-01",
        "last_review": "2026-05-01T10:00:00.500000+00:00",
    }
    assert not vals.rows
    bad = {"numberofemployees": "lots", "segment": "gone", "renewal_date": "soon"}
    assert chosen.values(bad, vals) is None  # bad values left out, empty ones too
    assert [(r["column_name"], r["value"]) for r in vals.rows] == [
        ("numberofemployees", "lots"),
        ("segment", "gone"),
        ("renewal_date", "soon"),
    ]
    segment = next(f for f in chosen.fields if f.name == "segment")
    with pytest.raises(BadValue, match="options"):
        segment.parse("smb;gone")


def test_definitions_name_the_column_the_source_field_and_the_type() -> None:
    rows = select_fields("companies", ["segment"], COMPANY_PROPS).definitions("hs")
    assert [(r["field_key"], r["source_field"], r["data_type"], r["entity"]) for r in rows] == [
        ("hs:account:employees", "numberofemployees", "number", "account"),
        ("hs:account:segment", "segment", "enum", "account"),
    ]
    assert FieldSet("deals").definitions("hs") == []


def test_an_account_row_takes_the_domain_the_industry_label_and_custom_fields() -> None:
    chosen = select_fields("companies", ["segment"], COMPANY_PROPS)
    raw = {
        "id": "501",
        "properties": {
            "name": "Acme GmbH",
            "domain": "Acme.de",
            "website": "https://www.other.example/about",
            "industry": "COMPUTER_SOFTWARE",
            "country": "Germany",
            "hubspot_owner_id": "61000003",
            "createdate": "2024-01-02T03:04:05Z",
            "hs_lastmodifieddate": "not a time",
            "numberofemployees": "40",
            "segment": "smb",
        },
        "updatedAt": "2026-01-01T00:00:00Z",
    }
    labels = {"industry": {"COMPUTER_SOFTWARE": "Computer Software"}}
    row, bad = account_row("hs", raw, labels, chosen, archived=False)
    assert row is not None
    assert (row["account_key"], row["domain"], row["industry"]) == (
        "hs:501",
        "acme.de",
        "Computer Software",
    )
    assert row["custom_fields"] == {"employees": 40, "segment": "SMB"}
    assert row["updated_at"].isoformat() == "2026-01-01T00:00:00+00:00"  # updatedAt stands in
    assert [b["column_name"] for b in bad] == ["hs_lastmodifieddate"]
    raw["properties"]["domain"] = None
    row, _ = account_row("hs", raw, labels, chosen, archived=True)
    assert row is not None and row["domain"] == "other.example" and row["is_deleted"]


def test_links_put_the_primary_first_keep_labels_and_never_two_primaries() -> None:
    def target(company: int, *types: tuple[int, str | None, str]) -> dict[str, Any]:
        return {
            "toObjectId": company,
            "associationTypes": [
                {"typeId": t, "label": label, "category": cat} for t, label, cat in types
            ],
        }

    plain = (341, None, "HUBSPOT_DEFINED")
    primary = (5, "Primary", "HUBSPOT_DEFINED")
    links = company_links(
        [
            target(30, plain, (17, "Reseller", "USER_DEFINED")),
            target(200, primary, plain),
            target(10, plain),
            target(40, primary, plain),  # a second primary: HubSpot never sends one
        ]
    )
    assert [(link.company_id, link.is_primary, link.label) for link in links] == [
        ("40", True, None),
        ("200", False, None),
        ("10", False, None),
        ("30", False, "Reseller"),
    ]
    assert primary_company(links) == "40"
    assert primary_company(company_links([target(10, plain)])) is None
    assert primary_company(None) is None


def test_a_deal_without_companies_sends_one_row_that_only_removes() -> None:
    (row,) = deal_account_rows("hs", "7", [])
    assert row["deal_key"] == "hs:7" and row[REMOVED] is True
    rows = deal_account_rows("hs", "7", company_links([{"toObjectId": 3, "associationTypes": [
        {"typeId": 5, "label": "Primary", "category": "HUBSPOT_DEFINED"}]}]))  # fmt: skip
    assert rows == [
        {
            "source_name": "hs",
            "crm": "hubspot",
            "deal_key": "hs:7",
            "account_key": "hs:3",
            "is_primary": True,
            "label": None,
        }
    ]
