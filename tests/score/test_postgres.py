"""The score on PostgreSQL: the same book gives the same features, backtest figures and
scores as on DuckDB (the SQL is one text for both)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from pytest import approx

from hub.score.ahead import beside, export_snapshot, open_deal_features, read_in_snapshot
from hub.score.backtest import run_backtest
from hub.score.features import FeatureTable, read_features
from hub.score.prekey import key_prefix, training_key
from hub.score.store import training_cut
from hub.warehouse import Warehouse
from tests.pg import pg_warehouse
from tests.score.conftest import Book, synced_book
from tests.score.world import AS_OF


def _rows(table: FeatureTable) -> str:
    return repr(table.to_arrow().to_pylist())  # repr: NaN is equal to NaN here


CUTOFFS = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)]


@pytest.mark.postgres
def test_postgres_backtest_and_scores_match_duckdb(
    tmp_path, driven_book: Book, pg_database: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    pg = synced_book(tmp_path / "pg", warehouse=pg_warehouse(pg_database))
    duck_run = run_backtest(driven_book.config, cutoffs=CUTOFFS)
    pg_run = run_backtest(pg.config, cutoffs=CUTOFFS)
    for duck, other in zip(duck_run.cutoffs, pg_run.cutoffs, strict=True):
        assert (other.cutoff, other.n_scored, other.n_won) == (
            duck.cutoff,
            duck.n_scored,
            duck.n_won,
        )
        assert other.deal_keys == duck.deal_keys
        for model, figures in duck.metrics.items():
            assert other.metrics[model] == approx(figures, rel=1e-6), model
    stored = pg.sql(
        "SELECT count(*) FROM hub_meta.hub_score_predictions WHERE run_id = :r", r=pg_run.run_id
    )
    assert stored == [(4 * sum(c.n_scored for c in pg_run.cutoffs),)]
    query = "SELECT deal_key, win_probability, reason FROM analytics.deal_scores ORDER BY deal_key"
    duck_scores, pg_scores = driven_book.sql(query), pg.sql(query)
    assert [r[0] for r in pg_scores] == [r[0] for r in duck_scores]
    for (_, p_pg, reason_pg), (_, p_duck, reason_duck) in zip(pg_scores, duck_scores, strict=True):
        assert p_pg == approx(p_duck, abs=1e-9)
        assert reason_pg == reason_duck
    # The open deals' features, read on a second connection beside the training path
    # (hub/score/ahead.py), are those of the first connection's snapshot: a write committed
    # after the export is not in them, though it moves the features.
    warehouse, dimensions = Warehouse(pg.config), list(pg.config.dimensions)
    with warehouse.connect() as conn:
        before = _rows(read_features(conn, [AS_OF], dimensions))
        snapshot = export_snapshot(conn)
        with warehouse.connect() as other:
            other.execute(
                sa.text(
                    "UPDATE hub_staging.int_deal_facts SET created_at = created_at - interval '9 days'"
                )
            )
        assert _rows(read_in_snapshot(warehouse, snapshot, [AS_OF], dimensions)) == before
        assert _rows(read_features(conn, [AS_OF], dimensions)) != before
    # A role whose connection limit leaves no room for the second connection still gets the
    # open deals' features: read on its one connection instead.
    role = "hub_score_one_connection"
    with warehouse.connect() as conn:
        conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(
            sa.text(f"CREATE ROLE {role} LOGIN NOSUPERUSER CONNECTION LIMIT 1 PASSWORD :p"),
            {"p": pg_database["password"]},
        )
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA hub_staging, analytics TO {role}"))
        for schema in ("hub_staging", "analytics"):
            conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"))
    limited = Warehouse(
        pg.config.model_copy(
            update={"warehouse": pg.config.warehouse.model_copy(update={"user": role})}
        )
    )
    cut = training_cut(AS_OF)
    with limited.connect() as conn:
        expected = _rows(read_features(conn, [AS_OF], dimensions))
        with open_deal_features(limited, conn, AS_OF, dimensions) as open_features:
            assert _rows(open_features()) == expected
        # The first run of a cut computes its training key beside the fit too (store.py):
        # refused, the key is computed on the first connection, the same key.
        key = training_key(conn, cut, "salt", True)
        assert key is not None and key.startswith(key_prefix(cut))
        with beside(limited, conn) as submit:
            later = submit(lambda other: training_key(other, cut, "salt", True))
            assert later() == key
    assert caplog.text.count("a second connection was refused") == 2
