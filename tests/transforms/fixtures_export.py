"""The ``export`` source: a CSV export laid out the usual way (one row per deal: stage among
Prospecting / Engaging / Won / Lost, an engage date, a close date, no stage timestamps;
Prospecting rows carry no dates at all), mapped the README way (``created_at: engage_date``,
``closed_at: close_date``, ``stage_dates: {Engaging: engage_date}``) and first synced without
``as_of``, so every deal's first stage observation carries the sync time.

Written as the CSV connector and the observation step would write it, with the history and
creation instant each deal must get, by hand (docs/metrics.md "Creation" and "Stage history").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from .fixtures import EXPORT_SOURCE, ExpectedDeal, Tables

SYNC = datetime(2026, 6, 20, 12, tzinfo=UTC)  # the first sync, before as_of
OWNER_EMAIL = "export.owner@example.com"
PIPELINE = "main"
STAGE_MAP = {  # native label -> canonical stage (hub.yml stage_map of the source)
    "Prospecting": "prospecting",
    "Engaging": "qualification",
    "Won": "closed_won",
    "Lost": "closed_lost",
}
STATUS = {"Won": "won", "Lost": "lost"}


def on_day(day: int) -> datetime:
    return datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(days=day)


# engage: the engage date (created_at and the Engaging stage date); created: the creation
# column where it differs from the engage date; path / created_at / source: what the hub must
# derive, by hand.
EXPORT_DEALS: list[dict[str, Any]] = [
    dict(id="x_won1", stage="Won", engage=on_day(1), closed=on_day(20), amount="1000",
         path=[("qualification", on_day(1)), ("closed_won", on_day(20))]),
    dict(id="x_won2", stage="Won", engage=on_day(5), closed=on_day(15), amount="3000",
         path=[("qualification", on_day(5)), ("closed_won", on_day(15))]),
    dict(id="x_lost1", stage="Lost", engage=on_day(3), closed=on_day(33), amount="500",
         path=[("qualification", on_day(3)), ("closed_lost", on_day(33))]),
    dict(id="x_open1", stage="Engaging", engage=on_day(40), amount="800",
         path=[("qualification", on_day(40))]),
    dict(id="x_open2", stage="Engaging", engage=on_day(100), amount="1200",
         path=[("qualification", on_day(100))]),
    # the creation column is blank, the Engaging date is not
    dict(id="x_stageonly", stage="Engaging", engage=on_day(60), created=None, amount="600",
         path=[("qualification", on_day(60))], created_at=on_day(60), source="first_stage_event"),
    # no date at all: in the pipeline from when the hub first saw it
    dict(id="x_pros1", stage="Prospecting", amount=None,
         path=[("prospecting", SYNC)], created_at=SYNC, source="first_seen"),
    # no date, but an activity logged on it
    dict(id="x_pros2", stage="Prospecting", activity=on_day(50), amount=None,
         path=[("prospecting", on_day(50))], created_at=on_day(50), source="first_activity"),
    # only a close date
    dict(id="x_closeonly", stage="Won", closed=on_day(30), amount="2000",
         path=[("closed_won", on_day(30))], created_at=on_day(30), source="closed_at"),
]  # fmt: skip


def write_export_source(tables: Tables) -> list[ExpectedDeal]:
    """The source's rows (deals, derived stage events, first-sync observations, one activity,
    its owner, its stage map) and the deals as the hub must see them."""
    source, schema = EXPORT_SOURCE, f"src_{EXPORT_SOURCE}"
    tables.add(
        schema,
        "owners",
        source_name=source,
        crm="csv",
        owner_key=f"{source}:{OWNER_EMAIL}",
        source_owner_id=OWNER_EMAIL,
        name="Export Owner",
        email=OWNER_EMAIL,
        is_active=True,
    )
    for native, canonical in STAGE_MAP.items():
        tables.add(
            "hub",
            "hub_stage_map",
            source_name=source,
            pipeline="*",
            native_stage=native,
            canonical_stage=canonical,
        )
    out = []
    for d in EXPORT_DEALS:
        key = f"{source}:{d['id']}"
        engage = d.get("engage")
        created = d.get("created", engage)
        status = STATUS.get(d["stage"], "open")
        amount = Decimal(d["amount"]) if d["amount"] else None
        tables.add(
            schema,
            "deals",
            source_name=source,
            crm="csv",
            deal_key=key,
            source_deal_id=d["id"],
            name=d["id"],
            pipeline_id=PIPELINE,
            stage_id=d["stage"],
            status=status,
            amount=amount,
            currency="USD",
            owner_id=OWNER_EMAIL,
            created_at=created,
            closed_at=d.get("closed"),
            is_deleted=False,
        )
        if engage is not None:  # stage_dates: {Engaging: engage_date}
            tables.add(
                schema,
                "stage_changes",
                source_name=source,
                crm="csv",
                deal_key=key,
                changed_at=engage,
                stage_id="Engaging",
                pipeline_id=PIPELINE,
                origin="derived",
            )
        tables.add(  # the first sync saw every deal in its stage, at the sync time
            schema,
            "stage_observations",
            source_name=source,
            crm="csv",
            deal_key=key,
            pipeline_id=PIPELINE,
            stage_id=d["stage"],
            observed_at=SYNC,
        )
        activities = []
        if "activity" in d:
            tables.add(
                schema,
                "activities",
                source_name=source,
                crm="csv",
                activity_key=f"{source}:a-{d['id']}",
                source_activity_id=f"a-{d['id']}",
                type="call",
                occurred_at=d["activity"],
                owner_id=OWNER_EMAIL,
                deal_key=key,
                is_deleted=False,
            )
            activities.append(("call", d["activity"], OWNER_EMAIL))
        out.append(
            ExpectedDeal(
                deal_key=key,
                source_name=source,
                status=status,
                created_at=d.get("created_at", created),
                closed_at=d.get("closed"),
                amount=amount,
                currency="USD",
                own_probability=None,
                owner_email=OWNER_EMAIL,
                pipeline_key=f"{source}:{PIPELINE}",
                expected_close_date=None,
                path=d["path"],
                activities=activities,
                current_stage=STAGE_MAP[d["stage"]],
                dimensions={
                    "lead_source": None,
                    "currency": "USD",
                    "industry": None,
                    "segment": None,
                },
                created_at_source=d.get("source", "crm"),
            )
        )
    return out
