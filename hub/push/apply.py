"""``hub push --apply``: write the plan, journal first, one outcome per row.

Per source, deals go out in the largest batch its writer takes (``Writer.max_batch``).
For every batch:

1. the intents go into ``hub_push_journal`` and are committed; a row another run claimed
   first (same ``row_id``: it planned the same change from the same journal state) is
   left to that run, so two concurrent applies never send or log one change twice;
2. a writer that reads live but does not re-check on its own
   (``Writer.rechecks_before_write`` false) is re-read: a row whose field changed since
   the plan becomes a conflict (one that already holds the new value is written), and the
   rest carry the read's modification time as ``DealUpdate.base_modified_at`` (for the
   fields in ``Writer.guard_fields``), for the API's conditional write, so a rep's edit in
   between is kept;
3. the writer is called; if the call itself fails the batch is split in halves and each
   half retried, down to the single row, so one bad row never fails its batch-mates;
4. rows the writer calls ``retryable`` (lock contention, 429s that outlasted the client's
   own retries, 5xx) are sent again, and only they, for ``push.max_attempts`` rounds with
   exponential back-off (tenacity; sleeps go through ``connectors.http.clock``);
5. every row's outcome goes into ``hub_push_log``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

import connectors.http
from connectors.base import DealUpdate, SourceContext, Writer, WriteResult
from hub.locks import locks_warehouse
from hub.push.journal import Intent, claim, record
from hub.push.normalize import same, wire
from hub.push.plan import PlannedRow, PushPlan, SourcePlan
from hub.push.safety import check_cap
from hub.push.tables import ensure_tables, hub_push_log
from hub.push.writers import read_live, scrub, writer_for
from hub.warehouse import Warehouse
from models.errors import AuthError, ConfigError, HubError, QuotaExhausted


@dataclass
class SourceResult:
    source_name: str
    crm: str
    counts: Counter[str] = field(default_factory=Counter)
    requests: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def write_requests(self) -> int:
        return sum(
            n
            for k, n in self.requests.items()
            if not k.startswith("GET") and "batch/read" not in k and "/query" not in k
        )


@dataclass
class PushResult:
    run_id: str
    sources: dict[str, SourceResult] = field(default_factory=dict)

    @property
    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for s in self.sources.values():
            total.update(s.counts)
        return total


Entry = tuple[PlannedRow, str, "str | None", "datetime | None"]


def new_run_id() -> str:
    return "push-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


class _Run:
    """One source's apply: the writer, the warehouse, the rows' outcomes."""

    def __init__(
        self,
        warehouse: Warehouse,
        run_id: str,
        plan: SourcePlan,
        ctx: SourceContext,
        writer: Writer,
        max_attempts: int,
    ) -> None:
        self.warehouse, self.run_id, self.plan = warehouse, run_id, plan
        self.ctx, self.writer, self.max_attempts = ctx, writer, max_attempts
        self.result = SourceResult(plan.source_name, plan.crm)

    # ----- journal and log ------------------------------------------------------------------
    def _row(self, row: PlannedRow, intent: Intent | None = None) -> dict[str, Any]:
        return {
            "run_id": intent.run_id if intent else self.run_id,
            "row_id": intent.row_id if intent else row.row_id,
            "source_name": row.source_name,
            "crm": row.crm,
            "deal_key": row.deal_key,
            "deal_id": row.deal_id,
            "field": row.field,
        }

    def log(self, entries: Sequence[Entry]) -> None:
        now = datetime.now(UTC)
        rows = []
        for row, status, error, modified in entries:
            if status == "landed":  # the dead run's intent carries the outcome, not this run
                status = ""
            if status:
                rows.append(
                    {
                        **self._row(row),
                        "old_value": row.current_value,
                        "new_value": row.new_value,
                        "status": status,
                        "error": scrub(self.ctx, error) if error else None,
                        "model": row.model,
                        "modified_at": modified,
                        "logged_at": now,
                    }
                )
            self.result.counts[status or "confirmed"] += 1
            for intent in row.landed:  # a dead run's write that did land
                rows.append(
                    self._intent_outcome(
                        row, intent, "written", f"landed; confirmed by {self.run_id}", now
                    )
                )
            for intent in row.not_landed:
                rows.append(
                    self._intent_outcome(
                        row, intent, "interrupted", f"did not land; handled by {self.run_id}", now
                    )
                )
        record(self.warehouse, hub_push_log, rows)

    def _intent_outcome(
        self, row: PlannedRow, intent: Intent, status: str, note: str, now: datetime
    ) -> dict[str, Any]:
        return {
            **self._row(row, intent),
            "old_value": intent.old_value,
            "new_value": intent.new_value,
            "status": status,
            "error": note,
            "model": row.model,
            "modified_at": row.modified_at,
            "logged_at": now,
        }

    def claim(self, rows: Sequence[PlannedRow]) -> list[PlannedRow]:
        """Journal the intents; the rows this run now holds (another run that planned the
        same change from the same state and claimed it first writes and logs it)."""
        now = datetime.now(UTC)
        intents = [
            {
                **self._row(r),
                "old_value": r.current_value,
                "new_value": r.new_value,
                "intent_at": now,
            }
            for r in rows
        ]
        held = claim(self.warehouse, self.run_id, intents)
        mine = [r for r in rows if r.row_id in held]
        if len(mine) < len(rows):
            self.result.counts["by_other_run"] += len(rows) - len(mine)
        return mine

    # ----- writing ------------------------------------------------------------------------
    def send(self, updates: Sequence[DealUpdate]) -> dict[str, WriteResult]:
        """One writer call; a call that fails outright is split until the bad row is alone."""
        try:
            return {r.deal_id: r for r in self.writer.write(list(updates))}
        except (AuthError, QuotaExhausted, ConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the call: split and retry
            text = str(exc) if isinstance(exc, HubError) else f"{type(exc).__name__}: {exc}"
            if "still failing" in text:  # the client's own retries ran out: send again later
                return {u.deal_id: WriteResult(u.deal_id, "retryable", text) for u in updates}
            if len(updates) > 1:
                half = len(updates) // 2
                return {**self.send(updates[:half]), **self.send(updates[half:])}
            return {updates[0].deal_id: WriteResult(updates[0].deal_id, "failed", text)}

    def send_with_retries(self, updates: Sequence[DealUpdate]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        todo = list(updates)

        def round_() -> list[DealUpdate]:
            nonlocal todo
            results.update(self.send(todo))
            todo = [u for u in todo if results[u.deal_id].status == "retryable"]
            return todo

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=1, min=1, max=30),
            retry=retry_if_result(bool),
            sleep=connectors.http.clock.sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else [],
        )
        retrying(round_)
        return results

    def recheck(self, rows: list[PlannedRow]) -> list[PlannedRow]:
        """Re-read just before writing, for a writer that does not; changed rows become
        conflicts, rows that already hold the value are written; the rest are returned."""
        current = read_live(
            self.writer,
            list(dict.fromkeys(r.deal_id for r in rows)),
            sorted({r.field for r in rows}),
        )
        keep: list[PlannedRow] = []
        settled: list[Entry] = []
        for row in rows:
            now = current.get(row.deal_id)
            if now is None:
                settled.append((row, "failed", f"not found in {row.crm} (deleted?)", None))
            elif same(row.field, now.values.get(row.field), row.new_value):
                settled.append((row, "written", f"already in {row.crm}", now.modified_at))
            elif not same(row.field, now.values.get(row.field), row.base_value):
                settled.append(
                    (
                        row,
                        "conflict",
                        f"changed in {row.crm} since the plan read "
                        f"it: now {now.values.get(row.field)!r}",
                        now.modified_at,
                    )
                )
            else:
                row.modified_at = now.modified_at
                keep.append(row)
        if settled:
            self.log(settled)
        return keep

    def updates(self, rows: list[PlannedRow]) -> list[DealUpdate]:
        by_deal: dict[str, list[PlannedRow]] = {}
        for row in rows:
            by_deal.setdefault(row.deal_id, []).append(row)
        guarded = self.writer.guard_fields
        out = []
        for deal_id, deal_rows in by_deal.items():
            first = deal_rows[0]
            fields = {r.field: wire(r.field, r.new_value) for r in deal_rows}
            base = {r.field: wire(r.field, r.base_value) for r in deal_rows}
            guard = first.modified_at
            if guarded is not None and guarded.isdisjoint(fields):
                guard = None  # no field the writer guards: its cheaper, plain write
            out.append(DealUpdate(deal_id, fields, base, guard, first.pipeline_id))
        return out

    def write_batch(self, rows: list[PlannedRow]) -> None:
        rows = self.claim(rows)
        if rows and self.writer.live_read and not self.writer.rechecks_before_write:
            rows = self.recheck(rows)
        if not rows:
            return
        results = self.send_with_retries(self.updates(rows))
        entries: list[Entry] = []
        for row in rows:
            res = results.get(row.deal_id) or WriteResult(row.deal_id, "retryable", "no result")
            status, error = res.status, res.error
            if status == "skipped":  # the writer found the value already there
                status, error = "written", error or "already up to date"
            entries.append((row, status, error, res.modified_at))
        self.log(entries)

    def run(self, on_batch: Callable[[str, int], None] | None = None) -> SourceResult:
        plan = self.plan
        done: list[Entry] = [
            (r, "landed" if r.landed else "written", f"already in {r.crm}", r.modified_at)
            for r in plan.rows
            if r.action == "confirm"
        ]
        done += [
            (r, "conflict", r.reason, r.modified_at) for r in plan.rows if r.action == "conflict"
        ]
        done += [(r, "failed", r.reason, None) for r in plan.rows if r.action == "missing"]
        if done:
            self.log(done)
        writes = [r for r in plan.rows if r.action == "write"]
        deals = list(dict.fromkeys(r.deal_id for r in writes))
        size = max(1, self.writer.max_batch)
        for start in range(0, len(deals), size):
            chunk = set(deals[start : start + size])
            batch = [r for r in writes if r.deal_id in chunk]
            try:
                self.write_batch(batch)
            except (AuthError, QuotaExhausted, ConfigError) as exc:
                message = scrub(self.ctx, str(exc))
                self.result.error = message
                rest = [r for r in writes if r.deal_id in set(deals[start:])]
                self.log(
                    [
                        (
                            r,
                            "retryable" if isinstance(exc, QuotaExhausted) else "failed",
                            f"not written: {message}",
                            None,
                        )
                        for r in rest
                    ]
                )
                break
            if on_batch is not None:
                on_batch(plan.source_name, len(chunk))
        now = datetime.now(UTC)
        orphans = [
            {
                "run_id": i.run_id,
                "row_id": i.row_id,
                "source_name": plan.source_name,
                "crm": plan.crm,
                "deal_key": deal_key,
                "deal_id": "",
                "field": fld,
                "old_value": i.old_value,
                "new_value": i.new_value,
                "status": "interrupted",
                "error": f"outcome unknown; no longer asked for (seen by {self.run_id})",
                "model": None,
                "modified_at": None,
                "logged_at": now,
            }
            for deal_key, fld, i in plan.orphans
        ]
        record(self.warehouse, hub_push_log, orphans)
        return self.result


@locks_warehouse("push", needs_complete_build=True)
def apply_push(
    config: Any,
    plan: PushPlan,
    *,
    force: bool = False,
    on_batch: Callable[[str, int], None] | None = None,
) -> PushResult:
    """Write what the plan says, holding the warehouse lock and only on completely built
    marts; raise :class:`~hub.push.safety.PushAborted` over the cap."""
    return apply_unlocked(config, plan, force=force, on_batch=on_batch)


def apply_unlocked(
    config: Any,
    plan: PushPlan,
    *,
    force: bool = False,
    on_batch: Callable[[str, int], None] | None = None,
) -> PushResult:
    """:func:`apply_push` without the warehouse lock or the build check: what the journal
    alone guarantees (each change claimed, sent and logged by one run only). The library
    and the CLI call :func:`apply_push`; this is for a caller that already holds the lock
    or, in tests, shows that two unserialised runs still never send a change twice."""
    check_cap(plan, force=force)
    warehouse = Warehouse(config)
    with warehouse.connect() as conn:
        ensure_tables(conn)
    result = PushResult(new_run_id())
    for name, source_plan in plan.sources.items():
        if source_plan.error is not None:
            result.sources[name] = SourceResult(name, source_plan.crm, error=source_plan.error)
            continue
        if not source_plan.rows and not source_plan.orphans:
            result.sources[name] = SourceResult(name, source_plan.crm)
            continue
        ctx, writer = writer_for(config, config.source(name))
        run = _Run(warehouse, result.run_id, source_plan, ctx, writer, config.push.max_attempts)
        try:
            run.run(on_batch)
        finally:
            run.result.requests = ctx.stats.by_endpoint()
        result.sources[name] = run.result
    return result
