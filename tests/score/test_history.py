"""The comparisons PostgreSQL's feature query now takes from numpy (hub/score/history.py):
the median is PostgreSQL's own ``percentile_cont(0.5)`` to the bit, and the comparison tables
hold what the SQL aggregates gave (the whole query against the old text: test_columnar.py and
test_history_tables.py).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from hub.score.history import median
from tests.pg import pg_engine


@pytest.mark.postgres
def test_median_is_postgres_percentile_cont_to_the_bit(pg_database: dict[str, Any]) -> None:
    rng = random.Random(19)
    groups: list[list[float]] = []
    for size in [*range(1, 12), 50, 51, 1000, 1001]:
        for scale in (1e-3, 1.0, 37.25, 1e9):
            values = [rng.uniform(0, scale) for _ in range(size)]
            if size > 3:  # ties, and values whose midpoint rounds
                values[:2] = [values[2], 0.1 + 0.2]
            groups.append(values)
    groups.append([0.0, 5e-324])
    groups.append([-1.5, 2.5, 1e-300])
    keys = [g for g, values in enumerate(groups) for _ in values]
    floats = [v for values in groups for v in values]
    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text("create temp table vals (g int, v double precision)"))
        # One statement for the ~8,700 rows (one insert per row cost the suite seconds);
        # psycopg2 writes each float shortest-exact, as it did per row.
        conn.execute(
            sa.text(
                "insert into vals select * from unnest("
                "cast(:g as int[]), cast(:v as double precision[]))"
            ),
            {"g": keys, "v": floats},
        )
        conn.execute(sa.text("set local extra_float_digits = 3"))
        query = "select g, percentile_cont(0.5) within group (order by v) from vals group by g"
        got = {g: v for g, v in conn.execute(sa.text(query)).all()}
    assert len(got) == len(groups)
    for g, values in enumerate(groups):
        ours = median(np.array(values, dtype=np.float64))
        assert np.float64(ours).tobytes() == np.float64(got[g]).tobytes(), (g, ours, got[g])


def test_median_of_odd_and_even_counts() -> None:
    assert median(np.array([3.0, 1.0, 2.0])) == 2.0
    assert median(np.array([4.0, 1.0, 3.0, 2.0])) == 2.5
    assert median(np.array([7.0])) == 7.0
