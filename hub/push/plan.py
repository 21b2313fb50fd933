"""``hub push`` (no ``--apply``): what would be written, read-only except for API reads.

For each configured source with a writer, the outbound rows are diffed in three steps:

1. against the journal: a row equal to the value the hub last wrote is dropped;
2. against the latest pull: a row equal to the CRM's value at the pull is dropped (when the
   pull is newer than the hub's last write);
3. against the CRM now (``Writer.read_current``, when the writer declares ``live_read``;
   otherwise the plan notes that the source is pushed unchecked): a row the CRM already
   holds is dropped; a row whose field the CRM changed since the hub last knew it (the
   pulled value, or the hub's own last write, whichever is newer) is a **conflict** and is
   never written; a deal the CRM no longer has is **missing**.

Rows left by a run that died mid-call (an intent in the journal without an outcome) always
reach step 3: if the CRM holds their value they are **confirmed** (it landed), otherwise
they are written again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Literal, get_args

import sqlalchemy as sa

from connectors.base import LiveDeal
from connectors.registry import get_connector
from hub.push.journal import Intent, JournalState, read_state
from hub.push.normalize import same
from hub.push.outbound import OutboundRow, read_outbound
from hub.push.writers import read_live, scrub, writer_for
from hub.score.guard import SCORE_FIELDS, score_verdict
from hub.warehouse import Warehouse, dataset_name
from models.config import HubConfig, SourceConfig
from models.errors import HubError

Action = Literal["write", "conflict", "missing", "confirm"]


@dataclass
class PlannedRow:
    source_name: str
    crm: str
    deal_key: str
    deal_id: str
    pipeline_id: str | None
    field: str
    model: str
    new_value: str | None
    current_value: str | None  # the CRM now (live read), else at the latest pull
    base_value: str | None  # what the hub last knew the CRM held
    action: Action
    reason: str | None = None
    modified_at: datetime | None = None  # the CRM's modification time at the live read
    landed: list[Intent] = dc_field(default_factory=list)  # interrupted intents that landed
    not_landed: list[Intent] = dc_field(default_factory=list)  # ... and those that did not
    row_id: str = ""  # this change as planned from this journal state (journal.row_id)


@dataclass
class SourcePlan:
    source_name: str
    crm: str
    rows: list[PlannedRow] = dc_field(default_factory=list)
    unchanged: int = 0  # equal to the journal's last written value or to the pull
    up_to_date: int = 0  # the CRM already holds the value
    deals_total: int = 0  # deals of the source in the warehouse (the safety cap's base)
    live_checked: bool = False
    # (deal_key, field, intent): interrupted intents the outbound models no longer ask for
    orphans: list[tuple[str, str, Intent]] = dc_field(default_factory=list)
    error: str | None = None
    requests: dict[str, int] = dc_field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.action for r in self.rows)
        by_action = {action: found[action] for action in get_args(Action)}
        return {**by_action, "unchanged": self.unchanged, "up_to_date": self.up_to_date}

    @property
    def deals_to_change(self) -> int:
        return len({r.deal_id for r in self.rows if r.action == "write"})

    @property
    def share(self) -> float:
        if not self.deals_to_change:
            return 0.0
        return self.deals_to_change / self.deals_total if self.deals_total else 1.0


@dataclass
class PushPlan:
    sources: dict[str, SourcePlan]
    max_share: float
    notes: list[str] = dc_field(default_factory=list)

    @property
    def rows(self) -> list[PlannedRow]:
        return [r for s in self.sources.values() for r in s.rows]

    def over_cap(self) -> list[SourcePlan]:
        return [s for s in self.sources.values() if s.error is None and s.share > self.max_share]


def _deal_counts(conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
    inspector = sa.inspect(conn)
    out = {}
    for name in names:
        schema = dataset_name(name)
        if not inspector.has_table("deals", schema=schema):
            out[name] = 0
            continue
        query = sa.text(
            f"SELECT count(*) FROM {schema}.deals WHERE NOT coalesce(is_deleted, false)"
        )
        out[name] = int(conn.execute(query).scalar() or 0)
    return out


def _base(row: OutboundRow, state: JournalState) -> tuple[str | None, bool]:
    """What the hub last knew the CRM held for this field, and whether the row is unchanged."""
    written = state.written.get((row.source_name, row.deal_key, row.field))
    if written is not None and same(row.field, written.value, row.value):
        return written.value, True
    pull_is_newer = written is None or (
        row.crm_updated_at is not None
        and (written.modified_at is None or row.crm_updated_at > written.modified_at)
    )
    if row.current_value is not None and pull_is_newer:
        return row.current_value, same(row.field, row.current_value, row.value)
    if written is not None:
        return written.value, False
    return row.current_value, False


def _classify(row: PlannedRow, now: LiveDeal | None, intents: list[Intent], crm: str) -> None:
    """Decide one row's action from the CRM's value now."""
    if now is None:
        row.action, row.reason = "missing", f"not found in {crm} (deleted or archived?)"
        row.not_landed = intents
        return
    cur = now.values.get(row.field)
    row.current_value, row.modified_at = cur, now.modified_at
    row.landed = [i for i in intents if same(row.field, cur, i.new_value)]
    row.not_landed = [i for i in intents if i not in row.landed]
    if same(row.field, cur, row.new_value):
        row.action = "confirm"
        return
    known = [row.base_value, *(i.new_value for i in intents), *(i.old_value for i in intents)]
    if any(same(row.field, cur, k) for k in known):
        row.action, row.base_value = "write", cur
        return
    row.action = "conflict"
    row.reason = (
        f"changed in {crm} since the hub last read it: the hub knew "
        f"{row.base_value!r}, {crm} now has {cur!r}"
    )


def plan_source(
    config: HubConfig,
    source: SourceConfig,
    rows: list[OutboundRow],
    state: JournalState,
    deals_total: int,
) -> SourcePlan:
    plan = SourcePlan(source.name, source.kind, deals_total=deals_total)
    candidates: list[tuple[PlannedRow, list[Intent]]] = []
    wanted = set()
    for row in rows:
        key = (row.source_name, row.deal_key, row.field)
        wanted.add(key)
        intents = state.pending.get(key, [])
        base, unchanged = _base(row, state)
        if unchanged and not intents:
            plan.unchanged += 1
            continue
        candidates.append(
            (
                PlannedRow(
                    row.source_name,
                    row.crm,
                    row.deal_key,
                    row.deal_id,
                    row.pipeline_id,
                    row.field,
                    row.model,
                    row.value,
                    row.current_value,
                    base,
                    "write",
                    row_id=state.row_id(key, row.value),
                ),
                intents,
            )
        )
    for (src, deal_key, fld), intents in state.pending.items():
        if src == source.name and (src, deal_key, fld) not in wanted:
            plan.orphans.extend((deal_key, fld, i) for i in intents)
    if not candidates:
        return plan
    ctx = None
    try:
        ctx, writer = writer_for(config, source)
        if not writer.live_read:  # pushed without a pre-flight check; plan_push notes it
            plan.rows = [r for r, _ in candidates]
            return plan
        ids = list(dict.fromkeys(r.deal_id for r, _ in candidates))
        current = read_live(writer, ids, sorted({r.field for r, _ in candidates}))
    except HubError as exc:
        plan.error = scrub(ctx, str(exc))
        plan.rows = [r for r, _ in candidates]
        return plan
    finally:
        if ctx is not None:
            plan.requests = ctx.stats.by_endpoint()
    plan.live_checked = True
    for planned, intents in candidates:
        _classify(planned, current.get(planned.deal_id), intents, source.kind)
        if planned.action == "confirm" and not planned.landed and not planned.not_landed:
            plan.up_to_date += 1
        else:
            plan.rows.append(planned)
    return plan


def _guard_scores(
    conn: sa.Connection, config: HubConfig, rows: list[OutboundRow], notes: list[str]
) -> list[OutboundRow]:
    """Drop the score rows unless the latest backtest lets them through (hub.score.guard)."""
    if not config.push.require_better_score or not any(r.field in SCORE_FIELDS for r in rows):
        return rows
    verdict = score_verdict(conn)
    if verdict.allowed:
        return rows
    notes.append(verdict.message)
    return [r for r in rows if r.field not in SCORE_FIELDS]


def plan_push(config: HubConfig, sources: list[str] | None = None) -> PushPlan:
    """Read the outbound models, diff them, check the CRMs; write nothing."""
    chosen = (
        [config.source(n) for n in sources] if sources else [s for s in config.sources if s.enabled]
    )
    warehouse = Warehouse(config)
    with warehouse.connect() as conn:
        warehouse.require_complete_build(conn)  # a plan from half-built marts is refused too
        outbound, notes = read_outbound(conn, config.push.models)
        outbound = _guard_scores(conn, config, outbound, notes)
        state = read_state(conn, [s.name for s in chosen])
        totals = _deal_counts(conn, [s.name for s in chosen])
    plan = PushPlan({}, config.push.max_share, notes)
    by_source: dict[str, list[OutboundRow]] = {}
    for row in outbound:
        by_source.setdefault(row.source_name, []).append(row)
    for source in chosen:
        rows = by_source.pop(source.name, [])
        if get_connector(source.kind).build_writer is None:
            if rows:
                plan.notes.append(
                    f"{source.name}: kind '{source.kind}' has no writer; "
                    f"{len(rows)} outbound row(s) not pushed"
                )
            continue
        planned = plan_source(config, source, rows, state, totals[source.name])
        if planned.rows and not planned.live_checked and planned.error is None:
            plan.notes.append(
                f"{source.name}: the '{source.kind}' writer cannot read the CRM live; "
                f"{len(planned.rows)} row(s) not checked for a rep's newer edit"
            )
        plan.sources[source.name] = planned
    for name, rows in sorted(by_source.items()):
        if not sources:
            plan.notes.append(
                f"{len(rows)} outbound row(s) for '{name}', which is not a "
                "configured, enabled source"
            )
    return plan
