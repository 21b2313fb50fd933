"""The report's cross-CRM figures on two CSV sources of one world that share companies and
migrated deals (tests/report/two_sources.py), compared with figures computed from the
generator's World itself, and with the marts.

- Pipeline by company: how many companies sit in both CRMs (``World.source_accounts``) and
  the top companies' open and won figures, from the world's deals, each counted once.
- By <dimension>: win rate, won amount, average won deal and median won cycle per lead source
  (a deal field) and per segment (an account field), from the world's deals.
- Duplicates found: exactly the world's migrated copies (``companies.duplicate_truth``), each
  pointing at the deal counted instead; the header says how many each source had left out.

Plus the report on a warehouse an older hub transformed, ``--dimension``, and the warnings
``hub transform`` prints (``hub sync``'s: test_report_hostile).
"""

from __future__ import annotations

import html
import shutil
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.synthetic import World
from connectors.synthetic import companies as gen
from connectors.synthetic.world import SyntheticDeal
from hub.generate import DEMO_FX_RATES
from hub.report import write_report
from hub.warehouse import Warehouse
from models.canonical import make_key
from models.config import load_config
from tests.report import two_sources
from tests.report.checks import chart_problems, table_problems
from tests.report.conftest import LoadedPage, load_page
from tests.report.expected import TOP_COMPANIES, expected
from tests.report.page_reader import read_html

pytestmark = pytest.mark.slow

SOURCES = two_sources.SOURCES
RATES = {"USD": 1.0, **DEMO_FX_RATES}
# Override keys no account has: resolution warns about each; [..] and <..> must stay text.
GHOST_KEYS = ["crm_alpha:[red]ghost[/red]", "crm_beta:<b>ghost</b>"]


@dataclass(frozen=True)
class CrossCrm:
    built: two_sources.TwoSources
    report: Path
    content: dict[str, Any]


@pytest.fixture(scope="module")
def cross_crm(tmp_path_factory: pytest.TempPathFactory) -> CrossCrm:
    built = two_sources.build(
        tmp_path_factory.mktemp("cross_crm"),
        extra={"accounts": {"same_company": [GHOST_KEYS]}},
        commands=("pull", "transform"),
    )
    report = write_report(built.config)
    return CrossCrm(built, report, read_html(report.read_text(encoding="utf-8")))


def _by(rows: list[dict[str, Any]], column: str) -> dict[str | None, dict[str, Any]]:
    return {r[column]["v"]: r for r in rows}


def _close(page: str | None, value: float | None) -> bool:
    if page is None or value is None:
        return page is None and value is None
    return abs(float(page) - value) <= 1e-9 * max(1.0, abs(value))


def _base(deal: SyntheticDeal) -> float:
    return float(Decimal(deal.amount)) * RATES[deal.currency]


def _cycle_days(deal: SyntheticDeal) -> float:
    assert deal.closed_at is not None
    return (deal.closed_at - deal.created_at).total_seconds() / 86_400


# ----- the page against the marts -----------------------------------------------------------


def test_the_page_equals_the_marts(cross_crm: CrossCrm) -> None:
    exp = expected(cross_crm.built.config)
    assert exp["omitted"] == set()
    assert table_problems(cross_crm.content, exp) == []
    assert chart_problems(cross_crm.content, exp) == []


def test_the_comparison_catches_a_wrong_cross_crm_number(cross_crm: CrossCrm) -> None:
    """The checks are not vacuous for the new figures either."""
    text = cross_crm.report.read_text(encoding="utf-8")
    exp = expected(cross_crm.built.config)
    for key, attribute in (
        ("companies", 'data-fact-in_several_crms="'),
        ("by_dimension", '<td data-key="won_count" data-value="'),
        ("duplicates", '<td data-key="duplicate_of" data-value="'),
    ):
        at = text.index(attribute, text.index(f'<section id="{key}"')) + len(attribute)
        wrong = text[:at] + "9" + text[at:]
        assert any(key in p for p in table_problems(read_html(wrong), exp)), key


# ----- companies ----------------------------------------------------------------------------


