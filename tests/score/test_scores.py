"""Scores at as_of: the open deals of the book's truth, the driver in the numbers and the
reasons, the push rows, the same scores from the same data, and the fit cache."""

from __future__ import annotations

from datetime import timedelta
from statistics import mean

from pytest import approx

from hub.score.features import FeatureTable, read_features
from hub.score.model import fit, snapshot_instants, training_rows
from hub.score.store import write_scores
from hub.warehouse import Warehouse
from tests.score.conftest import Book
from tests.score.world import AS_OF, open_at


def _scores(book: Book) -> dict[str, tuple[float, str, str]]:
    return {
        key: (p, reason, fingerprint)
        for key, p, reason, fingerprint in book.sql(
            "SELECT deal_key, win_probability, reason, model_fingerprint FROM analytics.deal_scores"
        )
    }


def test_every_open_deal_is_scored_and_the_driver_shows(driven_book: Book) -> None:
    scores = _scores(driven_book)
    open_now = {f"book:{d.deal_id}": d for d in open_at(driven_book.deals, AS_OF)}
    assert set(scores) == set(open_now) and len(scores) >= 20
    engaged = [scores[k][0] for k, d in open_now.items() if d.engaged]
    idle = [scores[k][0] for k, d in open_now.items() if not d.engaged]
    assert all(0 < p < 1 for p, _, _ in scores.values())
    assert mean(engaged) - mean(idle) > 0.3, (mean(engaged), mean(idle))
    for key, d in open_now.items():
        reason = scores[key][1]
        assert 0 < len(reason) <= 250 and reason.count(";") <= 2
        if d.engaged:  # the meetings are what moved it, in a rep's words
            assert "meetings in the last 30 days (+)" in reason or "active this week (+)" in reason
    rows = driven_book.sql("SELECT deal_key, field, value FROM outbound.deal_scores")
    assert len(rows) == 2 * len(scores)
    for key, field, value in rows:
        if field == "hub_score":
            assert float(value) == approx(round(scores[key][0], 2), abs=0.0051)
        else:
            assert value == scores[key][1]


def test_same_data_and_as_of_give_the_same_scores_and_the_fit_is_cached(driven_book: Book) -> None:
    config = driven_book.config
    before = _scores(driven_book)
    driven_book.sql("DELETE FROM hub_meta.hub_score_models")  # force a fresh fit
    refit = write_scores(config, Warehouse(config), config.as_of)
    assert refit.refitted and _scores(driven_book) == before
    again = write_scores(config, Warehouse(config), config.as_of)
    assert not again.refitted and again.fingerprint == refit.fingerprint
    assert _scores(driven_book) == before
    assert driven_book.sql("SELECT count(*) FROM hub_meta.hub_score_models") == [(1,)]


def test_a_model_cached_earlier_the_same_day_is_reused_unread_and_scores_the_same(
    driven_book: Book,
) -> None:
    """Warehouse state one: no cache. State two: a model cached by a sync an hour into the
    day. Same data, same as_of: the same scores, and state two never builds the training
    table. A new day, or an edited input, builds it again."""
    config = driven_book.config
    before = _scores(driven_book)
    later, earlier = AS_OF + timedelta(hours=5), AS_OF + timedelta(hours=1)

    def forget() -> None:
        driven_book.sql("DELETE FROM hub_meta.hub_score_models")
        driven_book.sql("DELETE FROM hub_meta.hub_score_input_keys")

    forget()
    fresh = write_scores(config, Warehouse(config), later)
    assert fresh.refitted and fresh.training_rows and fresh.training_rows >= 20
    fresh_scores = _scores(driven_book)
    assert len(fresh_scores) >= 20

    forget()
    first = write_scores(config, Warehouse(config), earlier)
    assert first.refitted and first.training_rows == fresh.training_rows
    reused = write_scores(config, Warehouse(config), later)
    assert reused.training_rows is None and not reused.refitted
    assert reused.fingerprint == fresh.fingerprint == first.fingerprint
    assert _scores(driven_book) == fresh_scores
    assert driven_book.sql("SELECT count(*) FROM hub_meta.hub_score_input_keys") == [(1,)]

    next_day = write_scores(config, Warehouse(config), AS_OF + timedelta(days=1, hours=1))
    assert next_day.training_rows is not None  # a new training cut: the table is built

    # An input the features read changes (a closed deal's amount): the key notices it.
    closed = driven_book.sql(
        "SELECT deal_key, amount_base FROM hub_staging.int_deals_enriched "
        "WHERE status = 'won' ORDER BY deal_key LIMIT 1"
    )[0]
    update = "UPDATE hub_staging.int_deal_facts SET amount_base = :a WHERE deal_key = :k"
    driven_book.sql(update, a=float(closed[1] or 0) + 1000.0, k=closed[0])
    try:
        edited = write_scores(config, Warehouse(config), later)
        assert edited.training_rows is not None
    finally:
        driven_book.sql(update, a=closed[1], k=closed[0])
    again = write_scores(config, Warehouse(config), later)
    assert again.training_rows is None and again.fingerprint == fresh.fingerprint

    restored = write_scores(config, Warehouse(config), config.as_of)
    assert restored.scored == len(before) and _scores(driven_book) == before


def test_two_fits_on_one_table_are_identical_and_read_no_future(driven_book: Book) -> None:
    config = driven_book.config
    with Warehouse(config).connect() as conn:
        first = min(d.created_at for d in driven_book.deals).replace(tzinfo=None)
        table = read_features(conn, snapshot_instants(first, AS_OF.replace(tzinfo=None)))
    rows = training_rows(table, fit_time=AS_OF.replace(tzinfo=None))
    assert fit(rows).to_json() == fit(rows).to_json()
    # The Arrow entry point (benchmarks, recovery tests) fits the same model.
    assert fit(FeatureTable.from_arrow(rows.to_arrow())).to_json() == fit(rows).to_json()
    # Point in time: a deal's meetings counted at T are those before T, from the book.
    by_id = {f"book:{d.deal_id}": d for d in driven_book.deals}
    for i in range(0, len(table), 97):
        deal, at = by_id[table.deal_key[i]], table.at[i]
        assert deal.created_at.replace(tzinfo=None) <= at
        assert deal.closed_at is None or deal.closed_at.replace(tzinfo=None) > at
        assert table.categorical["canonical_stage"][i] == (
            "qualification" if deal.qualified_at.replace(tzinfo=None) <= at else "prospecting"
        )


def test_a_transform_whose_scoring_fails_is_recorded_failed_with_the_error(tmp_path) -> None:
    """dbt built every model, then writing the scores raised: the marts and the scores are
    not one complete set, so the record says failed (with why), never 'running' (killed)."""
    import pytest
    import sqlalchemy as sa

    from hub.pull import run_pull
    from hub.transform import run_transform
    from hub.warehouse.builds import last_build
    from models.config import load_config
    from tests.score.world import write_book

    path, _ = write_book(tmp_path, n=200)
    config = load_config(path)
    assert all(run.status == "ok" for run in run_pull(config))
    with Warehouse(config).connect() as conn:  # a fit cache left by some other version
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS hub_meta"))
        conn.execute(sa.text("CREATE TABLE hub_meta.hub_score_models (fingerprint varchar)"))
    with pytest.raises(Exception, match="model_json"):
        run_transform(config)
    with Warehouse(config).connect() as conn:
        build = last_build(conn)
    assert build is not None and build.status == "failed" and build.finished_at is not None
    assert build.error is not None and build.error.startswith("deal scores: ")
    assert "model_json" in build.error and build.models_built and build.models_built > 20
