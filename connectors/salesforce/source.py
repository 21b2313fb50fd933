"""The dlt source for ``kind: salesforce``: one resource per canonical table.

Deals, activities and owners are incremental on ``SystemModstamp`` (one
:class:`~connectors.incremental.Cursor` each) through /queryAll so recycle-bin rows arrive
as ``is_deleted``. Stage history is read with the deals that changed: their whole
OpportunityHistory is re-read (it is short) so ``from_stage_id`` is always right. Stage
metadata is re-read each run (one call).

Each incremental stream is a pages resource, mapped into rows and quarantine rows that
``split_pages`` fans out. Reads are ordered by ``SystemModstamp, Id`` and the cursor is
committed after each page that was fully yielded (history included), so when the daily
allocation runs out (``QuotaExhausted``) the source calls ``ctx.stop``, every resource
returns what it has, and the next run resumes from the last complete page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource, DltSource

from connectors.base import SourceContext, until_stopped
from connectors.canonical_tables import canonical_hints, split_pages
from connectors.http import RequestStats
from connectors.incremental import Cursor, Stamps
from connectors.salesforce import mapping
from connectors.salesforce.client import Record, SalesforceClient
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


def map_page(
    records: list[Record], fn: Mapper, source: str, entity: str, where: str, stats: RequestStats
) -> Page:
    """Rows plus quarantine rows: a bad optional value costs only that value (the mapping
    says which), a record that cannot be mapped at all (no Id) is quarantined whole."""
    rows: list[Row] = []
    bad: list[Row] = []
    for rec in records:
        try:
            row, refused = fn(rec)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            rec_id = rec.get("Id")
            stats.warnings.append(f"quarantined {entity} {rec_id}: {type(exc).__name__}")
            record_id = None if rec_id in (None, "") else str(rec_id)
            reason = f"{type(exc).__name__}: {exc}; skipped"
            bad.append(quarantine_row(source, mapping.CRM, entity, record_id, where, reason))
            continue
        rows.append(row)
        bad.extend(refused)
    return {"rows": rows, "quarantine": bad}


def build_source(ctx: SourceContext) -> DltSource:
    opts = ctx.options
    assert isinstance(opts, SalesforceOptions)
    client = SalesforceClient(
        opts, lambda key: ctx.credential(key, required=False), stats=ctx.stats
    )
    return salesforce_resources(client, ctx.name, ctx, full_refresh=ctx.full_refresh)


def salesforce_resources(
    client: SalesforceClient, name: str, ctx: SourceContext, *, full_refresh: bool = False
) -> DltSource:
    opts = client.options
    stamps = Stamps(mapping.parse_datetime, datetime.isoformat, timedelta(seconds=opts.lookback_s))
    first_sync: dict[str, bool] = {}  # per object, for the history read
    hub_user: dict[str, str | None] = {}  # the integration user, read once the session exists

    def modified(obj: str, fields: list[str], *, all_rows: bool = True) -> Iterator[list[Record]]:
        """Fresh rows of ``obj`` page by page, ascending by SystemModstamp. The cursor is
        committed when the consumer asks for the next page, i.e. after it yielded this one."""
        state = dlt.current.resource_state().setdefault(obj, {})
        cursor = Cursor(state, stamps, full_refresh=full_refresh)
        first_sync[obj] = cursor.first_sync
        since = f"SystemModstamp >= {soql_datetime(cursor.since)}" if cursor.since else None
        pages = select(
            client,
            fields,
            obj,
            where=since,
            all_rows=all_rows,
            first_sync=cursor.first_sync,
            order="SystemModstamp, Id",
        )
        for page in until_stopped(ctx, pages):
            yield [r for r in page if cursor.fresh(r["Id"], r.get("SystemModstamp"))]
            cursor.commit(final=False)
        if not ctx.stop_reason:
            cursor.commit()

    def history_of(page: list[Record]) -> list[Record]:
        """OpportunityHistory for a page of deals; on a first sync the whole table once."""
        if first_sync.get("Opportunity"):
            if first_sync.get("history_done"):
                return []
            pages = select(
                client, HISTORY_FIELDS, "OpportunityHistory", all_rows=True, first_sync=True
            )
            first_sync["history_done"] = True
            return [r for p in pages for r in p]
        head = build_soql(HISTORY_FIELDS, "OpportunityHistory", "OpportunityId IN ()", "Id")
        records = []
        for batch in id_batches(client, [str(r["Id"]) for r in page], head, all_rows=True):
            where = "OpportunityId IN (" + ", ".join(f"'{i}'" for i in batch) + ")"
            soql = build_soql(HISTORY_FIELDS, "OpportunityHistory", where, "Id")
            records.extend(r for p in client.query(soql, all_rows=True) for r in p)
        return records

    def deal(rec: Record) -> tuple[Row, list[Row]]:
        return mapping.deal_row(rec, name, opts, "Opportunity")

    @dlt.resource(name="opportunity_pages", selected=False)
    def opportunity_pages() -> Iterator[Page]:
        """Opportunity pages mapped, with their history already read: a page whose history
        the budget did not cover is not yielded and the cursor stays before it."""
        if ctx.stop_reason:
            return
        try:
            hub_user["id"] = client.user_id
        except QuotaExhausted as exc:
            ctx.stop(str(exc))
            return
        for page in modified("Opportunity", opportunity_fields(opts)):
            if not page:
                continue
            try:
                history = history_of(page)
            except QuotaExhausted as exc:
                ctx.stop(str(exc))
                return
            mapped = map_page(page, deal, name, "deals", "Opportunity", ctx.stats)
            yield {**mapped, "history": history}

    deals, quarantine = split_pages(
        opportunity_pages, Deal, rows="rows", name="deals", quarantine_name="quarantine"
    )

    @dlt.transformer(data_from=opportunity_pages, **canonical_hints(StageChange))
    def stage_changes(page: Page) -> Iterator[list[Row]]:
        """History read with the page (see ``opportunity_pages``): no request here."""
        if page["history"]:
            yield mapping.stage_change_rows(page["history"], name, hub_user.get("id"))

    @dlt.resource(**canonical_hints(Pipeline))
    def pipelines() -> Iterator[Row]:
        """Salesforce stages are org-wide (sales processes pick subsets per record type)."""
        yield {
            "source_name": name,
            "crm": mapping.CRM,
            "pipeline_key": mapping.make_key(name, PIPELINE_ID),
            "pipeline_id": PIPELINE_ID,
            "label": PIPELINE_LABEL,
            "display_order": 0,
            "is_deleted": False,
        }

    @dlt.resource(**canonical_hints(Stage))
    def stages() -> Iterator[list[Row]]:
        soql = build_soql(STAGE_FIELDS, "OpportunityStage", None, "SortOrder")
        pages = list(until_stopped(ctx, client.query(soql)))
        if not ctx.stop_reason:
            yield mapping.stage_rows([r for page in pages for r in page], name)

    @dlt.resource(name="owners", selected=False)
    def owner_pages() -> Iterator[Page]:
        """User pages; named ``owners`` because the User cursor lives in this state."""
        for page in modified("User", list(USER_FIELDS), all_rows=False):
            yield map_page(
                page, lambda r: (mapping.owner_row(r, name), []), name, "owners", "User", ctx.stats
            )

    owners, owner_quarantine = split_pages(
        owner_pages, Owner, rows="rows", name="owner_rows", quarantine_name="owner_quarantine"
    )

    @dlt.resource(name="activities", selected=False)
    def activity_pages() -> Iterator[Page]:
        """Task then Event pages, mapped. Named ``activities`` because the Task and Event
        cursors live in this resource's state."""
        for obj, fields, fn in (
            ("Task", TASK_FIELDS, mapping.task_row),
            ("Event", EVENT_FIELDS, mapping.event_row),
        ):
            for page in modified(obj, list(fields)):
                yield map_page(
                    page, lambda r, f=fn, o=obj: f(r, name, o), name, "activities", obj, ctx.stats
                )

    activities, activity_quarantine = split_pages(
        activity_pages,
        Activity,
        rows="rows",
        name="activity_rows",  # "activities" is the pages resource, which keeps the cursors
        quarantine_name="activity_quarantine",
    )

    resources: list[DltResource] = [
        opportunity_pages,
        deals,
        stage_changes,
        quarantine,
        pipelines,
        stages,
        owner_pages,
        owners,
        owner_quarantine,
    ]
    if opts.include_activities:
        resources.extend([activity_pages, activities, activity_quarantine])

    @dlt.source(name="salesforce", max_table_nesting=0)
    def salesforce() -> list[DltResource]:
        return resources

    return salesforce()
