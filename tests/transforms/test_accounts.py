"""Companies across CRMs, duplicate deals and typed custom fields, against figures computed by
hand (the 'edge' and 'hand' sources) and from the generator's world (the generated sources).

The resolution and duplicate tables are the fixture's plain rows (the generator's truth); what
is tested here is what dbt does with them.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from connectors.synthetic import companies
from connectors.values import web_domain

from .conftest import Built, run_dbt
from .expected import counted, is_lost, is_won, ratio
from .fixtures import SEED, SOURCES, dbt_vars, make_world

approx = pytest.approx

# By hand, from fixtures.EDGE_DEALS / HAND_DEALS / HAND_ACCOUNTS / HAND_RESOLUTION:
# co:acme  counted deals: edge:skip (open, 1000 USD), edge:yen (won, JPY: no base amount),
#          hand:h_won (won, 3000), hand:h_lost (lost, 400), hand:h_open (open, 1500 EUR = 1620);
#          edge:deleted is deleted and hand:h_copy is a copy of edge:skip: neither counts.
# co:solo  edge:mystery (open, 300 EUR = 324), edge:future_moves (open, 2000 EUR = 2160),
#          edge:late_history (open, 800); edge:not_yet_created is created after as_of.
# hand:gone  a deleted account resolution does not list: its own company, kept because its
#          deal hand:h_gone (lost, 200) counts.
HAND_COMPANIES = {
    "co:acme": dict(
        company_name="Acme",
        domain="acme.com",  # two members say acme.com, one acme.de
        member_account_keys="edge:acme,hand:acme,hand:acme_eu",
        n_accounts=3,
        n_sources=2,
        source_names="edge,hand",
        open_count=2,
        open_amount_base=2620.0,
        won_count=2,
        won_amount_base=3000.0,
        lost_count=1,
        win_rate=2 / 3,
        n_without_amount_base=1,
    ),
    "co:solo": dict(
        company_name="Solo Ltd",
        domain=None,
        member_account_keys="edge:solo",
        n_accounts=1,
        n_sources=1,
        source_names="edge",
        open_count=3,
        open_amount_base=3284.0,
        won_count=0,
        won_amount_base=None,
        lost_count=0,
        win_rate=None,
        n_without_amount_base=0,
    ),
    "hand:gone": dict(
        company_name="Gone Corp",
        domain=None,
        member_account_keys="hand:gone",
        n_accounts=1,
        n_sources=1,
        source_names="hand",
        open_count=0,
        open_amount_base=None,
        won_count=0,
        won_amount_base=None,
        lost_count=1,
        win_rate=0.0,
        n_without_amount_base=0,
    ),
}


def _plain(value):
    return float(value) if value is not None and not isinstance(value, str | int) else value


def test_accounts_by_hand(built: Built) -> None:
    rows = {r["company_key"]: r for r in built.table("analytics.accounts")}
    for key, want in HAND_COMPANIES.items():
        got = {k: _plain(rows[key][k]) for k in want}
        assert got == approx(want), key
    assert rows["co:acme"]["as_of"] == datetime(2026, 6, 30, tzinfo=UTC)


def test_accounts_match_the_generator_world(built: Built) -> None:
    """Every generated company: its members (each source's record of one world account), its
    domain and its counted deals, from the world and the expected deals, not the SQL."""
    world = make_world()
    by_id = {f"company:{a.account_id}": a for a in world.accounts}
    members: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for d in built.expected:
        if d.source_name in SOURCES:
            members[d.company_key].add((d.account_key, d.source_name))
    deals = defaultdict(list)
    for d in counted(built.expected):
        if d.source_name in SOURCES:
            deals[d.company_key].append(d)
    rows = {r["company_key"]: r for r in built.table("analytics.accounts")}
    assert {k for k in rows if k.startswith("company:")} == set(members)
    names = list(SOURCES)
    multi = 0
    for key, accounts in members.items():
        row, account = rows[key], by_id[key]
        sources = sorted({s for _, s in accounts})
        domains = {
            web_domain(companies.account_view(account, names.index(s), SEED).website)
            for s in sources
        } - {None}
        assert row["company_name"] == account.name
        assert row["member_account_keys"] == ",".join(sorted(k for k, _ in accounts))
        assert (row["n_accounts"], row["n_sources"]) == (len(accounts), len(sources))
        assert row["source_names"] == ",".join(sources)
        assert row["domain"] == (account.domain if domains else None)
        group = deals[key]
        won = [d for d in group if is_won(d)]
        lost = [d for d in group if is_lost(d)]
        opened = [d for d in group if not is_won(d) and not is_lost(d)]
        assert (row["open_count"], row["won_count"], row["lost_count"]) == (
            len(opened),
            len(won),
            len(lost),
        ), key
        assert _plain(row["won_amount_base"]) == approx(
            sum(d.amount_base for d in won) if won else None
        )
        assert _plain(row["open_amount_base"]) == approx(
            sum(d.amount_base for d in opened) if opened else None
        )
        assert row["win_rate"] == approx(ratio(len(won), len(won) + len(lost)))
        multi += len(sources) > 1
    assert multi > 50  # most companies are held by more than one CRM


def test_duplicate_deals_lists_every_copy_with_both_names(built: Built) -> None:
    expected = {d.deal_key: d for d in built.expected}
    copies = {d.deal_key: d.duplicate_of for d in built.expected if d.duplicate_of}
    rows = {r["deal_key"]: r for r in built.table("analytics.duplicate_deals")}
    assert set(rows) == set(copies)
    assert len(copies) > 20
    names = {r["deal_key"]: r["deal_name"] for r in built.rows("select * from analytics.deals")}
    for key, row in rows.items():
        original = copies[key]
        assert row["duplicate_of"] == original
        assert (row["source_name"], row["name"]) == (expected[key].source_name, names[key])
        assert row["duplicate_of_source_name"] == expected[original].source_name
        assert row["duplicate_of_name"] == names[original]
        assert row["is_duplicate"] is True
    hand = rows["hand:h_copy"]
    assert (hand["rule"], hand["score"], hand["duplicate_of_name"]) == (
        "account_name_dates",
        0.91,
        "skip",
    )
    assert {r["rule"] for k, r in rows.items() if k != "hand:h_copy"} == {"legacy_id"}


def test_each_real_deal_is_counted_once(built: Built) -> None:
    """A migrated copy and its original are one deal: the deals mart flags the copy and the
    marts count the world's deals once (win_rate over all sources = the world's closes)."""
    deals = {r["deal_key"]: r for r in built.rows("select * from analytics.deals")}
    for d in built.expected:
        row = deals[d.deal_key]
        assert row["duplicate_of"] == d.duplicate_of
        assert row["is_duplicate"] is (d.duplicate_of is not None)
        assert row["is_counted"] is d.counts
    world = make_world()
    n = len(SOURCES)
    won = lost = copies_closed = 0
    for i, deal in enumerate(world.iter_deals()):
        won += deal.status == "won" and deal.closed_at <= datetime(2026, 6, 30, tzinfo=UTC)
        lost += deal.status == "lost" and deal.closed_at <= datetime(2026, 6, 30, tzinfo=UTC)
        copies_closed += (
            companies.is_migrated(world.spec, i)
            and list(SOURCES)[(i % n + 1) % n] in ("hubspot_main", "csv_legacy")
            and deal.status != "open"
        )
    rows = built.rows(
        "select sum(won_count) won, sum(lost_count) lost from analytics.win_rate "
        "where period_type = 'quarter' and rep_key = '*' and pipeline_key = '*' "
        "and source_name in ('hubspot_main', 'pipedrive_eu', 'csv_legacy')"
    )[0]
    assert (rows["won"], rows["lost"]) == (won, lost)
    assert copies_closed > 5  # counting the copies would have changed the figures


def _column_types(built: Built, table: str) -> dict[str, str]:
    return {
        r["column_name"]: r["data_type"]
        for r in built.rows(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'analytics' and table_name = ? order by ordinal_position",
            [table],
        )
    }


def test_deal_fields_has_one_typed_column_per_field(built: Built) -> None:
    assert _column_types(built, "deal_fields") == {
        "deal_key": "VARCHAR",
        "source_name": "VARCHAR",
        "field_deal_key": "VARCHAR",  # renamed: clashes with the key column
        "is_strategic": "BOOLEAN",
        "lead_source": "VARCHAR",
        "legacy_id": "VARCHAR",
        "priority": "VARCHAR",  # number in 'hand', text in 'edge': text
        "renewal_date": "DATE",
        "score": "DOUBLE",
        "signed_at": "TIMESTAMP WITH TIME ZONE",
    }
    rows = {r["deal_key"]: r for r in built.table("analytics.deal_fields")}
    assert rows["hand:h_won"] == {
        "deal_key": "hand:h_won",
        "source_name": "hand",
        "field_deal_key": "X-1",
        "is_strategic": True,
        "lead_source": "Referral",
        "legacy_id": None,
        "priority": "2",
        "renewal_date": date(2027, 1, 31),
        "score": 87.5,
        "signed_at": datetime(2026, 3, 12, 10, 30, tzinfo=UTC),
    }
    assert rows["hand:h_lost"]["is_strategic"] is False and rows["hand:h_lost"]["score"] == 3.0
    # 'edge' does not define score: the value in its JSON is not read as one
    assert rows["edge:skip"]["priority"] == "high" and rows["edge:skip"]["score"] is None
    assert len(rows) == len(built.expected)
    world = make_world()
    for d in built.expected:
        if d.source_name in SOURCES:
            row = rows[d.deal_key]
            assert row["lead_source"] == d.dimensions["lead_source"]
            copy = d.duplicate_of
            assert row["legacy_id"] == (copy.split(":", 1)[1] if copy else None)
    assert {r["lead_source"] for r in rows.values()} >= {
        "Inbound",
        "Outbound",
        "Referral",
        "Partner",
        "Event",
    }
    assert world.spec.duplicate_share > 0


def test_account_fields_has_one_typed_column_per_field(built: Built) -> None:
    assert _column_types(built, "account_fields") == {
        "account_key": "VARCHAR",
        "source_name": "VARCHAR",
        "employees": "DOUBLE",
        "segment": "VARCHAR",
    }
    rows = {r["account_key"]: r for r in built.table("analytics.account_fields")}
    assert rows["hand:acme"] == {
        "account_key": "hand:acme",
        "source_name": "hand",
        "employees": 1250.0,
        "segment": "Enterprise",
    }
    assert rows["edge:solo"]["segment"] is None
    world = make_world()
    truth = {f"company:{a.account_id}": a for a in world.accounts}
    checked = 0
    for d in built.expected:
        if d.source_name in SOURCES:
            account = truth[d.company_key]
            row = rows[d.account_key]
            assert (row["segment"], row["employees"]) == (account.segment, account.employees)
            checked += 1
    assert checked > 1000


def _copy(built: Built, tmp_path: Path) -> Path:
    db = tmp_path / "hub.duckdb"
    shutil.copy(built.path, db)
    return db


def test_marts_build_without_resolution_tables(built: Built, tmp_path: Path) -> None:
    """Resolution never ran (no hub_account_resolution) and duplicate detection found nothing
    (an empty hub_deal_duplicates): every account is its own company, every deal counts."""
    db = _copy(built, tmp_path)
    con = duckdb.connect(str(db))
    con.execute("drop table hub.hub.hub_account_resolution")
    con.execute("delete from hub.hub.hub_deal_duplicates")
    con.close()
    models = (
        "stg_hub_account_resolution stg_hub_deal_duplicates int_accounts_resolved "
        "int_deal_facts int_deals_enriched deals accounts duplicate_deals"
    )
    res = run_dbt(db, tmp_path / "target", ["run", "--select", *models.split()], dbt_vars())
    assert res.success
    copy = Built(db, built.expected, [], True)
    assert copy.table("analytics.duplicate_deals") == []
    accounts = copy.table("analytics.accounts")
    assert all(r["member_account_keys"] == r["company_key"] for r in accounts)
    solo = next(r for r in accounts if r["company_key"] == "hand:acme")
    # hand:acme alone now: h_won (won 3000); its copy h_copy counts as well (open, 1000)
    assert (solo["won_count"], solo["open_count"], solo["company_name"]) == (1, 1, "ACME")
    n_counted = copy.rows("select count(*) n from analytics.deals where is_counted")[0]["n"]
    assert n_counted == sum(1 for d in built.expected if d.exists)
