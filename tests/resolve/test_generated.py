"""Resolution on a generated world of three CRMs, loaded with dlt into a real DuckDB
warehouse, scored against the generator's truth.

Companies: records seeded from one world account are one company. Duplicates:
``companies.duplicate_truth`` (every migrated copy and its original). Precision must be
1.0 (a false merge corrupts every mart that counts companies or deals); recall is measured
and printed, for the legacy-id rule and for the name-and-dates rule on its own.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.synthetic import WorldSpec
from connectors.synthetic import companies as gen
from hub.resolve import Resolution, resolve
from hub.transform import prepare_warehouse
from hub.warehouse import Warehouse
from models.config import HubConfig
from models.errors import ConfigError
from tests.resolve.world import SeededWorld, hub_config, load, seed

SPEC = WorldSpec(seed=23, n_deals=4000, duplicate_share=0.1, activities_per_deal=0)


@pytest.fixture(scope="module")
def seeded() -> SeededWorld:
    return seed(SPEC)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, seeded: SeededWorld) -> Path:
    """The world's three sources pulled (as dlt loads them) into one DuckDB warehouse."""
    path = tmp_path_factory.mktemp("resolve")
    load(hub_config(path, seeded.sources), seeded.rows, path / ".hub" / "pipelines")
    return path


def run(folder: Path, seeded: SeededWorld, **sections: Any) -> Resolution:
    config = hub_config(folder, seeded.sources, **sections)
    with Warehouse(config).connect() as conn:
        return resolve(conn, config)


