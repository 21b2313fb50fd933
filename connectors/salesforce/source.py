"""The dlt source for ``kind: salesforce``: one resource per canonical table.

Deals, activities and owners are incremental on ``SystemModstamp`` (one
:func:`modstamp_cursor` each) through /queryAll so recycle-bin rows arrive as
``is_deleted``. Stage history is read with the deals that changed: their whole
OpportunityHistory is re-read (it is short) so ``from_stage_id`` is always right. Stage
metadata is re-read each run (one call).

Each incremental stream is a pages resource, mapped into rows and quarantine rows that
``split_pages`` fans out. Reads are ordered by ``SystemModstamp, Id`` and the cursor is
committed after each page that was fully yielded (history included), so when the daily
allocation runs out (``QuotaExhausted``) the source calls ``ctx.stop``, every resource
returns what it has, and the next run resumes from the last complete page. Bulk 2.0 pages
come unordered, so a Bulk read moves its cursor only once it is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource, DltSource

from connectors.base import SourceContext, until_stopped
from connectors.canonical_tables import canonical_hints, split_pages
from connectors.incremental import Cursor, Stamps
from connectors.salesforce import mapping
from connectors.salesforce.client import BulkPage, Record, SalesforceClient
from connectors.salesforce.options import SalesforceOptions
from connectors.salesforce.queries import build_soql, id_batches, select, soql_datetime
from connectors.salesforce.settings import (
    EVENT_FIELDS,
    HISTORY_FIELDS,
    OPPORTUNITY_FIELDS,
    PIPELINE_ID,
    PIPELINE_LABEL,
    STAGE_FIELDS,
    TASK_FIELDS,
    USER_FIELDS,
)
from connectors.values import quarantine_row
from models.canonical import Activity, Deal, Owner, Pipeline, Stage, StageChange
from models.errors import QuotaExhausted

Row = dict[str, Any]
Mapper = Callable[[Record], tuple[Row, list[Row]]]
Page = dict[str, list[Row]]


@dataclass
class SalesforceRun:
    """One run against one org: the client, and what the resources learn on the way."""

    ctx: SourceContext
    client: SalesforceClient
    first_sync: dict[str, bool] = field(default_factory=dict)  # per object, for history
    hub_user: str | None = None  # the integration user, read once the session exists

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def options(self) -> SalesforceOptions:
        return self.client.options

    def modified(
        self, obj: str, fields: list[str], *, all_rows: bool = True
    ) -> Iterator[list[Record]]:
        """Fresh rows of ``obj`` page by page, ascending by SystemModstamp. The cursor is
        committed when the consumer asks for the next page, i.e. after it yielded this one."""
        state = dlt.current.resource_state().setdefault(obj, {})
        cursor = modstamp_cursor(state, self.options.lookback_s, full_refresh=self.ctx.full_refresh)
        self.first_sync[obj] = cursor.first_sync
        since = f"SystemModstamp >= {soql_datetime(cursor.since)}" if cursor.since else None
        order = "SystemModstamp, Id"
        pages = select(
            self.client,
            fields,
            obj,
            where=since,
            all_rows=all_rows,
            first_sync=cursor.first_sync,
            order=order,
        )
        for page in until_stopped(self.ctx, pages):
            yield [r for r in page if cursor.fresh(r["Id"], r.get("SystemModstamp"))]
            if not isinstance(page, BulkPage):  # unordered: the cursor moves at the end
                cursor.commit(final=False)
        if not self.ctx.stop_reason:
            cursor.commit()

    def map_page(self, records: list[Record], fn: Mapper, entity: str, where: str) -> Page:
        """Rows plus quarantine rows: a bad optional value costs only that value (the
        mapping says which), a record that cannot be mapped at all (no Id) is quarantined
        whole."""
        rows: list[Row] = []
        bad: list[Row] = []
        for rec in records:
            try:
                row, refused = fn(rec)
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                rec_id = rec.get("Id")
                self.ctx.stats.warnings.append(
                    f"quarantined {entity} {rec_id}: {type(exc).__name__}"
                )
                record_id = None if rec_id in (None, "") else str(rec_id)
                reason = f"{type(exc).__name__}: {exc}; skipped"
                bad.append(quarantine_row(self.name, mapping.CRM, entity, record_id, where, reason))
                continue
            rows.append(row)
            bad.extend(refused)
        return {"rows": rows, "quarantine": bad}

    def history_of(self, page: list[Record]) -> list[Record]:
        """OpportunityHistory for a page of deals; on a first sync the whole table once."""
        client = self.client
        if self.first_sync.get("Opportunity"):
            if self.first_sync.get("history_done"):
                return []
            pages = select(
                client, HISTORY_FIELDS, "OpportunityHistory", all_rows=True, first_sync=True
            )
            self.first_sync["history_done"] = True
            return [r for p in pages for r in p]
        head = build_soql(HISTORY_FIELDS, "OpportunityHistory", "OpportunityId IN ()", "Id")
        records: list[Record] = []
        for batch in id_batches(client, [str(r["Id"]) for r in page], head, all_rows=True):
            where = "OpportunityId IN (" + ", ".join(f"'{i}'" for i in batch) + ")"
            pages = select(client, HISTORY_FIELDS, "OpportunityHistory", where=where, all_rows=True)
            records.extend(r for p in pages for r in p)
        return records


def modstamp_cursor(
    state: dict[str, Any], lookback_s: int, *, full_refresh: bool
) -> Cursor[datetime]:
    """SystemModstamp; ``cursor`` and ``seen`` are the keys ModstampCursor wrote."""
    stamps = Stamps(mapping.parse_datetime, datetime.isoformat, timedelta(seconds=lookback_s))
    return Cursor(state, stamps, full_refresh=full_refresh)


def opportunity_fields(opts: SalesforceOptions) -> list[str]:
    fields = list(OPPORTUNITY_FIELDS)
    extra = [
        *opts.custom_fields,
        opts.lost_reason_field,
        "CurrencyIsoCode" if opts.multi_currency else None,
    ]
    for name in extra:
        if name and name not in fields:
            fields.append(name)
    return fields


# ----- resources: table hints first -----------------------------------------------------------


@dlt.resource(name="opportunity_pages", selected=False)
def opportunity_pages(run: SalesforceRun) -> Iterator[Page]:
    """Opportunity pages mapped, with their history already read: a page whose history
    the budget did not cover is not yielded and the cursor stays before it."""
    ctx = run.ctx
    if ctx.stop_reason:
        return
    try:
        run.hub_user = run.client.user_id
    except QuotaExhausted as exc:
        ctx.stop(str(exc))
        return
    deal = partial(mapping.deal_row, source=run.name, opts=run.options, where="Opportunity")
    for page in run.modified("Opportunity", opportunity_fields(run.options)):
        if not page:
            continue
        try:
            history = run.history_of(page)
        except QuotaExhausted as exc:
            ctx.stop(str(exc))
            return
        yield {**run.map_page(page, deal, "deals", "Opportunity"), "history": history}


@dlt.transformer(**canonical_hints(StageChange))
def stage_changes(page: Page, run: SalesforceRun) -> Iterator[list[Row]]:
    """History read with the page (see ``opportunity_pages``): no request here."""
    if page["history"]:
        yield mapping.stage_change_rows(page["history"], run.name, run.hub_user)


@dlt.resource(**canonical_hints(Pipeline))
def pipelines(run: SalesforceRun) -> Iterator[Row]:
    """Salesforce stages are org-wide (sales processes pick subsets per record type)."""
    yield {
        "source_name": run.name,
        "crm": mapping.CRM,
        "pipeline_key": mapping.make_key(run.name, PIPELINE_ID),
        "pipeline_id": PIPELINE_ID,
        "label": PIPELINE_LABEL,
        "display_order": 0,
        "is_deleted": False,
    }


@dlt.resource(**canonical_hints(Stage))
def stages(run: SalesforceRun) -> Iterator[list[Row]]:
    soql = build_soql(STAGE_FIELDS, "OpportunityStage", None, "SortOrder")
    pages = list(until_stopped(run.ctx, run.client.query(soql)))
    if not run.ctx.stop_reason:
        yield mapping.stage_rows([r for page in pages for r in page], run.name)


@dlt.resource(name="owners", selected=False)
def owner_pages(run: SalesforceRun) -> Iterator[Page]:
    """User pages, mapped; named ``owners`` because the User cursor lives in its state."""

    def owner(rec: Record) -> tuple[Row, list[Row]]:
        return mapping.owner_row(rec, run.name), []

    for page in run.modified("User", list(USER_FIELDS), all_rows=False):
        yield run.map_page(page, owner, "owners", "User")


@dlt.resource(name="activities", selected=False)
def activity_pages(run: SalesforceRun) -> Iterator[Page]:
    """Task then Event pages, mapped. Named ``activities`` because the Task and Event
    cursors live in this resource's state."""
    for obj, fields, fn in (
        ("Task", TASK_FIELDS, mapping.task_row),
        ("Event", EVENT_FIELDS, mapping.event_row),
    ):
        for page in run.modified(obj, list(fields)):
            yield run.map_page(page, partial(fn, source=run.name, where=obj), "activities", obj)


