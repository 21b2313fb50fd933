"""CSV accounts: an accounts file lands as canonical accounts with their web domain, deals
link to their account by key (one primary ``deal_accounts`` row each), and a generated
export with accounts and migrated copies round-trips through real dlt into DuckDB."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.synthetic import World, WorldSpec, write_csv_source
from connectors.synthetic.companies import account_view, duplicate_truth
from hub.generate import Generated, csv_source_entry
from models.config import load_config, parse_config
from tests.csv_helpers import MAVEN_HEADER, csv_config, pull, query

ACCOUNTS = (
    "acc_id,company,web,domain,industry,country,owner,created,updated,deleted,segment,employees\n"
    "A1,Acme Inc.,https://www.Acme.com/about,,Software,US,ana@x.example,2024-01-02,"
    "2026-05-01T10:00:00Z,false,SMB,12\n"
    "A2,Beta GmbH,beta.de,,Retail,DE,,2024-02-03,,,Enterprise,5000\n"
    "A3,Gamma,,GAMMA.io,,FR,,,,no,Mid-Market,\n"  # the domain column, normalised
    "A4,Delta,http://delta.example.org/x,not a domain,,,,,,,SMB,not many\n"  # bad domain, bad number
    "A5,Epsilon,just words,,,,,,,yes,,\n"  # a website that names no host; deleted
    "A2,Beta again,beta.com,,,,,,,,,\n"  # duplicate id
    ",No id,noid.com,,,,,,,,,\n"
)
ACCOUNT_COLUMNS = {
    "source_account_id": "acc_id",
    "name": "company",
    "website": "web",
    "domain": "domain",
    "industry": "industry",
    "country": "country",
    "owner_id": "owner",
    "created_at": "created",
    "updated_at": "updated",
    "is_deleted": "deleted",
}
DEALS = (
    "id,name,account,account_name\n"
    "D1,One,A1,Acme Inc.\n"
    "D2,Two,A9,Ghost Ltd\n"  # an account the accounts file lacks
    "D3,Three,,Nameonly Corp\n"  # a name and no id: not linked
    "D4,Four,A1,Acme\n"
)


def _config(folder: Path, *, fast_path: bool = True, accounts: bool = True) -> Any:
    options: dict[str, Any] = {
        "fast_path": fast_path,
        "chunk_rows": 100,
        "deals": {
            "path": "deals.csv",
            "columns": {
                "source_deal_id": "id",
                "name": "name",
                "account_id": "account",
                "account_name": "account_name",
            },
        },
    }
    if accounts:
        options["accounts"] = {
            "path": "accounts.csv",
            "columns": ACCOUNT_COLUMNS,
            "custom_fields": {"segment": "enum", "employees": "number"},
        }
    raw = {"sources": [{"name": "exp", "kind": "csv", "options": options}]}
    return parse_config(raw, folder / "hub.yml")


def _write(folder: Path, deals: str = DEALS, accounts: str = ACCOUNTS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deals.csv").write_text(deals, encoding="utf-8")
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "row-path"])
def test_accounts_land_with_their_web_domain_and_typed_custom_fields(
    tmp_path: Path, fast_path: bool
) -> None:
    _write(tmp_path)
    config = _config(tmp_path, fast_path=fast_path)
    run = pull(config)
    assert run.status == "ok", run.error
    rows = query(
        config,
        "SELECT account_key, source_account_id, name, website, domain, industry, country, "
        "owner_id, created_at, is_deleted, custom_fields "
        "FROM src_exp.accounts ORDER BY account_key",
    )
    got = [(*r[:-1], None if r[-1] is None else json.loads(r[-1])) for r in rows]
    assert got == [
        (
            "exp:A1", "A1", "Acme Inc.", "https://www.Acme.com/about", "acme.com", "Software",
            "US", "ana@x.example", datetime(2024, 1, 2, tzinfo=UTC), False,
            {"segment": "SMB", "employees": 12},
        ),
        (
            "exp:A2", "A2", "Beta GmbH", "beta.de", "beta.de", "Retail", "DE", None,
            datetime(2024, 2, 3, tzinfo=UTC), False, {"segment": "Enterprise", "employees": 5000},
        ),
        (
            "exp:A3", "A3", "Gamma", None, "gamma.io", None, "FR", None, None, False,
            {"segment": "Mid-Market"},
        ),
        (  # the bad domain cell is dropped; the website still gives the domain
            "exp:A4", "A4", "Delta", "http://delta.example.org/x", "delta.example.org", None,
            None, None, None, False, {"segment": "SMB"},
        ),
        ("exp:A5", "A5", "Epsilon", "just words", None, None, None, None, None, True, None),
    ]  # fmt: skip
    quarantined = query(
        config,
        "SELECT entity, location, record_id, column_name, value, reason FROM src_exp.quarantine "
        "ORDER BY location, column_name",
    )
    assert [q[1:5] for q in quarantined] == [
        ("accounts.csv:5", "A4", "domain", "not a domain"),
        ("accounts.csv:5", "A4", "employees", "not many"),
        ("accounts.csv:7", "A2", "acc_id", "A2"),
        ("accounts.csv:8", None, "acc_id", ""),
    ]
    assert {q[0] for q in quarantined} == {"accounts"}
    reasons = [q[5] for q in quarantined]
    assert "not a web domain" in reasons[0]
    assert "not a number" in reasons[1] and "'employees' is number" in reasons[1]
    assert "duplicate account id; first seen on line 3" in reasons[2]
    assert "required value 'source_account_id' is empty" in reasons[3]
    definitions = query(
        config,
        "SELECT field_key, entity, column_name, data_type FROM src_exp.field_definitions "
        "ORDER BY 1",
    )
    assert definitions == [
        ("exp:account:employees", "account", "employees", "number"),
        ("exp:account:segment", "account", "segment", "enum"),
    ]


def test_deals_link_to_their_account_by_key_even_before_the_account_exists(
    tmp_path: Path,
) -> None:
    _write(tmp_path)
    config = _config(tmp_path, accounts=False)
    run = pull(config)
    assert run.status == "ok", run.error
    deals = query(
        config,
        "SELECT source_deal_id, account_id, account_name, account_key FROM src_exp.deals "
        "ORDER BY 1",
    )
    assert deals == [
        ("D1", "A1", "Acme Inc.", "exp:A1"),
        ("D2", "A9", "Ghost Ltd", "exp:A9"),
        ("D3", None, "Nameonly Corp", None),
        ("D4", "A1", "Acme", "exp:A1"),
    ]
    links = query(
        config,
        "SELECT deal_key, account_key, is_primary, label, source_name, crm "
        "FROM src_exp.deal_accounts ORDER BY 1",
    )
    assert links == [
        ("exp:D1", "exp:A1", True, None, "exp", "csv"),
        ("exp:D2", "exp:A9", True, None, "exp", "csv"),
        ("exp:D4", "exp:A1", True, None, "exp", "csv"),
    ]
    # The accounts file arrives later: the links resolve, A9 stays unresolved.
    config = _config(tmp_path)
    assert pull(config).status == "ok"
    resolved = query(
        config,
        "SELECT l.deal_key, a.name FROM src_exp.deal_accounts l "
        "LEFT JOIN src_exp.accounts a USING (account_key) ORDER BY 1",
    )
    assert resolved == [("exp:D1", "Acme Inc."), ("exp:D2", None), ("exp:D4", "Acme Inc.")]


def test_a_deal_moved_to_another_account_keeps_exactly_one_primary_link(tmp_path: Path) -> None:
    _write(tmp_path)
    config = _config(tmp_path)
    assert pull(config).status == "ok"
    moved = (
        "id,name,account,account_name\n"
        "D1,One,A2,Beta GmbH\n"  # moved from A1
        "D2,Two,,Ghost Ltd\n"  # its account id removed
        "D3,Three,A3,Gamma\n"  # newly linked
    )  # D4 is not in this export: it keeps its link
    (tmp_path / "deals.csv").write_text(moved, encoding="utf-8")
    run = pull(config)
    assert run.status == "ok", run.error
    links = query(config, "SELECT deal_key, account_key FROM src_exp.deal_accounts ORDER BY 1")
    assert links == [("exp:D1", "exp:A2"), ("exp:D3", "exp:A3"), ("exp:D4", "exp:A1")]
    keys = query(config, "SELECT deal_key, account_key FROM src_exp.deals ORDER BY 1")
    assert keys == [
        ("exp:D1", "exp:A2"),
        ("exp:D2", None),
        ("exp:D3", "exp:A3"),
        ("exp:D4", "exp:A1"),
    ]


def test_generated_accounts_and_deals_round_trip(hub_dir: Path, small_export: Generated) -> None:
    """Everything compared with the generator's world, not with the files."""
    config = load_config(hub_dir / "hub.yml")
    run = pull(config)
    assert run.status == "ok", run.error
    assert run.quarantined == 0
    world = World(WorldSpec(seed=7, n_deals=400))
    companies = world.source_accounts(0, 1)
    assert small_export.export.row_counts["accounts"] == len(companies)
    rows = query(
        config,
        "SELECT source_account_id, name, website, domain, industry, country, owner_id, "
        "custom_fields FROM src_crm_export.accounts",
    )
    email = {rep.rep_id: rep.email for rep in world.reps}
    expected = {}
    for account in companies:
        view = account_view(account, 0, 7)
        expected[account.account_id] = (
            view.name,
            view.website,
            account.domain if view.website else None,  # the true domain, not the file's
            account.industry,
            account.country,
            email[account.owner] if account.owner else None,
            {"segment": account.segment, "employees": account.employees},
        )
    got = {r[0]: (*r[1:-1], json.loads(r[-1])) for r in rows}
    assert got == expected
    deals = query(
        config,
        "SELECT d.source_deal_id, d.account_key, a.account_key, d.custom_fields "
        "FROM src_crm_export.deals d LEFT JOIN src_crm_export.accounts a USING (account_key)",
    )
    assert len(deals) == 400
    assert all(key is not None and key == linked for _, key, linked, _ in deals)
    lead = {d.deal_id: d.lead_source for d in world.iter_deals()}
    assert {deal_id: json.loads(custom) for deal_id, _, _, custom in deals} == {
        deal_id: {"lead_source": source} for deal_id, source in lead.items()
    }
    links = query(
        config,
        "SELECT count(*), count(DISTINCT deal_key), bool_and(is_primary) "
        "FROM src_crm_export.deal_accounts",
    )
    assert links == [(400, 400, True)]
    types = query(
        config,
        "SELECT field_key, data_type FROM src_crm_export.field_definitions ORDER BY 1",
    )
    assert types == [
        ("crm_export:account:employees", "number"),
        ("crm_export:account:segment", "enum"),
        ("crm_export:deal:lead_source", "enum"),
        ("crm_export:deal:legacy_id", "text"),
    ]


