"""The push guard: scores reach a CRM only when the latest backtest says they beat the
learned stage rate.

Rule (docs/reverse-sync.md): over the latest run's cutoffs, the score's Brier score averaged
with each cutoff weighted by its scored deals (the Brier over every deal scored in the run)
must be strictly lower than the stage rate's. A mean rather than "at every cutoff": one
quarter of a few dozen deals is noisy, and the pooled figure is the one a rep lives with.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.score.tables import hub_score_backtests

SCORE_FIELDS = frozenset({"hub_score", "hub_score_reason"})


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str


def pooled_brier(conn: sa.Connection, run_id: str, model: str) -> tuple[float, int, int]:
    """(Brier over all scored deals of the run, deals, cutoffs) for one model."""
    t = hub_score_backtests
    rows = (
        conn.execute(
            sa.select(t.c.brier, t.c.n_scored).where(t.c.run_id == run_id, t.c.model == model)
        )
        .tuples()
        .all()
    )
    n = sum(int(k) for _, k in rows)
    total = sum(float(b) * int(k) for b, k in rows if b is not None)
    return (total / n if n else float("nan")), n, len(rows)


def score_verdict(conn: sa.Connection) -> Verdict:
    t = hub_score_backtests
    if not sa.inspect(conn).has_table(t.name, schema=t.schema):
        return Verdict(False, "no backtest of the deal score yet: run 'hub score --backtest'")
    latest = conn.execute(
        sa.select(t.c.run_id, t.c.run_at).order_by(t.c.run_at.desc(), t.c.run_id.desc()).limit(1)
    ).first()
    if latest is None:
        return Verdict(False, "no backtest of the deal score yet: run 'hub score --backtest'")
    score, n, cutoffs = pooled_brier(conn, latest.run_id, "score")
    stage, _, _ = pooled_brier(conn, latest.run_id, "stage_rate")
    figures = (
        f"Brier {score:.4f} for the score vs {stage:.4f} for the stage win rate over "
        f"{n} deals at {cutoffs} cutoff(s) (backtest {latest.run_id}, {latest.run_at:%Y-%m-%d %H:%M})"
    )
    if score < stage:
        return Verdict(True, f"deal scores beat the stage win rate: {figures}")
    return Verdict(
        False,
        f"deal scores not written: they do not beat the stage win rate ({figures}); "
        "set push.require_better_score: false to write them anyway",
    )


__all__ = ["SCORE_FIELDS", "Verdict", "score_verdict"]