def _world_companies(world: World) -> dict[str, dict[str, Any]]:
    """Per world account (its account_id): sources holding it and its deals' figures, each
    world deal once (a migrated copy is its original)."""
    holders: dict[str, list[str]] = defaultdict(list)
    for index, source in enumerate(SOURCES):
        for account in world.source_accounts(index, len(SOURCES)):
            holders[account.account_id].append(source)
    out: dict[str, dict[str, Any]] = {
        account_id: {
            "sources": sorted(held),
            "open_count": 0,
            "open_amount_base": None,
            "won_count": 0,
            "won_amount_base": None,
            "lost_count": 0,
        }
        for account_id, held in holders.items()
    }
    for deal in world.iter_deals():
        row = out[deal.account.account_id]
        row[f"{deal.status}_count"] += 1  # open / won / lost at as_of (the world's end)
        if deal.status in ("open", "won"):
            amount = f"{deal.status}_amount_base"
            row[amount] = (row[amount] or 0.0) + _base(deal)
    return out


def test_companies_in_both_crms_are_the_worlds(cross_crm: CrossCrm) -> None:
    world = cross_crm.built.world
    held = [{a.account_id for a in world.source_accounts(i, 2)} for i in range(2)]
    facts = cross_crm.content["sections"]["companies"]["facts"]
    assert int(facts["in_several_crms"]) == len(held[0] & held[1]) > 50
    assert int(facts["companies"]) == len(held[0] | held[1])
    title = cross_crm.content["sections"]["companies"]["title"]
    assert title == "Pipeline by company, across CRMs"


def test_top_companies_by_open_pipeline_are_the_worlds(cross_crm: CrossCrm) -> None:
    world = _world_companies(cross_crm.built.world)
    with_open = [k for k, v in world.items() if v["open_count"]]
    top = sorted(with_open, key=lambda k: -world[k]["open_amount_base"])[:TOP_COMPANIES]
    rows = cross_crm.content["tables"]["companies"]
    # the company key is the preferred source's account key; a CSV account id is the world's
    assert [r["company_key"]["v"].split(":", 1)[1] for r in rows] == top
    for row in rows:
        account_id = row["company_key"]["v"].split(":", 1)[1]
        mine = world[account_id]
        assert row["company_key"]["v"] == make_key(mine["sources"][0], account_id)  # preferred
        assert row["source_names"]["v"] == ",".join(mine["sources"])
        assert int(row["n_sources"]["v"]) == len(mine["sources"])
        for column in ("open_count", "won_count"):
            assert int(row[column]["v"]) == mine[column], column
        for column in ("open_amount_base", "won_amount_base"):
            assert _close(row[column]["v"], mine[column]), column
        closed = mine["won_count"] + mine["lost_count"]
        assert _close(row["win_rate"]["v"], mine["won_count"] / closed if closed else None)
    chart = cross_crm.content["charts"]["companies"]["traces"]
    assert {t["name"] for t in chart} <= {"in 2+ CRMs", "in one CRM"}
    assert sum(len(t["x"]) for t in chart) == len(rows)


# ----- by dimension -------------------------------------------------------------------------


def _world_by(deals: Iterable[SyntheticDeal], value_of: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[SyntheticDeal]] = defaultdict(list)
    for deal in deals:
        if deal.status in ("won", "lost"):
            groups[value_of(deal)].append(deal)
            groups["*"].append(deal)
    out = {}
    for value, closed in groups.items():
        won = [d for d in closed if d.status == "won"]
        out[value] = {
            "closed_count": len(closed),
            "won_count": len(won),
            "lost_count": len(closed) - len(won),
            "win_rate": len(won) / len(closed),
            "won_amount_base": sum(_base(d) for d in won) if won else None,
            "avg_won_amount_base": statistics.fmean(_base(d) for d in won) if won else None,
            "median_won_cycle_days": statistics.median(map(_cycle_days, won)) if won else None,
        }
    return out


def _check_breakdown(content: dict[str, Any], world: dict[str, dict[str, Any]]) -> None:
    rows = _by(content["tables"]["by_dimension"], "dimension_value")
    assert set(rows) == set(world)
    for value, figures in world.items():
        for column, number in figures.items():
            assert _close(rows[value][column]["v"], number), (value, column)
    assert rows["*"]["dimension_value"]["t"] == "all values"
    assert list(rows)[0] == "*"  # the all-values row first, then by closed deals
    closed = [int(r["closed_count"]["v"]) for v, r in rows.items() if v != "*"]
    assert closed == sorted(closed, reverse=True)


