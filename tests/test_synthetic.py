"""The synthetic world is deterministic, realistic enough, and knows its exact truth."""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.synthetic import (
    CANONICAL_STAGES,
    OPEN_STAGES,
    STAGE_LABELS,
    GroundTruth,
    SyntheticDeal,
    World,
    WorldSpec,
    compute_truth,
    write_csv_source,
)
from models.canonical import Account, Activity, CanonicalRow, Deal, Owner, StageChange

REPO = Path(__file__).resolve().parents[1]
CSV_FILES = (
    "deals.csv",
    "stage_history.csv",
    "activities.csv",
    "owners.csv",
    "accounts.csv",
    "truth.json",
)
STAGE_INDEX = {s: k for k, s in enumerate(CANONICAL_STAGES)}


@pytest.fixture(scope="module")
def big_world() -> World:
    return World(WorldSpec(n_deals=5000))


@pytest.fixture(scope="module")
def deals(big_world: World) -> list[SyntheticDeal]:
    return list(big_world.iter_deals())


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _files(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in CSV_FILES}


def _moves(deal: SyntheticDeal) -> Iterator[tuple[int, int]]:
    ks = [STAGE_INDEX[v.stage] for v in deal.path]
    return zip(ks, ks[1:], strict=False)


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_writes_identical_csv_bytes_in_another_process(tmp_path: Path) -> None:
    spec = "WorldSpec(seed=7, n_deals=300)"
    write_csv_source(World(WorldSpec(seed=7, n_deals=300)), tmp_path / "here")
    script = (
        "from pathlib import Path\n"
        "from connectors.synthetic import World, WorldSpec, write_csv_source\n"
        f"write_csv_source(World({spec}), Path({str(tmp_path / 'there')!r}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True)
    assert _files(tmp_path / "here") == _files(tmp_path / "there")


def test_two_world_instances_with_the_same_seed_are_identical(tmp_path: Path) -> None:
    write_csv_source(World(WorldSpec(seed=3, n_deals=200)), tmp_path / "a")
    write_csv_source(World(WorldSpec(seed=3, n_deals=200)), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_a_different_seed_gives_different_data() -> None:
    a, b = World(WorldSpec(seed=1, n_deals=50)), World(WorldSpec(seed=2, n_deals=50))
    assert list(a.iter_deals()) != list(b.iter_deals())
    assert [r.name for r in a.reps] != [r.name for r in b.reps]


def test_deal_i_equals_the_ith_streamed_deal_in_any_order() -> None:
    world = World(WorldSpec(n_deals=120))
    streamed = list(world.iter_deals())
    assert [world.deal(i) for i in reversed(range(120))] == streamed[::-1]
    assert list(world.iter_deals(40, 60)) == streamed[40:60]


def test_a_deal_depends_on_seed_and_index_only_not_on_world_size() -> None:
    small, large = World(WorldSpec(n_deals=10)), World(WorldSpec(n_deals=10_000))
    assert [small.deal(i) for i in range(10)] == [large.deal(i) for i in range(10)]


def test_iter_deals_streams_lazily_and_deal_rejects_out_of_range_indexes() -> None:
    world = World(WorldSpec(n_deals=10**9))
    stream = world.iter_deals()
    assert isinstance(stream, Iterator)
    assert next(stream).deal_id == "D0000000"
    with pytest.raises(IndexError):
        World(WorldSpec(n_deals=5)).deal(5)


# --- paths ---------------------------------------------------------------------------------


def test_paths_start_at_creation_in_prospecting_and_are_chronological(
    deals: list[SyntheticDeal],
) -> None:
    for deal in deals:
        assert deal.path[0].stage == "prospecting"
        assert deal.path[0].entered_at == deal.created_at
        times = [v.entered_at for v in deal.path]
        assert times == sorted(times) and len(set(times)) == len(times), deal.deal_id


def test_nothing_happens_after_as_of(deals: list[SyntheticDeal]) -> None:
    as_of = WorldSpec().as_of
    for deal in deals:
        assert deal.path[-1].entered_at <= as_of
        assert all(a.occurred_at <= as_of for a in deal.activities)
        assert deal.updated_at is not None and deal.updated_at <= as_of
        assert deal.closed_at is None or deal.closed_at <= as_of


def test_as_of_mid_day_still_bounds_every_timestamp() -> None:
    as_of = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    for deal in World(WorldSpec(n_deals=500, as_of=as_of, history_days=30)).iter_deals():
        stamps = [v.entered_at for v in deal.path] + [a.occurred_at for a in deal.activities]
        assert max(stamps) <= as_of and deal.updated_at == max(stamps)


def test_won_and_lost_deals_end_in_their_terminal_stage_at_closed_at(
    deals: list[SyntheticDeal],
) -> None:
    terminal = {"won": "closed_won", "lost": "closed_lost"}
    for deal in deals:
        last = deal.path[-1]
        if deal.status == "open":
            assert last.stage in OPEN_STAGES
            assert deal.closed_at is None and deal.lost_reason is None
        else:
            assert last.stage == terminal[deal.status]
            assert last.entered_at == deal.closed_at
            assert (deal.lost_reason is not None) == (deal.status == "lost")


def test_every_stage_visit_is_a_canonical_stage(deals: list[SyntheticDeal]) -> None:
    assert {v.stage for d in deals for v in d.path} == set(CANONICAL_STAGES)


def test_only_reopened_deals_leave_a_terminal_stage(deals: list[SyntheticDeal]) -> None:
    for deal in deals:
        left_terminal = any(a >= 5 for a, _ in _moves(deal))
        assert left_terminal == deal.is_reopened
        assert all(a != STAGE_INDEX["closed_won"] for a, _ in _moves(deal))


# --- realism -------------------------------------------------------------------------------


def test_backward_skip_and_reopen_rates_are_plausible(deals: list[SyntheticDeal]) -> None:
    n = len(deals)
    backward = sum(any(b < a < 5 for a, b in _moves(d)) for d in deals) / n
    skipped = sum(any(a + 1 < b < 5 for a, b in _moves(d)) for d in deals) / n
    reopened = sum(d.is_reopened for d in deals) / n
    assert 0.03 <= backward <= 0.08
    assert 0.05 <= skipped <= 0.11
    assert 0.01 <= reopened <= 0.035


def test_currency_mix_follows_the_spec_weights(deals: list[SyntheticDeal]) -> None:
    share = {c: k / len(deals) for c, k in Counter(d.currency for d in deals).items()}
    assert 0.56 <= share["USD"] <= 0.64
    assert 0.26 <= share["EUR"] <= 0.34
    assert 0.07 <= share["GBP"] <= 0.13


def test_outcomes_amounts_and_overrides_look_like_a_real_pipeline(
    deals: list[SyntheticDeal],
) -> None:
    status = Counter(d.status for d in deals)
    assert 0.05 <= status["open"] / len(deals) <= 0.25
    assert 0.08 <= status["won"] / (status["won"] + status["lost"]) <= 0.25
    assert 12_000 <= statistics.median(float(d.amount) for d in deals) <= 30_000
    assert all(d.amount.as_tuple().exponent == -2 and d.amount > 0 for d in deals)
    overrides = [d.probability for d in deals if d.probability is not None]
    assert 0.07 <= len(overrides) / len(deals) <= 0.13
    assert all(0 <= p <= 1 for p in overrides)


def test_recent_deals_are_more_often_still_open(deals: list[SyntheticDeal]) -> None:
    recent = WorldSpec().as_of - timedelta(days=60)
    new = [d.status == "open" for d in deals if d.created_at >= recent]
    old = [d.status == "open" for d in deals if d.created_at < recent]
    assert sum(new) / len(new) > 2 * sum(old) / len(old)


def test_activities_average_the_spec_and_start_soon_after_creation(
    deals: list[SyntheticDeal],
) -> None:
    acts = [a for d in deals for a in d.activities]
    assert 2.8 <= len(acts) / len(deals) <= 3.2
    assert {a.type for a in acts} == {"call", "email", "meeting", "note", "task"}
    first = [
        (d.activities[0].occurred_at - d.created_at).total_seconds() for d in deals if d.activities
    ]
    assert statistics.median(first) < timedelta(days=1).total_seconds()
    for a in acts:
        assert (a.duration_s is not None) == (a.type in ("call", "meeting"))
        assert (a.direction is not None) == (a.type in ("call", "email"))


def test_meetings_cluster_in_the_meeting_and_proposal_stages(
    deals: list[SyntheticDeal],
) -> None:
    by_stage: Counter[str] = Counter()
    meetings: Counter[str] = Counter()
    for deal in deals:
        for a in deal.activities:
            stage = [v.stage for v in deal.path if v.entered_at <= a.occurred_at][-1]
            by_stage[stage] += 1
            meetings[stage] += a.type == "meeting"
    share = {s: meetings[s] / by_stage[s] for s in by_stage}
    assert share["meeting"] > 2 * share["prospecting"]
    assert share["proposal"] > 2 * share["prospecting"]


def test_inactive_reps_keep_only_deals_that_closed_before_they_left(
    big_world: World, deals: list[SyntheticDeal]
) -> None:
    gone = {r.rep_id: r.left_at for r in big_world.reps if not r.is_active}
    assert gone and any(r.is_active for r in big_world.reps)
    owned = [d for d in deals if d.owner in gone]
    assert owned, "inactive reps still own their closed deals"
    for deal in owned:
        left_at = gone[deal.owner]
        assert left_at is not None and deal.closed_at is not None
        assert deal.closed_at <= left_at


def test_reps_and_accounts_are_unique_and_some_names_are_unicode(big_world: World) -> None:
    assert len({r.email for r in big_world.reps}) == len(big_world.reps)
    assert len({a.name for a in big_world.accounts}) == len(big_world.accounts)
    names = {a.name for a in big_world.accounts}
    assert {"Müller GmbH", "Café Olé"} <= names


# --- slicing -------------------------------------------------------------------------------


def test_source_slices_partition_the_world() -> None:
    world = World(WorldSpec(n_deals=403))
    slices = [[d.index for d in world.iter_deals_for(k, 4)] for k in range(4)]
    assert sorted(i for s in slices for i in s) == list(range(403))
    assert all(i % 4 == k for k, s in enumerate(slices) for i in s)
    with pytest.raises(ValueError):
        world.iter_deals_for(4, 4)


def test_every_active_rep_works_in_every_source(big_world: World) -> None:
    active = {r.rep_id for r in big_world.reps if r.is_active}
    for k in range(4):
        assert active <= {d.owner for d in big_world.iter_deals_for(k, 4)}


# --- truth and CSV -------------------------------------------------------------------------


def _truth_from_csv(out: Path) -> GroundTruth:
    """Recount the truth from the CSV files alone: an independent path through the data."""
    canonical = {label: stage for stage, label in STAGE_LABELS.items()}
    deals = _read_csv(out / "deals.csv")
    history: dict[str, list[str]] = {}
    for row in _read_csv(out / "stage_history.csv"):
        history.setdefault(row["deal_id"], []).append(canonical[row["stage"]])
    acts = _read_csv(out / "activities.csv")
    truth = GroundTruth(n_deals=len(deals), n_activities=len(acts))
    truth.n_stage_visits = sum(len(v) for v in history.values())
    for row in deals:
        truth.deals_by_status[row["status"]] += 1
        truth.deals_by_current_stage[canonical[row["stage"]]] += 1
        if row["status"] == "won":
            cur = row["currency"]
            truth.won_amount_by_currency[cur] = truth.won_amount_by_currency.get(
                cur, Decimal(0)
            ) + Decimal(row["amount"])
        visited = history[row["deal_id"]]
        furthest = max(STAGE_INDEX[s] for s in visited if s != "closed_lost")
        for stage in CANONICAL_STAGES[: furthest + 1]:
            truth.reached_stage[stage] += 1
        truth.reached_stage["closed_lost"] += "closed_lost" in visited
    for row in acts:
        truth.activities_by_type[row["type"]] += 1
    return truth


@pytest.mark.parametrize("source_index", [0, 2])
def test_truth_equals_counts_recomputed_from_the_csv_files(
    tmp_path: Path, source_index: int
) -> None:
    world = World(WorldSpec(seed=11, n_deals=1500))
    export = write_csv_source(world, tmp_path, source_index=source_index, n_sources=3)
    truth = GroundTruth.from_json(export.truth_path.read_text(encoding="utf-8"))
    recount = _truth_from_csv(tmp_path)
    for key in (
        "n_deals",
        "deals_by_status",
        "deals_by_current_stage",
        "reached_stage",
        "won_amount_by_currency",
        "activities_by_type",
        "n_activities",
        "n_stage_visits",
        "win_rate",
    ):
        assert getattr(truth, key) == getattr(recount, key), key
    assert truth.to_dict() == compute_truth(world.iter_deals_for(source_index, 3)).to_dict()
    assert export.row_counts == {
        "deals": truth.n_deals,
        "activities": truth.n_activities,
        "owners": len(world.reps),
        "stage_history": truth.n_stage_visits,
        "accounts": len(world.source_accounts(source_index, 3)),
    }


def test_reached_stage_counts_later_stages_as_passing_earlier_ones() -> None:
    truth = compute_truth(World(WorldSpec(n_deals=2000)).iter_deals())
    reached = [truth.reached_stage[s] for s in CANONICAL_STAGES[:6]]
    assert reached == sorted(reached, reverse=True)
    assert reached[0] == truth.n_deals
    assert truth.reached_stage["closed_won"] == truth.deals_by_status["won"]
    assert truth.reached_stage["closed_lost"] >= truth.deals_by_status["lost"]
    assert truth.win_rate == pytest.approx(
        truth.deals_by_status["won"]
        / (truth.deals_by_status["won"] + truth.deals_by_status["lost"])
    )
    assert compute_truth([]).win_rate is None


def test_csv_files_use_native_labels_z_timestamps_and_round_trip_unicode(
    tmp_path: Path,
) -> None:
    world = World(WorldSpec(n_deals=400))
    write_csv_source(world, tmp_path)
    rows = _read_csv(tmp_path / "deals.csv")
    assert {r["stage"] for r in rows} <= set(STAGE_LABELS.values())
    assert {r["pipeline"] for r in rows} == {"Sales"}
    deal = world.deal(0)
    assert rows[0]["created_at"] == deal.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows[0]["amount"] == str(deal.amount)
    assert rows[0]["expected_close_date"] == deal.expected_close_date.isoformat()
    by_id = {a.account_id: a.name for a in world.accounts}
    assert all(by_id[r["account_id"]] == r["account_name"] for r in rows)
    assert all(
        (r["probability"] == "") == (world.deal(int(r["deal_id"][1:])).probability is None)
        for r in rows
    )
    owners = _read_csv(tmp_path / "owners.csv")
    assert [o["email"] for o in owners] == [r.email for r in world.reps]
    assert {o["is_active"] for o in owners} == {"true", "false"}
    acts = _read_csv(tmp_path / "activities.csv")
    assert {a["completed"] for a in acts} == {"true", "false"}
    assert {a["owner_email"] for a in acts} <= {r.email for r in world.reps}


def test_hub_config_maps_canonical_field_names_to_written_columns(tmp_path: Path) -> None:
    export = write_csv_source(World(WorldSpec(n_deals=20)), tmp_path)
    models: dict[str, type[CanonicalRow]] = {
        "deals": Deal,
        "activities": Activity,
        "owners": Owner,
        "stage_history": StageChange,
        "accounts": Account,
    }
    assert set(export.hub_config) == set(models)
    for table, cfg in export.hub_config.items():
        fields = set(models[table].model_fields) | {"deal_id"}
        assert set(cfg["columns"]) <= fields, table
        with Path(cfg["path"]).open(encoding="utf-8") as f:
            header = next(csv.reader(f))
        assert [*cfg["columns"].values(), *cfg.get("custom_fields", {})] == header
    assert export.stage_labels == STAGE_LABELS
