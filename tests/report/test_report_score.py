"""The deal score's figures without a backtest: a "No data" note that says how to get one."""

from __future__ import annotations

import sqlalchemy as sa

from hub.report.charts import score_backtest_chart, score_calibration_chart
from hub.report.data import Marts, score_backtest, score_calibration
from hub.score.tables import ensure_score_tables


def test_without_a_backtest_the_score_figures_say_how_to_run_one() -> None:
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.connect() as conn:
        for when in ("no hub_meta tables", "tables, no run"):
            m = Marts(conn, None, "month")  # type: ignore[arg-type]  # config unused here
            for figure in (score_backtest(m), score_calibration(m)):
                assert figure.rows == [] and not figure.omitted, when
                assert figure.note.startswith("No data: ") and "hub score --backtest" in (
                    figure.note
                )
            ensure_score_tables(conn)

        class Data:  # what the two charts read
            score_backtest = score_backtest(Marts(conn, None, "month"))  # type: ignore[arg-type]
            score_calibration = score_calibration(Marts(conn, None, "month"))  # type: ignore[arg-type]

        for chart in (score_backtest_chart, score_calibration_chart):
            fig = chart(Data)  # type: ignore[arg-type]
            (note,) = [a.text for a in fig.layout.annotations]
            assert fig.data == () and note.startswith("No data: ") and "--backtest" in note