def build_source(ctx: SourceContext) -> DltSource:
    opts = ctx.options
    assert isinstance(opts, SalesforceOptions)
    client = SalesforceClient(
        opts, lambda key: ctx.credential(key, required=False), stats=ctx.stats
    )
    run = SalesforceRun(ctx, client)
    deals_read, owners_read = opportunity_pages(run), owner_pages(run)
    deals, quarantine = split_pages(
        deals_read, Deal, rows="rows", name="deals", quarantine_name="quarantine"
    )
    owners, owner_quarantine = split_pages(
        owners_read, Owner, rows="rows", name="owner_rows", quarantine_name="owner_quarantine"
    )
    resources: list[DltResource] = [
        deals_read,
        deals,
        deals_read | stage_changes(run),
        quarantine,
        pipelines(run),
        stages(run),
        owners_read,
        owners,
        owner_quarantine,
    ]
    if opts.include_activities:
        activities_read = activity_pages(run)
        resources += [
            activities_read,
            *split_pages(
                activities_read,
                Activity,
                rows="rows",
                name="activity_rows",  # "activities" is the pages resource, with the cursors
                quarantine_name="activity_quarantine",
            ),
        ]

    @dlt.source(name="salesforce", max_table_nesting=0)
    def salesforce() -> list[DltResource]:
        return resources

    return salesforce()
