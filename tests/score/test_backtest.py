"""`hub score --backtest`: the JSON shape, the scored set from the book's own truth, and
every figure recomputed in plain Python from the stored predictions."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from pytest import approx

from tests.score.conftest import Book
from tests.score.world import AS_OF, open_at

QUARTERS = [datetime(2025, 7, 1), datetime(2025, 10, 1), datetime(2026, 1, 1), datetime(2026, 4, 1)]
MODELS = {"score", "base_rate", "stage_rate", "static"}


def _latest_run(book: Book) -> str:
    """The latest backtest's run id; runs the default backtest first when the book has none
    (tests of this file may run alone, in any order, or on another worker than the JSON one)."""
    query = (
        "SELECT run_id FROM hub_meta.hub_score_backtests ORDER BY run_at DESC, run_id DESC LIMIT 1"
    )
    if not book.sql(query):
        from typer.testing import CliRunner

        from hub.cli import app

        result = CliRunner().invoke(app, ["score", "--backtest", "--config", str(book.path)])
        assert result.exit_code == 0, result.output
    return book.sql(query)[0][0]


def _auc_by_pairs(p: list[float], y: list[bool]) -> float:
    wins = [pi for pi, yi in zip(p, y, strict=True) if yi]
    losses = [pi for pi, yi in zip(p, y, strict=True) if not yi]
    total = sum(1.0 if w > lo else 0.5 if w == lo else 0.0 for w in wins for lo in losses)
    return total / (len(wins) * len(losses))


def test_json_is_one_object_per_cutoff_and_its_figures_are_the_stored_predictions(
    cli, driven_book: Book
) -> None:
    result = cli("score", "--backtest", "--json", "--config", driven_book.path)
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [o["cutoff"] for o in objects] == [
        q.replace(tzinfo=UTC).isoformat() for q in QUARTERS
    ]  # default: the last four quarter starts before as_of
    run_id = _latest_run(driven_book)
    for o in objects:
        assert set(o) == {"cutoff", "n_scored", "n_won", "models"}
        assert set(o["models"]) == MODELS
        cutoff = datetime.fromisoformat(o["cutoff"])
        for model, figures in o["models"].items():
            assert set(figures) == {"brier", "log_loss", "auc"}
            rows = driven_book.sql(
                "SELECT predicted, won FROM hub_meta.hub_score_predictions "
                "WHERE run_id = :r AND cutoff = :c AND model = :m",
                r=run_id,
                c=cutoff,
                m=model,
            )
            p, y = [float(r[0]) for r in rows], [bool(r[1]) for r in rows]
            assert (len(p), sum(y)) == (o["n_scored"], o["n_won"])
            clipped = [min(max(q, 1e-3), 1 - 1e-3) for q in p]
            assert figures["brier"] == approx(
                sum((a - b) ** 2 for a, b in zip(p, y, strict=True)) / len(p)
            )
            assert figures["log_loss"] == approx(
                -sum(math.log(q if w else 1 - q) for q, w in zip(clipped, y, strict=True)) / len(p)
            )
            assert figures["auc"] == approx(_auc_by_pairs(p, y))
            deciles = driven_book.sql(
                "SELECT decile, n, mean_predicted, observed_rate FROM hub_meta.hub_score_calibration "
                "WHERE run_id = :r AND cutoff = :c AND model = :m ORDER BY decile",
                r=run_id,
                c=cutoff,
                m=model,
            )
            for decile, n, mean, observed in deciles:
                members = [
                    (a, b) for a, b in zip(p, y, strict=True) if min(int(a * 10), 9) == decile
                ]
                assert n == len(members)
                assert mean == approx(sum(a for a, _ in members) / n)
                assert observed == approx(sum(b for _, b in members) / n)
            assert sum(d[1] for d in deciles) == len(p)


def test_the_test_set_and_the_base_rate_come_from_the_books_truth(driven_book: Book) -> None:
    run_id = _latest_run(driven_book)
    for quarter in QUARTERS:
        cutoff = quarter.replace(tzinfo=UTC)
        want = {
            f"book:{d.deal_id}": d.won
            for d in open_at(driven_book.deals, cutoff)
            if d.closed_at is not None and d.closed_at <= AS_OF
        }
        got = dict(
            driven_book.sql(
                "SELECT deal_key, won FROM hub_meta.hub_score_predictions "
                "WHERE run_id = :r AND cutoff = :c AND model = 'score'",
                r=run_id,
                c=cutoff,
            )
        )
        assert got == want
        closed = [d for d in driven_book.deals if d.closed_at is not None and d.closed_at < cutoff]
        base = driven_book.sql(
            "SELECT DISTINCT predicted FROM hub_meta.hub_score_predictions "
            "WHERE run_id = :r AND cutoff = :c AND model = 'base_rate'",
            r=run_id,
            c=cutoff,
        )
        assert [b[0] for b in base] == [approx(sum(bool(d.won) for d in closed) / len(closed))]


def test_where_activity_decides_the_score_beats_every_baseline(driven_book: Book) -> None:
    run_id = _latest_run(driven_book)
    rows = driven_book.sql(
        "SELECT cutoff, model, brier, auc FROM hub_meta.hub_score_backtests WHERE run_id = :r",
        r=run_id,
    )
    by_cutoff: dict = {}
    for cutoff, model, brier, auc in rows:
        by_cutoff.setdefault(cutoff, {})[model] = (brier, auc)
    assert len(by_cutoff) == 4
    for cutoff, models in by_cutoff.items():
        score_brier, score_auc = models["score"]
        assert score_auc > 0.75, cutoff
        for name in ("base_rate", "stage_rate", "static"):
            assert score_brier < models[name][0] - 0.05, (cutoff, name, models)


def test_a_cutoff_without_history_is_refused_with_the_reason(cli, driven_book: Book) -> None:
    result = cli("score", "--backtest", "--config", driven_book.path, "--cutoff", "2025-02-01")
    assert result.exit_code == 1
    assert "cutoff 2025-02-01: fewer than 50 closed deals" in result.output
    late = cli("score", "--backtest", "--config", driven_book.path, "--cutoff", "2026-07-01")
    assert late.exit_code == 1 and "must be before as_of 2026-06-30" in late.output
