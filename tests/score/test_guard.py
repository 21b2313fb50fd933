"""The push guard on real backtests: scores pass where they beat the stage win rate, and are
held back (with the figures) where the driver flipped after the cutoff."""

from __future__ import annotations

from hub.push import plan_push
from hub.score.backtest import run_backtest
from hub.score.guard import score_verdict
from hub.warehouse import Warehouse
from models.config import HubConfig
from tests.score.conftest import FLIP_AT, Book
from tests.score.world import AS_OF, open_at


def _verdict(config: HubConfig):
    with Warehouse(config).connect() as conn:
        return score_verdict(conn)


def _passed_rows(book: Book, config: HubConfig) -> int:
    """Outbound rows that reached the CSV source's planning (it has no writer, so the plan
    counts them in a note): the guard let them through."""
    notes = [n for n in plan_push(config).notes if "has no writer" in n]
    return int(notes[0].split("; ")[1].split()[0]) if notes else 0


def test_scores_pass_where_they_beat_the_stage_rate(driven_book: Book) -> None:
    config = driven_book.config
    run_backtest(config)
    verdict = _verdict(config)
    assert verdict.allowed, verdict.message
    assert "beat the stage win rate" in verdict.message
    assert _passed_rows(driven_book, config) == 2 * len(open_at(driven_book.deals, AS_OF))


def test_scores_are_held_back_where_the_driver_flipped(flipped_book: Book) -> None:
    config = flipped_book.config
    before = _verdict(config)
    assert not before.allowed and "run 'hub score --backtest'" in before.message
    run = run_backtest(config, cutoffs=[FLIP_AT])
    (cutoff,) = run.cutoffs
    score, stage = cutoff.metrics["score"]["brier"], cutoff.metrics["stage_rate"]["brier"]
    assert score > stage + 0.1  # learned "meetings win", then they lost
    verdict = _verdict(config)
    assert not verdict.allowed
    assert f"Brier {score:.4f} for the score vs {stage:.4f}" in verdict.message
    plan = plan_push(config)
    assert verdict.message in plan.notes
    assert _passed_rows(flipped_book, config) == 0
    off = config.model_copy(
        update={"push": config.push.model_copy(update={"require_better_score": False})}
    )
    assert _passed_rows(flipped_book, off) == 2 * len(open_at(flipped_book.deals, AS_OF))