def test_migrated_copies_carry_their_legacy_id_and_stay_out_of_the_truth(tmp_path: Path) -> None:
    world = World(WorldSpec(seed=5, n_deals=300, duplicate_share=0.2))
    export = write_csv_source(world, tmp_path / "csv", source_index=1, n_sources=2)
    pairs = [p for p in duplicate_truth(world, 2) if p.copy_source == 1]
    assert pairs and export.migrated_copies == len(pairs)
    own = sum(1 for _ in world.iter_deals_for(1, 2))
    assert export.truth.n_deals == own
    assert export.row_counts["deals"] == own + len(pairs)
    entry = csv_source_entry(export, "second", tmp_path)
    config = parse_config({"sources": [entry]}, tmp_path / "hub.yml")
    run = pull(config)
    assert run.status == "ok", run.error
    legacy = query(
        config,
        "SELECT source_deal_id, custom_fields->>'$.legacy_id' FROM src_second.deals "
        "WHERE custom_fields->>'$.legacy_id' IS NOT NULL",
    )
    assert sorted(legacy) == sorted((p.copy_deal_id, p.original_deal_id) for p in pairs)
    copied = {world.deal(int(p.original_deal_id[1:])).account.account_id for p in pairs}
    accounts = {r[0] for r in query(config, "SELECT source_account_id FROM src_second.accounts")}
    assert copied <= accounts
    assert accounts == {a.account_id for a in world.source_accounts(1, 2)}


