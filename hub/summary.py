"""The short summary ``hub demo`` prints: deals per canonical stage per source, win rate,
accounts resolved across CRMs and duplicates counted once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.report.data import MARTS, stage_order
from hub.warehouse import Warehouse
from models.config import HubConfig


@dataclass(frozen=True)
class Summary:
    stages: list[str]
    counts: dict[str, dict[str, int]]  # source -> canonical stage -> deals
    won: int
    lost: int
    accounts: int = 0  # account records of every source
    companies: int = 0  # resolved companies (analytics.accounts)
    shared_companies: int = 0  # companies found in two or more sources
    duplicates: int = 0  # deals left out as another CRM's copy

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return self.won / closed if closed else None


def summarize(config: HubConfig) -> Summary:
    warehouse = Warehouse(config)
    with warehouse.connect() as conn:
        rows: Sequence[Any] = conn.execute(
            sa.text(
                f"SELECT source_name, canonical_stage, count(*) FROM {MARTS}.deals "
                "WHERE is_counted GROUP BY 1, 2"
            )
        ).all()
        totals: Any = conn.execute(
            sa.text(
                f"SELECT sum(CASE WHEN is_won THEN 1 ELSE 0 END), sum(CASE WHEN is_lost THEN 1 ELSE 0 END) "
                f"FROM {MARTS}.deals WHERE is_counted"
            )
        ).one()
        won, lost = totals
        resolved: Any = conn.execute(
            sa.text(
                "SELECT coalesce(sum(n_accounts), 0), count(*), "
                f"coalesce(sum(CASE WHEN n_sources > 1 THEN 1 ELSE 0 END), 0) FROM {MARTS}.accounts"
            )
        ).one()
        accounts, companies, shared = resolved
        duplicates = conn.execute(
            sa.text(f"SELECT count(*) FROM {MARTS}.deals WHERE is_duplicate AND NOT is_deleted")
        ).scalar()
    counts: dict[str, dict[str, int]] = {}
    for source, stage, n in rows:
        counts.setdefault(source, {})[stage] = int(n)
    seen = {s for per in counts.values() for s in per}
    stages = [s for s in stage_order(config, seen) if s in seen]
    return Summary(
        stages,
        counts,
        int(won or 0),
        int(lost or 0),
        accounts=int(accounts),
        companies=int(companies),
        shared_companies=int(shared),
        duplicates=int(duplicates or 0),
    )
