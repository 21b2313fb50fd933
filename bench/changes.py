"""What an hourly sync sees change in a CSV export, made in place for the #19 benches.

Between two hourly syncs reps move open deals on, win some, create deals and delete a few
open ones; closed history stays as it was. So the change set here touches open deals only,
stamped at ``CHANGED_AT`` (10:00 of the export's last day), after the deal score's training
cut (the UTC day start of ``as_of``) and before ``AS_OF`` (noon), at which the benches pin
``as_of``. A change that edits closed history (a deal won last month, a closed deal deleted)
is a different and rarer event: it refits the score by design.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

EXPORT_DAY = datetime(2026, 6, 30, tzinfo=UTC)  # hub generate's default as_of
AS_OF = EXPORT_DAY + timedelta(hours=12)
CHANGED_AT = EXPORT_DAY + timedelta(hours=10)
NEXT_STAGE = {
    "Prospecting": "Qualified",
    "Qualified": "Meeting Booked",
    "Meeting Booked": "Proposal Sent",
    "Proposal Sent": "Negotiation",
    "Negotiation": "Closed Won",
}


def change_open_deals(data: Path, share: float, *, seed: int = 7) -> dict[str, int]:
    """Change ``share`` of the deals in ``data``'s deals.csv and stage_history.csv, all of
    them open deals, at CHANGED_AT: 60 % move one stage on (Negotiation to Closed Won), 20 %
    are new (copies of open rows under new ids ``DNEW<seed>-n``, in Prospecting) and 20 %
    disappear from the full-snapshot deals file. Moves and new deals get their history rows.

    Streams both files (a 1M-deal export does not fit comfortably in Python lists) and
    replaces each file rather than writing into it: the benches read hard links of a kept
    export, which must not change."""
    deals_path, history_path = data / "deals.csv", data / "stage_history.csv"
    with deals_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        col = {name: i for i, name in enumerate(next(reader))}
        statuses = [row[col["status"]] for row in reader]
    open_rows = [i for i, status in enumerate(statuses) if status == "open"]
    rng = random.Random(seed)
    n_changed = min(len(open_rows), max(3, round(len(statuses) * share)))
    picked = rng.sample(open_rows, n_changed)
    n_new = n_deleted = max(1, n_changed // 5)
    deleted = set(picked[:n_deleted])
    copied = set(picked[n_deleted : n_deleted + n_new])
    moved = set(picked[n_deleted + n_new :])
    stamp = CHANGED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    history: list[tuple[str, str, str]] = []
    new_rows: list[list[str]] = []
    temporary = deals_path.with_suffix(".csv.tmp")
    with (
        deals_path.open(encoding="utf-8", newline="") as source,
        temporary.open("w", encoding="utf-8", newline="") as target,
    ):
        reader, writer = csv.reader(source), csv.writer(target, lineterminator="\n")
        writer.writerow(next(reader))
        for i, row in enumerate(reader):
            if i in copied:
                new_rows.append(_new_deal(row, col, f"DNEW{seed}-{len(new_rows):07d}", stamp))
                history.append((new_rows[-1][col["deal_id"]], "Prospecting", stamp))
            if i in deleted:
                continue
            if i in moved:
                stage = NEXT_STAGE[row[col["stage"]]]
                row[col["stage"]], row[col["updated_at"]] = stage, stamp
                if stage == "Closed Won":
                    row[col["status"]], row[col["closed_at"]] = "won", stamp
                history.append((row[col["deal_id"]], stage, stamp))
            writer.writerow(row)
        writer.writerows(new_rows)
    os.replace(temporary, deals_path)
    temporary = history_path.with_suffix(".csv.tmp")
    shutil.copyfile(history_path, temporary)
    with temporary.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(history)
    os.replace(temporary, history_path)
    return {"moved": len(moved), "new": len(new_rows), "deleted": len(deleted)}


def _new_deal(row: list[str], col: dict[str, int], deal_id: str, stamp: str) -> list[str]:
    new = list(row)
    new[col["deal_id"]] = deal_id
    new[col["created_at"]] = new[col["updated_at"]] = stamp
    new[col["stage"]], new[col["status"]], new[col["closed_at"]] = "Prospecting", "open", ""
    if "legacy_id" in col:
        new[col["legacy_id"]] = ""
    return new