def test_hub_generate_writes_a_config_that_reads_the_accounts(tmp_path: Path) -> None:
    from hub.generate import generate

    generated = generate(tmp_path / "gen", seed=3, deals=60)
    assert generated.config_path is not None
    shutil.copytree(tmp_path / "gen", tmp_path / "copy")
    config = load_config(tmp_path / "copy" / "hub.yml")
    options = config.sources[0].options
    assert options["accounts"]["path"] == "accounts.csv"
    assert options["accounts"]["custom_fields"] == {"segment": "enum", "employees": "number"}
    assert options["deals"]["custom_fields"] == {"lead_source": "enum", "legacy_id": "text"}
    run = pull(config)
    assert run.status == "ok", run.error
    assert run.rows["accounts"] == generated.export.row_counts["accounts"]


def test_maven_layout_links_deals_to_accounts_known_by_name(tmp_path: Path) -> None:
    """The README's example: the "CRM Sales Opportunities" files name companies, no ids."""
    (tmp_path / "sales_pipeline.csv").write_text(
        MAVEN_HEADER + "\n"
        "1C1I7A6R,Moses Frase,GTX Plus Basic,Cancity,Won,2016-10-20,2017-03-01,1054\n"
        "Z063OYW0,Darcel Schlecht,GTXPro,Isdom,Won,2016-10-25,2017-03-11,4514\n"
        "HAXMC4IX,James Ascencio,MG Advanced,,Prospecting,,,\n",
        encoding="utf-8",
    )
    (tmp_path / "accounts.csv").write_text(
        "account,sector,year_established,revenue,employees,office_location,subsidiary_of\n"
        "Cancity,retail,2001,718.62,2448,United States,\n"
        "Isdom,medical,2002,3178.24,4540,United States,Bubba Gump\n",
        encoding="utf-8",
    )
    config = csv_config(
        tmp_path,
        {
            "path": "sales_pipeline.csv",
            "columns": {
                "source_deal_id": "opportunity_id",
                "owner_id": "sales_agent",
                "name": "product",
                "account_id": "account",
                "account_name": "account",
                "stage_id": "deal_stage",
            },
            "status_from_stage": {"Won": "won"},
        },
        accounts={
            "path": "accounts.csv",
            "columns": {"source_account_id": "account", "name": "account", "industry": "sector"},
            "custom_fields": {
                "year_established": "number",
                "revenue": "number",
                "employees": "number",
                "office_location": "text",
                "subsidiary_of": "text",
            },
        },
    )
    run = pull(config)
    assert run.status == "ok", run.error
    joined = query(
        config,
        "SELECT d.source_deal_id, a.name, a.industry, a.custom_fields "
        "FROM src_exp.deals d LEFT JOIN src_exp.accounts a USING (account_key) ORDER BY 1",
    )
    assert [(*r[:3], r[3] and json.loads(r[3])) for r in joined] == [
        (
            "1C1I7A6R", "Cancity", "retail",
            {"year_established": 2001, "revenue": 718.62, "employees": 2448,
             "office_location": "United States"},
        ),
        ("HAXMC4IX", None, None, None),
        (
            "Z063OYW0", "Isdom", "medical",
            {"year_established": 2002, "revenue": 3178.24, "employees": 4540,
             "office_location": "United States", "subsidiary_of": "Bubba Gump"},
        ),
    ]  # fmt: skip
