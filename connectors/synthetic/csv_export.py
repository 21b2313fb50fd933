"""Write one slice of a synthetic world as the CSV files the CSV connector reads.

Streaming with the stdlib ``csv`` module (constant memory at a million deals), native stage
labels rather than canonical ids (so the stage mapping is exercised), and a ``truth.json``.
``CsvExport.hub_config`` describes the column mapping in canonical field names, custom
fields typed, so a ``hub.yml`` source can point straight at the files.

The deals file holds what the source holds (``World.iter_source_deals``): its own deals and,
when ``WorldSpec.duplicate_share > 0`` and there are several sources, migrated copies of
the previous source's deals (``legacy_id`` names the original). ``truth.json`` counts the
source's own deals only: a copy is the same world deal as its original in another source,
so the truth of all sources together is the world's deals, each once, and summing the
sources' truths gives it. ``row_counts["deals"]`` counts the rows written, copies included
(``CsvExport.migrated_copies`` says how many).

A world with a signal (``WorldSpec.signal``) also writes ``win_probability.csv``: each of the
source's own deals with the probability its outcome was drawn from (``deal_id,
win_probability``), the per-deal half of the ground truth a deal score is measured against.

The accounts file lists the companies the source's deals belong to
(``World.source_accounts``), each named and with its website as this source writes them
(``companies.account_view``); the deals file's ``account_name`` uses the same spelling.
"""

from __future__ import annotations

import csv
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.synthetic.companies import AccountView, account_view
from connectors.synthetic.truth import GroundTruth
from connectors.synthetic.world import Account, World

STAGE_LABELS: dict[str, str] = {
    "prospecting": "Prospecting",
    "qualification": "Qualified",
    "meeting": "Meeting Booked",
    "proposal": "Proposal Sent",
    "negotiation": "Negotiation",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
}
PIPELINE = "Sales"
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