def pairs(groups: Iterable[list[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for members in groups for p in combinations(sorted(members), 2)}


def scores(found: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float]:
    hits = len(found & truth)
    return hits / len(found) if found else 1.0, hits / len(truth) if truth else 1.0


def company_scores(result: Resolution, seeded: SeededWorld) -> tuple[float, float]:
    predicted: dict[str, list[str]] = {}
    for row in result.accounts:
        predicted.setdefault(row.company_key, []).append(row.account_key)
    truth: dict[int, list[str]] = {}
    for key, company in seeded.company_of.items():
        truth.setdefault(company, []).append(key)
    return scores(pairs(predicted.values()), pairs(truth.values()))


def duplicate_pairs(result: Resolution) -> set[frozenset[str]]:
    return {frozenset((d.deal_key, d.duplicate_of)) for d in result.duplicates}


def test_companies_match_the_truth(folder: Path, seeded: SeededWorld) -> None:
    result = run(folder, seeded)
    precision, recall = company_scores(result, seeded)
    rules = Counter(r.rule for r in result.accounts)
    print(f"\ncompanies: precision {precision:.4f} recall {recall:.4f} rules {dict(rules)}")
    assert len(result.accounts) == len(seeded.company_of)
    assert precision == 1.0
    assert recall == 1.0
    # Both rules did work here: a company's records without a website joined by name.
    assert rules["domain"] > 0 and rules["name"] > 0
    # A company is named and keyed after its record in the first source (hub.yml order)
    # that holds it, as that source writes it.
    world = seeded.world
    for row in result.accounts:
        account = world.accounts[seeded.company_of[row.account_key]]
        first = next(
            s
            for s, name in enumerate(seeded.sources)
            if seeded.account_key(name, account.index) in seeded.company_of
        )
        assert row.company_key == seeded.account_key(seeded.sources[first], account.index)
        assert row.company_name == gen.account_view(account, first, world.spec.seed).name


def test_the_twins_stay_two_companies(folder: Path, seeded: SeededWorld) -> None:
    twins = gen.twins(seeded.world)
    assert twins is not None
    result = run(folder, seeded)
    company = {r.account_key: r.company_key for r in result.accounts}
    per_twin = [
        {company[k] for k, c in seeded.company_of.items() if c == twin.index} for twin in twins
    ]
    assert all(len(keys) == 1 for keys in per_twin), per_twin  # each twin is one company...
    assert per_twin[0] != per_twin[1]  # ...and they are two


def test_duplicates_by_legacy_id_match_the_truth(folder: Path, seeded: SeededWorld) -> None:
    result = run(folder, seeded, duplicates={"legacy_id_field": "legacy_id"})
    precision, recall = scores(duplicate_pairs(result), seeded.duplicate_pairs)
    rules = Counter(d.rule for d in result.duplicates)
    print(
        f"\nduplicates (legacy id + names): precision {precision:.4f} recall {recall:.4f} {dict(rules)}"
    )
    assert len(seeded.duplicate_pairs) > 300
    assert precision == 1.0
    assert recall == 1.0
    assert rules == {"legacy_id": len(seeded.duplicate_pairs)}  # the stronger rule wins
    # The original is created first, so it counts; its copy is the duplicate.
    assert all(d.deal_key.split(":")[1].startswith("M") for d in result.duplicates)


def test_duplicates_by_name_and_dates_alone(folder: Path, seeded: SeededWorld) -> None:
    """Without the legacy-id field the copies are found by company, name and dates."""
    result = run(folder, seeded)  # no duplicates.legacy_id_field
    precision, recall = scores(duplicate_pairs(result), seeded.duplicate_pairs)
    print(f"\nduplicates (names and dates only): precision {precision:.4f} recall {recall:.4f}")
    assert {d.rule for d in result.duplicates} == {"account_name_dates"}
    assert precision == 1.0
    assert recall >= 0.98
    assert all(0.85 <= d.score <= 1.0 for d in result.duplicates)


def test_prefer_decides_which_copy_counts(folder: Path, seeded: SeededWorld) -> None:
    first, second, third = seeded.sources
    result = run(folder, seeded, duplicates={"legacy_id_field": "legacy_id", "prefer": [third]})
    assert duplicate_pairs(result) == seeded.duplicate_pairs
    counted = Counter(d.duplicate_of.split(":")[0] for d in result.duplicates)
    losing = Counter(d.deal_key.split(":")[0] for d in result.duplicates)
    # Copies pair the sources first->second, second->third, third->first: the third source
    # counts in both pairs it is part of; between the other two the earlier-created wins.
    assert losing[third] == 0
    assert set(counted) == {third, first}
    assert counted[third] == sum(
        1 for p in seeded.duplicate_pairs if any(k.startswith(f"{third}:") for k in p)
    )


def test_overrides_merge_and_split_generated_companies(folder: Path, seeded: SeededWorld) -> None:
    first, second, _ = seeded.sources
    world = seeded.world
    a, b = world.accounts[0].index, world.accounts[1].index
    key_a, key_b = seeded.account_key(first, a), seeded.account_key(second, b)
    split_1, split_2 = seeded.account_key(first, a), seeded.account_key(second, a)
    assert {key_a, key_b, split_2} <= set(seeded.company_of)

    merged = run(folder, seeded, accounts={"same_company": [[key_a, key_b]]})
    company = {r.account_key: r for r in merged.accounts}
    assert company[key_a].company_key == company[key_b].company_key
    assert company[key_a].rule == company[key_b].rule == "override"
    # The rest of both companies came along: one company now holds all their records.
    both = [k for k, c in seeded.company_of.items() if c in (a, b)]
    assert {company[k].company_key for k in both} == {company[key_a].company_key}

    split = run(folder, seeded, accounts={"different_companies": [[split_1, split_2]]})
    company = {r.account_key: r.company_key for r in split.accounts}
    assert company[split_1] != company[split_2]

    with pytest.raises(ConfigError, match="keeps them apart"):
        run(
            folder,
            seeded,
            accounts={"same_company": [[key_a, key_b]], "different_companies": [[key_b, key_a]]},
        )


def test_deleted_records_take_no_part(folder: Path, seeded: SeededWorld, tmp_path: Path) -> None:
    shutil.copytree(folder / ".hub", tmp_path / ".hub", ignore=shutil.ignore_patterns("pipelines"))
    config = hub_config(tmp_path, seeded.sources, duplicates={"legacy_id_field": "legacy_id"})
    first = seeded.sources[0]
    deleted_accounts = sorted(k for k in seeded.company_of if k.startswith(f"{first}:"))[:25]
    copy, original = sorted(next(iter(sorted(seeded.duplicate_pairs, key=sorted))))
    with Warehouse(config).connect() as conn:
        for key in deleted_accounts:
            source = key.split(":")[0]
            conn.execute(
                sa.text(
                    f"UPDATE src_{source}.accounts SET is_deleted = true WHERE account_key = :k"
                ),
                {"k": key},
            )
        source = original.split(":")[0]
        conn.execute(
            sa.text(f"UPDATE src_{source}.deals SET is_deleted = true WHERE deal_key = :k"),
            {"k": original},
        )
        result = resolve(conn, config)
    keys = {r.account_key for r in result.accounts}
    assert keys == set(seeded.company_of) - set(deleted_accounts)
    involved = {k for d in result.duplicates for k in (d.deal_key, d.duplicate_of)}
    assert original not in involved
    assert len(result.duplicates) == len(seeded.duplicate_pairs) - 1


def test_transform_writes_both_tables_for_dbt(folder: Path, seeded: SeededWorld) -> None:
    config: HubConfig = hub_config(
        folder,
        seeded.sources,
        duplicates={"legacy_id_field": "legacy_id"},
        accounts={"same_company": [[seeded.account_key(seeded.sources[0], 0), "nowhere:1"]]},
    )
    for _ in range(2):  # recreated every time, never appended to
        warnings = prepare_warehouse(config)
    assert len(warnings) == 1 and "nowhere:1" in warnings[0]
    with Warehouse(config).connect() as conn:
        expected = resolve(conn, config)
        accounts = conn.execute(
            sa.text(
                "SELECT account_key, company_key, company_name, rule FROM hub_meta.hub_account_resolution ORDER BY account_key"
            )
        ).all()
        duplicates = conn.execute(
            sa.text(
                "SELECT deal_key, duplicate_of, rule, score FROM hub_meta.hub_deal_duplicates ORDER BY deal_key"
            )
        ).all()
    assert [tuple(r) for r in accounts] == [
        (r.account_key, r.company_key, r.company_name, r.rule) for r in expected.accounts
    ]
    assert [tuple(r) for r in duplicates] == [
        (d.deal_key, d.duplicate_of, d.rule, d.score) for d in expected.duplicates
    ]
    assert len(duplicates) == len(seeded.duplicate_pairs)