def test_win_rate_by_lead_source_is_the_worlds(cross_crm: CrossCrm) -> None:
    """lead_source, hub.yml's first dimension, is the default."""
    world = _world_by(cross_crm.built.world.iter_deals(), lambda d: d.lead_source)
    assert set(world) == {"*", "Inbound", "Outbound", "Referral", "Partner", "Event"}
    assert cross_crm.content["sections"]["by_dimension"]["title"] == "By lead_source"
    _check_breakdown(cross_crm.content, world)
    # the chart: won amount and win rate per value, in the table's order
    traces = {t["name"]: t for t in cross_crm.content["charts"]["by_dimension"]["traces"]}
    values = [r["dimension_value"]["v"] for r in cross_crm.content["tables"]["by_dimension"]]
    assert [world[v]["win_rate"] for v in values[1:]] == pytest.approx(traces["win rate"]["y"])


def test_dimension_option_picks_segment(cross_crm: CrossCrm, cli, tmp_path: Path) -> None:
    out = tmp_path / "by_segment.html"
    result = cli(
        "report", "--config", cross_crm.built.config_path, "--out", out, "--dimension", "segment"
    )
    assert result.exit_code == 0, result.output
    content = read_html(out.read_text(encoding="utf-8"))
    assert content["sections"]["by_dimension"]["title"] == "By segment"
    world = _world_by(cross_crm.built.world.iter_deals(), lambda d: d.account.segment)
    assert set(world) == {"*", "Enterprise", "Mid-Market", "SMB"}
    _check_breakdown(content, world)
    exp = expected(cross_crm.built.config, dimension="segment")
    assert table_problems(content, exp) == []
    assert chart_problems(content, exp) == []


def test_an_unknown_dimension_is_a_clear_error(cross_crm: CrossCrm, cli) -> None:
    result = cli("report", "--config", cross_crm.built.config_path, "--dimension", "industry")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "'industry' is not one of hub.yml's dimensions (lead_source, segment)" in text


def test_no_dimension_configured_leaves_the_figure_out(
    cross_crm: CrossCrm, tmp_path: Path, cli
) -> None:
    config = cross_crm.built.config.model_copy(update={"dimensions": []})
    content = read_html(write_report(config, tmp_path / "r.html").read_text(encoding="utf-8"))
    section = content["sections"]["by_dimension"]
    assert section["omitted"] and "by_dimension" not in content["tables"]
    assert "by_dimension" not in content["charts"]
    exp = expected(config)
    assert exp["omitted"] == {"by_dimension"}
    assert table_problems(content, exp) == []
    # and asking for one is an error that says none are configured
    raw = yaml.safe_load(cross_crm.built.config_path.read_text(encoding="utf-8"))
    del raw["dimensions"]
    path = tmp_path / "hub.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = cli("report", "--config", path, "--dimension", "lead_source")
    assert result.exit_code == 2 and "none are configured" in result.output


# ----- duplicates ---------------------------------------------------------------------------


def _world_duplicates(world: World) -> dict[str, str]:
    """copy key -> key of the deal counted instead: the earlier created, on a tie the
    source listed first in hub.yml (docs/accounts.md)."""
    out = {}
    for pair in gen.duplicate_truth(world, len(SOURCES)):
        original = world.deal(int(pair.original_deal_id[1:]))
        copy = gen.migrated_copy(original, world.spec)
        assert copy.deal_id == pair.copy_deal_id
        original_key = make_key(SOURCES[pair.original_source], pair.original_deal_id)
        copy_key = make_key(SOURCES[pair.copy_source], pair.copy_deal_id)
        original_wins = (original.created_at, pair.original_source) < (
            copy.created_at,
            pair.copy_source,
        )
        loser, winner = (copy_key, original_key) if original_wins else (original_key, copy_key)
        out[loser] = winner
    return out


def test_duplicates_found_are_the_worlds_migrated_copies(cross_crm: CrossCrm) -> None:
    world = _world_duplicates(cross_crm.built.world)
    assert len(world) > 30
    rows = _by(cross_crm.content["tables"]["duplicates"], "deal_key")
    assert {k: r["duplicate_of"]["v"] for k, r in rows.items()} == world
    for key, row in rows.items():
        assert key is not None
        assert row["source_name"]["v"] == key.split(":")[0]
        assert row["duplicate_of_source_name"]["v"] == world[key].split(":")[0]
        assert (row["rule"]["v"], float(row["score"]["v"]), row["is_duplicate"]["v"]) == (
            "legacy_id",
            1.0,
            "true",
        )
    section = cross_crm.content["sections"]["duplicates"]
    assert section["title"] == f"Duplicates found ({len(world)})"
    assert section["facts"] == {"pairs": str(len(world)), "left_out": str(len(world))}
    # the header: copies each source had left out, and each world deal counted once
    left_out = Counter(key.split(":")[0] for key in world)
    chips = {s["name"]: s for s in cross_crm.content["sources"]}
    assert {n: int(c["duplicates"]) for n, c in chips.items()} == {s: left_out[s] for s in SOURCES}
    assert sum(int(c["deals"]) for c in chips.values()) == cross_crm.built.world.spec.n_deals


