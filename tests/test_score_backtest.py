"""`hub score --backtest`: the deal score beats the static stage probabilities on Brier
score, and it scores exactly the deals the generator says were open at the cutoff and
closed before as_of."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.synthetic import OPEN_STAGES, World, WorldSpec
from hub.backtest import auc, backtest
from hub.generate import generate
from models.config import load_config

CUTOFF = datetime(2026, 3, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from hub.cli import app

    folder = tmp_path_factory.mktemp("score")
    generated = generate(folder, seed=42, deals=1500)
    result = CliRunner().invoke(app, ["sync", "--config", str(generated.config_path)])
    assert result.exit_code == 0, result.output
    return folder / "hub.yml"


def _expected_test_set(spec: WorldSpec) -> dict[str, bool]:
    """deal id -> won, from the generator: open at the cutoff, closed by as_of."""
    expected = {}
    for deal in World(spec).iter_deals():
        if (
            deal.status == "open"
            or deal.closed_at is None
            or not CUTOFF < deal.closed_at <= spec.as_of
        ):
            continue
        at_cutoff = [v.stage for v in deal.path if v.entered_at <= CUTOFF]
        if at_cutoff and at_cutoff[-1] in OPEN_STAGES:
            expected[deal.deal_id] = deal.status == "won"
    return expected


def test_backtest_scores_the_right_deals_and_beats_static_probabilities(synced: Path) -> None:
    config = load_config(synced)
    result = backtest(config, cutoff=CUTOFF)
    expected = _expected_test_set(WorldSpec(seed=42, n_deals=1500))
    got = {s.deal_key.split(":", 1)[1]: s.won for s in result.scored}
    assert got == expected
    assert result.n > 100
    score, static = result.brier("score"), result.brier("static")
    assert score is not None and static is not None
    assert score < static, f"deal score Brier {score:.4f} vs static {static:.4f}"


def test_backtest_cli_prints_both_models(cli, synced: Path) -> None:
    result = cli("score", "--backtest", "--config", synced, "--cutoff", "2026-03-31")
    assert result.exit_code == 0, result.output
    assert "deal score" in result.output and "static stage probability" in result.output
    assert "Brier" in result.output


def test_auc_by_rank_sum_matches_a_hand_count() -> None:
    # pairs (won, lost): (0.9,0.1) (0.9,0.5) (0.5,0.1) (0.5,0.5 tie) -> 3.5 of 4
    assert auc([0.9, 0.5, 0.1, 0.5], [True, True, False, False]) == pytest.approx(3.5 / 4)
    assert auc([0.2, 0.3], [True, True]) is None
