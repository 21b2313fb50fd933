"""A hand-built CSV book whose one driver the tests control.

Every deal goes Prospecting -> Qualified after 3 days and closes 35-75 days after creation,
so the stage says nothing. Half the deals are "engaged" (a meeting every 6 days while
open), the rest get one email. Engaged deals win with probability 0.8, the others 0.15;
with ``flip_at`` set, deals closing from that instant on get the opposite. The truth (who
was open when, who won) is returned beside the files, so tests never read it back from
the hub.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
FIRST = datetime(2025, 1, 5, 9, tzinfo=UTC)
STAGES = {
    "Prospecting": "prospecting",
    "Qualified": "qualification",
    "Closed Won": "closed_won",
    "Closed Lost": "closed_lost",
}
REPS = ("ana@book.example", "ben@book.example", "cy@book.example")


@dataclass(frozen=True)
class BookDeal:
    deal_id: str
    created_at: datetime
    qualified_at: datetime
    closed_at: datetime | None  # None: still open at AS_OF
    won: bool | None
    engaged: bool


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def book_deals(n: int, seed: int, flip_at: datetime | None) -> list[BookDeal]:
    span = (AS_OF - timedelta(days=40) - FIRST).total_seconds()
    deals = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        created = FIRST + timedelta(seconds=span * i / n + rng.uniform(0, 3600))
        engaged = rng.random() < 0.5
        closes = created + timedelta(days=rng.uniform(35, 75))
        p = 0.8 if engaged else 0.15
        if flip_at is not None and closes >= flip_at:
            p = 1 - p
        won = rng.random() < p
        open_now = closes > AS_OF
        deals.append(
            BookDeal(
                f"B{i:05d}",
                created,
                created + timedelta(days=3),
                None if open_now else closes,
                None if open_now else won,
                engaged,
            )
        )
    return deals


def write_book(
    folder: Path,
    *,
    n: int = 900,
    seed: int = 7,
    flip_at: datetime | None = None,
    warehouse: dict[str, Any] | None = None,
) -> tuple[Path, list[BookDeal]]:
    folder.mkdir(parents=True, exist_ok=True)
    deals = book_deals(n, seed, flip_at)
    with open(folder / "deals.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "deal_id",
                "deal_name",
                "owner_email",
                "pipeline",
                "stage",
                "status",
                "amount",
                "currency",
                "created_at",
                "closed_at",
                "updated_at",
            ]
        )
        for k, d in enumerate(deals):
            status = "open" if d.won is None else "won" if d.won else "lost"
            stage = {"open": "Qualified", "won": "Closed Won", "lost": "Closed Lost"}[status]
            last = d.closed_at or d.qualified_at
            out.writerow(
                [
                    d.deal_id,
                    f"Deal {d.deal_id}",
                    REPS[k % 3],
                    "Sales",
                    stage,
                    status,
                    "10000.00",
                    "USD",
                    _iso(d.created_at),
                    _iso(d.closed_at) if d.closed_at else "",
                    _iso(last),
                ]
            )
    with open(folder / "stage_history.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["deal_id", "stage", "changed_at"])
        for d in deals:
            out.writerow([d.deal_id, "Prospecting", _iso(d.created_at)])
            out.writerow([d.deal_id, "Qualified", _iso(d.qualified_at)])
            if d.closed_at:
                out.writerow(
                    [d.deal_id, "Closed Won" if d.won else "Closed Lost", _iso(d.closed_at)]
                )
    with open(folder / "activities.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["activity_id", "deal_id", "type", "occurred_at"])
        for d in deals:
            end = d.closed_at or AS_OF
            if not d.engaged:
                out.writerow(
                    [f"{d.deal_id}-0", d.deal_id, "email", _iso(d.created_at + timedelta(hours=2))]
                )
                continue
            at, k = d.created_at + timedelta(days=1), 0
            while at < end:
                out.writerow([f"{d.deal_id}-{k}", d.deal_id, "meeting", _iso(at)])
                at, k = at + timedelta(days=6), k + 1
    config: dict[str, Any] = {
        "as_of": _iso(AS_OF),
        "base_currency": "USD",
        "sources": [
            {
                "name": "book",
                "kind": "csv",
                "stage_map": {"*": STAGES},
                "options": {
                    "deals": {
                        "path": "deals.csv",
                        "columns": {
                            "source_deal_id": "deal_id",
                            "name": "deal_name",
                            "owner_id": "owner_email",
                            "pipeline_id": "pipeline",
                            "stage_id": "stage",
                            "status": "status",
                            "amount": "amount",
                            "currency": "currency",
                            "created_at": "created_at",
                            "closed_at": "closed_at",
                            "updated_at": "updated_at",
                        },
                    },
                    "activities": {
                        "path": "activities.csv",
                        "columns": {
                            "source_activity_id": "activity_id",
                            "deal_id": "deal_id",
                            "type": "type",
                            "occurred_at": "occurred_at",
                        },
                    },
                    "stage_history": {
                        "path": "stage_history.csv",
                        "columns": {
                            "deal_id": "deal_id",
                            "stage_id": "stage",
                            "changed_at": "changed_at",
                        },
                    },
                },
            }
        ],
    }
    if warehouse is not None:
        config["warehouse"] = warehouse
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, deals


def open_at(deals: list[BookDeal], at: datetime) -> list[BookDeal]:
    """Deals open at ``at`` (created by then, not closed by then)."""
    return [d for d in deals if d.created_at <= at and (d.closed_at is None or d.closed_at > at)]
