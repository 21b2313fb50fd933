"""Deal score fit (issue #20): ``hub.score.model.fit`` on N labelled snapshots of closed deals.

The rows are built straight in Arrow (numpy, fixed seed) with the columns the feature query
returns, so the figure is the model's own cost (encode, fit, Platt calibration) and not the
warehouse's: a million closed deals is about what a hub with several million deals trains
on. Outcomes follow a known logistic rule, so the benchmark also checks that the fit found
it (AUC on the rows themselves). The fit runs in a child process (``python -m
bench.score_bench N``) so its peak RSS (``os.wait4``) is its own: Arrow table, FeatureTable
and fit together.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from bench.common import emit, run_measured

FULL = {"deals": 1_000_000}
QUICK = {"deals": 5_000}
SEED = 20
STAGES = ("prospecting", "qualification", "meeting", "proposal", "negotiation")
STAGE_LOGIT = (-1.6, -0.8, -0.2, 0.4, 0.9)
SOURCES = ("crm_a", "crm_b", "crm_c")
LEAD_SOURCES = ("Inbound", "Outbound", "Referral", "Partner", "Event")
LEAD_LOGIT = (0.2, -0.4, 0.6, 0.3, -0.2)
FIRST = datetime(2024, 1, 1)


def arrow_rows(n: int, seed: int = SEED) -> Any:
    """``n`` closed deals, one snapshot each, as the Arrow table ``FeatureTable.from_arrow``
    reads; ``won`` drawn from a logistic rule on stage, dwell, activity, rep and lead source."""
    import pyarrow as pa

    from hub.score.features import NUMERIC

    rng = np.random.default_rng(seed)
    numeric = {name: rng.normal(size=n) for name in NUMERIC}
    numeric["rep_win_rate"] = rng.beta(2, 6, size=n)
    stage = rng.integers(0, len(STAGES), size=n)
    lead = rng.integers(0, len(LEAD_SOURCES), size=n)
    logit = (
        np.array(STAGE_LOGIT)[stage]
        + np.array(LEAD_LOGIT)[lead]
        - 0.6 * numeric["stage_dwell_ratio"]
        + 0.4 * numeric["meetings_30d"]
        + 2.0 * (numeric["rep_win_rate"] - 0.25)
        - 0.3 * numeric["amount_vs_rep"]
    )
    won = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    closed_s = rng.integers(0, 540 * 86_400, size=n)
    closed_at = [FIRST + timedelta(seconds=int(s)) for s in closed_s]
    open_days = rng.integers(1, 90, size=n)
    at = [c - timedelta(days=int(d)) for c, d in zip(closed_at, open_days, strict=True)]
    missing = rng.random(n) < 0.05  # as in a warehouse: some reps and amounts unknown
    columns: dict[str, Any] = {
        "deal_key": [f"bench:{i}" for i in range(n)],
        "at": at,
        "closed_at": closed_at,
        "won": won.tolist(),
        **{
            name: pa.array(values, mask=missing if name.startswith(("rep_", "amount")) else None)
            for name, values in numeric.items()
        },
        "canonical_stage": np.array(STAGES)[stage].tolist(),
        "source_name": np.array(SOURCES)[rng.integers(0, len(SOURCES), size=n)].tolist(),
        "pipeline": ["sales"] * n,
        "dim_lead_source": np.array(LEAD_SOURCES)[lead].tolist(),
    }
    return pa.table(columns)


def child(n: int) -> None:
    """One measured fit: build the rows, fit, print one JSON line."""
    from hub.score.backtest import auc
    from hub.score.features import FeatureTable
    from hub.score.model import fit

    started = time.perf_counter()
    table = FeatureTable.from_arrow(arrow_rows(n), dimensions=("lead_source",))
    built = time.perf_counter()
    model = fit(table)
    fitted = time.perf_counter()
    probability, _ = model.predict(table)
    print(
        json.dumps(
            {
                "rows_s": round(built - started, 1),
                "fit_s": round(fitted - built, 1),
                "n_train": model.n_train,
                "n_calibration": model.n_calibration,
                "columns": len(model.coef),
                "auc": round(auc(probability.tolist(), [bool(w) for w in table.won]) or 0, 3),
            }
        ),
        flush=True,
    )


def run(*, deals: int) -> list[dict[str, Any]]:
    measured = run_measured([sys.executable, "-m", "bench.score_bench", str(deals)])
    if measured.returncode != 0:
        raise SystemExit(f"score fit failed:\n{measured.stdout}")
    figures = json.loads(measured.stdout.strip().splitlines()[-1])
    return [
        emit(
            {
                "bench": "score",
                "step": "fit",
                "deals": deals,
                "seconds": figures["fit_s"],
                "build_rows_seconds": figures["rows_s"],
                "process_seconds": measured.seconds,
                "peak_rss_mb": measured.peak_rss_mb,
                **{k: figures[k] for k in ("n_train", "n_calibration", "columns", "auc")},
            }
        )
    ]


if __name__ == "__main__":
    child(int(sys.argv[1]))
