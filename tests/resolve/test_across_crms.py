"""One world in four sources as the hub meets them: a CSV export and the three CRM sandboxes
over real HTTP, each writing the shared companies its own way and holding migrated copies
of the previous source's deals. After a real pull and dbt run, the hub's companies
(analytics.accounts) and duplicates (analytics.duplicate_deals) are scored against the
world's truth: which records were seeded from one company, which deals are copies of which.
Precision must be 1.0 (no false merge); recall is printed, and on this seeded world is 1.0."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.sandbox import SandboxServer
from connectors.synthetic import World, WorldSpec, compute_truth, write_csv_source
from connectors.synthetic.companies import duplicate_truth, twins
from hub.generate import csv_source_entry, demo_config
from hub.pull import run_pull
from hub.transform import run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.harness import start_sandbox, stop_quietly, write_hub_yml

KINDS = ("hubspot", "pipedrive", "salesforce")
N_SOURCES = 1 + len(KINDS)
PER_SOURCE = 150
SEED = 23
SHARE = 0.1


@dataclass
class Run:
    config: HubConfig
    world: World
    account_truth: dict[str, str]  # account_key -> world account_id
    deal_truth: dict[str, str]  # deal_key -> world deal_id (copies: M...)

    def rows(self, sql: str) -> list[Any]:
        with Warehouse(self.config).connect() as conn:
            return list(conn.execute(sa.text(sql)).all())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("across")
    spec = WorldSpec(seed=SEED, n_deals=PER_SOURCE * N_SOURCES, duplicate_share=SHARE)
    world = World(spec)
    export = write_csv_source(world, folder / "csv", source_index=0, n_sources=N_SOURCES)
    sources = [csv_source_entry(export, "csv_export", folder)]
    account_truth = {
        f"csv_export:{a.account_id}": a.account_id for a in world.source_accounts(0, N_SOURCES)
    }
    deal_truth = {
        f"csv_export:{d.deal_id}": d.deal_id for d in world.iter_source_deals(0, N_SOURCES)
    }
    sandboxes: list[SandboxServer] = []
    try:
        for index, kind in enumerate(KINDS, start=1):
            sandbox = start_sandbox(
                kind,
                seed=SEED,
                n_deals=PER_SOURCE,
                source_index=index,
                n_sources=N_SOURCES,
                duplicate_share=SHARE,
            )
            sandboxes.append(sandbox)
            name = f"{kind}_x"
            sources.append(sandbox.source_config(name))
            account_truth |= {f"{name}:{n}": w for n, w in sandbox.world_account_ids().items()}
            deal_truth |= {f"{name}:{n}": w for n, w in sandbox.world_deal_ids().items()}
        config = load_config(write_hub_yml(folder, demo_config(spec, sources)))
        runs = run_pull(config)
        assert all(r.status == "ok" for r in runs), [r.error for r in runs]
        result = run_transform(config)
        assert not result.failures, result.failures
    finally:
        stop_quietly(sandboxes)
    yield Run(config, world, account_truth, deal_truth)


def _scores(found: set[frozenset[str]], true: set[frozenset[str]]) -> tuple[float, float]:
    right = len(found & true)
    return (right / len(found) if found else 1.0, right / len(true) if true else 1.0)


def test_companies_resolve_with_no_false_merge_and_full_recall(run: Run) -> None:
    members = [
        keys.split(",")
        for (keys,) in run.rows("SELECT member_account_keys FROM analytics.accounts")
    ]
    assert sorted(k for group in members for k in group) == sorted(run.account_truth)
    found = {frozenset(p) for group in members for p in combinations(group, 2)}
    by_company: dict[str, list[str]] = {}
    for key, company in run.account_truth.items():
        by_company.setdefault(company, []).append(key)
    true = {frozenset(p) for group in by_company.values() for p in combinations(group, 2)}
    precision, recall = _scores(found, true)
    print(f"companies: {len(members)} resolved, precision {precision:.3f}, recall {recall:.3f}")
    assert precision == 1.0
    assert recall == 1.0
    assert len(members) == len(by_company)
    pair = twins(run.world)
    assert pair is not None
    twin_ids = {pair[0].account_id, pair[1].account_id}
    for group in members:  # the twins share a name up to the suffix, never a company
        assert len({run.account_truth[k] for k in group} & twin_ids) <= 1


def test_migrated_copies_are_found_and_each_real_deal_counted_once(run: Run) -> None:
    found_rows = run.rows("SELECT deal_key, duplicate_of, rule FROM analytics.duplicate_deals")
    found = {frozenset((run.deal_truth[d], run.deal_truth[o])) for d, o, _ in found_rows}
    truth = duplicate_truth(run.world, N_SOURCES)
    true = {frozenset((p.copy_deal_id, p.original_deal_id)) for p in truth}
    precision, recall = _scores(found, true)
    by_legacy = {
        frozenset((run.deal_truth[d], run.deal_truth[o]))
        for d, o, r in found_rows
        if r == "legacy_id"
    }
    # Only copies of the CSV export's deals carry an id another source holds natively.
    legacy_true = {
        frozenset((p.copy_deal_id, p.original_deal_id)) for p in truth if p.original_source == 0
    }
    print(
        f"duplicates: {len(found)} found of {len(true)}, precision {precision:.3f}, "
        f"recall {recall:.3f}; legacy-id rule {len(by_legacy)} of {len(legacy_true)}"
    )
    assert len(true) >= 20
    assert precision == 1.0
    assert by_legacy == legacy_true
    assert recall == 1.0  # deterministic world: every copy is found
    # Consolidated: the world's deals, each once (copies left out), win and loss as the world.
    world_truth = compute_truth(run.world.iter_deals())
    ((counted, won, lost),) = run.rows(
        "SELECT count(*), sum(CASE WHEN is_won THEN 1 ELSE 0 END), "
        "sum(CASE WHEN is_lost THEN 1 ELSE 0 END) FROM analytics.deals WHERE is_counted"
    )
    assert counted == world_truth.n_deals
    assert (won, lost) == (
        world_truth.deals_by_status["won"],
        world_truth.deals_by_status["lost"],
    )
    ((all_deals,),) = run.rows("SELECT count(*) FROM analytics.deals")
    assert all_deals - counted == len(found)