DEAL_COLUMNS: dict[str, str] = {
    "source_deal_id": "deal_id",
    "name": "deal_name",
    "owner_id": "owner_email",
    "account_id": "account_id",
    "account_name": "account_name",
    "pipeline_id": "pipeline",
    "stage_id": "stage",
    "status": "status",
    "amount": "amount",
    "currency": "currency",
    "probability": "probability",
    "created_at": "created_at",
    "expected_close_date": "expected_close_date",
    "closed_at": "closed_at",
    "lost_reason": "lost_reason",
    "updated_at": "updated_at",
}
DEAL_CUSTOM_FIELDS: dict[str, str] = {"lead_source": "enum", "legacy_id": "text"}
ACCOUNT_COLUMNS: dict[str, str] = {
    "source_account_id": "account_id",
    "name": "name",
    "website": "website",
    "industry": "industry",
    "country": "country",
    "owner_id": "owner_email",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
ACCOUNT_CUSTOM_FIELDS: dict[str, str] = {"segment": "enum", "employees": "number"}
ACTIVITY_COLUMNS: dict[str, str] = {
    "source_activity_id": "activity_id",
    "deal_id": "deal_id",
    "type": "type",
    "subject": "subject",
    "occurred_at": "occurred_at",
    "completed": "completed",
    "owner_id": "owner_email",
    "duration_s": "duration_s",
    "direction": "direction",
    "outcome": "outcome",
}
OWNER_COLUMNS: dict[str, str] = {
    "source_owner_id": "owner_id",
    "name": "name",
    "email": "email",
    "team": "team",
    "is_active": "is_active",
}
STAGE_HISTORY_COLUMNS: dict[str, str] = {
    "deal_id": "deal_id",
    "stage_id": "stage",
    "changed_at": "changed_at",
}
FILES = {
    "deals": "deals.csv",
    "activities": "activities.csv",
    "owners": "owners.csv",
    "stage_history": "stage_history.csv",
    "accounts": "accounts.csv",
}
WIN_PROBABILITY_FILE = "win_probability.csv"  # signal worlds only
_COLUMNS = {
    "deals": DEAL_COLUMNS,
    "activities": ACTIVITY_COLUMNS,
    "owners": OWNER_COLUMNS,
    "stage_history": STAGE_HISTORY_COLUMNS,
    "accounts": ACCOUNT_COLUMNS,
}
CUSTOM_FIELDS = {"deals": DEAL_CUSTOM_FIELDS, "accounts": ACCOUNT_CUSTOM_FIELDS}


@dataclass
class CsvExport:
    """What was written, where, and how a CSV source maps it onto the canonical schema."""

    out_dir: Path
    paths: dict[str, Path]
    row_counts: dict[str, int]
    truth: GroundTruth
    truth_path: Path
    hub_config: dict[str, Any]
    stage_labels: dict[str, str] = field(default_factory=lambda: dict(STAGE_LABELS))
    migrated_copies: int = 0  # deals rows that copy another source's deal (legacy_id set)
    win_probability_path: Path | None = None  # only when the world has a signal


_HOURS_MINUTES = [f"T{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
_SECONDS = [f"{sec:02d}Z" for sec in range(60)]
_DAY_STRINGS: dict[int, str] = {}


def format_ts(value: datetime | None) -> str:
    """``2026-03-01T14:05:00Z`` (UTC, whole seconds) or blank for None.

    Table lookups instead of ``isoformat``: aware ``isoformat`` costs ~1 us and this runs
    several million times for a benchmark-sized export.
    """
    if value is None:
        return ""
    ts = int(value.timestamp())
    day, sec = divmod(ts, 86_400)
    day_str = _DAY_STRINGS.get(day)
    if day_str is None:
        day_str = _DAY_STRINGS[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
    return day_str + _HOURS_MINUTES[sec // 60] + _SECONDS[sec % 60]


def hub_config_for(out_dir: Path) -> dict[str, Any]:
    """The ``hub.yml`` fragment (plain dict) mapping canonical fields to CSV columns, and
    the custom-field columns to their types."""
    config: dict[str, Any] = {}
    for table, columns in _COLUMNS.items():
        config[table] = {"path": str(out_dir / FILES[table]), "columns": dict(columns)}
        if table in CUSTOM_FIELDS:
            config[table]["custom_fields"] = dict(CUSTOM_FIELDS[table])
    return config


def write_csv_source(
    world: World, out_dir: Path, *, source_index: int = 0, n_sources: int = 1
) -> CsvExport:
    """Write deals, stage history, activities, owners, accounts and truth for one source's
    slice (see the module docstring for migrated copies)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {table: out_dir / name for table, name in FILES.items()}
    email = {rep.rep_id: rep.email for rep in world.reps}
    labels = STAGE_LABELS
    ts = format_ts
    truth = GroundTruth()
    counts = dict.fromkeys(FILES, 0)
    views: dict[int, AccountView] = {}  # the source's companies, as it writes them
    seed = world.spec.seed

    win_probability_path = None
    win_w = None  # the per-deal truth of a signal world, written in the same pass
    with (
        ExitStack() as stack,
        paths["deals"].open("w", encoding="utf-8", newline="") as deals_f,
        paths["stage_history"].open("w", encoding="utf-8", newline="") as hist_f,
        paths["activities"].open("w", encoding="utf-8", newline="") as act_f,
    ):
        if world.signal_model is not None:
            win_probability_path = out_dir / WIN_PROBABILITY_FILE
            win_f = stack.enter_context(
                win_probability_path.open("w", encoding="utf-8", newline="")
            )
            win_w = csv.writer(win_f, lineterminator="\n")
            win_w.writerow(("deal_id", "win_probability"))
        deals_w = csv.writer(deals_f, lineterminator="\n")
        hist_w = csv.writer(hist_f, lineterminator="\n")
        act_w = csv.writer(act_f, lineterminator="\n")
        deals_w.writerow([*DEAL_COLUMNS.values(), *DEAL_CUSTOM_FIELDS])
        hist_w.writerow(STAGE_HISTORY_COLUMNS.values())
        act_w.writerow(ACTIVITY_COLUMNS.values())
        n_deals = n_hist = n_act = 0
        for deal in world.iter_source_deals(source_index, n_sources):
            deal_id = deal.deal_id
            account = deal.account
            view = views.get(account.index)
            if view is None:
                view = views[account.index] = account_view(account, source_index, seed)
            deals_w.writerow(
                (
                    deal_id,
                    deal.name,
                    email[deal.owner],
                    account.account_id,
                    view.name,
                    PIPELINE,
                    labels[deal.path[-1].stage],
                    deal.status,
                    deal.amount,
                    deal.currency,
                    "" if deal.probability is None else deal.probability,
                    ts(deal.created_at),
                    deal.expected_close_date.isoformat(),
                    ts(deal.closed_at),
                    deal.lost_reason,
                    ts(deal.updated_at),
                    deal.lead_source,
                    deal.legacy_id,
                )
            )
            hist_w.writerows([(deal_id, labels[v.stage], ts(v.entered_at)) for v in deal.path])
            act_w.writerows(
                [
                    (
                        a.activity_id,
                        deal_id,
                        a.type,
                        a.subject,
                        ts(a.occurred_at),
                        "true" if a.completed else "false",
                        email[a.owner],
                        a.duration_s,
                        a.direction,
                        a.outcome,
                    )
                    for a in deal.activities
                ]
            )
            n_deals += 1
            n_hist += len(deal.path)
            n_act += len(deal.activities)
            if deal.legacy_id is None:  # a copy is its original's deal, counted there
                truth.add(deal)
                if win_w is not None:
                    win_w.writerow((deal_id, repr(world.true_win_probability(deal))))
        counts.update(deals=n_deals, stage_history=n_hist, activities=n_act)

    with paths["owners"].open("w", encoding="utf-8", newline="") as owners_f:
        owners_w = csv.writer(owners_f, lineterminator="\n")
        owners_w.writerow(OWNER_COLUMNS.values())
        for rep in world.reps:
            active = "true" if rep.is_active else "false"
            owners_w.writerow((rep.email, rep.name, rep.email, rep.team, active))
        counts["owners"] = len(world.reps)

    accounts = [world.accounts[index] for index in sorted(views)]
    _write_accounts(paths["accounts"], accounts, views, email)
    counts["accounts"] = len(accounts)

    truth_path = out_dir / "truth.json"
    truth_path.write_text(truth.to_json(), encoding="utf-8")
    return CsvExport(
        out_dir=out_dir,
        paths=paths,
        row_counts=counts,
        truth=truth,
        truth_path=truth_path,
        hub_config=hub_config_for(out_dir),
        migrated_copies=counts["deals"] - truth.n_deals,
        win_probability_path=win_probability_path,
    )


def _write_accounts(
    path: Path, accounts: list[Account], views: dict[int, AccountView], email: dict[str, str]
) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*ACCOUNT_COLUMNS.values(), *ACCOUNT_CUSTOM_FIELDS])
        for account in accounts:
            view = views[account.index]
            writer.writerow(
                (
                    account.account_id,
                    view.name,
                    view.website,
                    account.industry,
                    account.country,
                    email[account.owner] if account.owner else None,
                    format_ts(account.created_at),
                    format_ts(account.updated_at),
                    account.segment,
                    account.employees,
                )
            )