# ----- an older warehouse, and the warnings of transform -----------------------------------


def test_a_warehouse_without_the_new_marts_still_renders(
    cross_crm: CrossCrm, tmp_path: Path
) -> None:
    """As an older hub left it: no accounts, duplicate_deals or *_by_dimension marts, and a
    deals mart without is_counted / is_duplicate. The old figures render, each new one is a
    note saying what is missing."""
    project = tmp_path / "old"
    shutil.copytree(cross_crm.built.folder, project, ignore=shutil.ignore_patterns("pipelines"))
    config = load_config(project / "hub.yml")
    with Warehouse(config).connect() as conn:
        for mart in (
            "accounts",
            "duplicate_deals",
            "win_rate_by_dimension",
            "deal_size_by_dimension",
            "sales_cycle_by_dimension",
        ):
            conn.exec_driver_sql(f"DROP TABLE analytics.{mart}")
        # The old deals mart was a table without these columns (today it is a view).
        conn.exec_driver_sql(
            "CREATE TABLE analytics.deals_old AS SELECT * EXCLUDE "
            "(is_counted, is_duplicate, duplicate_of) FROM analytics.deals"
        )
        conn.exec_driver_sql("DROP VIEW analytics.deals")
        conn.exec_driver_sql("ALTER TABLE analytics.deals_old RENAME TO deals")
    text = write_report(config, tmp_path / "old.html").read_text(encoding="utf-8")
    content = read_html(text)
    exp = expected(config)
    assert exp["omitted"] == {"companies", "by_dimension", "duplicates"}
    assert table_problems(content, exp) == []
    assert chart_problems(content, exp) == []
    text = html.unescape(text)
    for key, mart in (
        ("companies", "analytics.accounts"),
        ("duplicates", "analytics.duplicate_deals"),
        ("by_dimension", "analytics.win_rate_by_dimension"),
    ):
        assert content["sections"][key]["omitted"] and key not in content["tables"], key
        note = f"Not shown: this warehouse has no {mart}"
        assert note in text and "run 'hub transform' to add this figure" in text, key
    # without is_duplicate the page cannot say how many copies were left out, and does not
    assert all(s["duplicates"] is None for s in content["sources"])


def test_transform_prints_resolution_warnings_as_text(cross_crm: CrossCrm) -> None:
    output = cross_crm.built.output["transform"]
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(GHOST_KEYS), output
    for key, line in zip(GHOST_KEYS, warnings, strict=True):  # [red], <b>: text, not markup
        assert line == (
            f"warning: hub.yml accounts.same_company: no live account {key!r} in the warehouse "
            "(not pulled yet, deleted, or misspelt); the entry ignores it"
        )


# ----- in the browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cross_crm_page(
    chromium_binary: str, cross_crm: CrossCrm, tmp_path_factory: pytest.TempPathFactory
) -> LoadedPage:
    return load_page(chromium_binary, cross_crm.report, tmp_path_factory.mktemp("chromium-x"))


def test_the_new_charts_render_in_the_browser(
    cross_crm_page: LoadedPage, cross_crm: CrossCrm
) -> None:
    assert cross_crm_page.ready == "true"
    assert cross_crm_page.console_errors == []
    assert cross_crm_page.requested_urls == [cross_crm_page.url]
    charts = cross_crm_page.content["charts"]
    for key in ("companies", "by_dimension", "duplicates"):
        chart = charts[key]
        assert chart["svgs"] >= 1 and chart["drawn_paths"] >= 1, f"chart {key}: {chart}"
        assert chart["trace_groups"] >= len(chart["traces"]), f"chart {key}: traces not drawn"
        assert chart["width"] > 300 and chart["height"] > 150, f"chart {key}: {chart}"
    exp = expected(cross_crm.built.config)
    assert table_problems(cross_crm_page.content, exp) == []
    assert chart_problems(cross_crm_page.content, exp) == []
