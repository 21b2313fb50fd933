"""The dlt source for ``kind: salesforce``: one resource per canonical table.

Deals, activities and owners are incremental on ``SystemModstamp`` (inclusive, with a
lookback) through /queryAll so recycle-bin rows arrive as ``is_deleted``. Stage history is
a transformer over the deals that changed: their whole OpportunityHistory is re-read (it is
short) so ``from_stage_id`` is always right. Stage metadata is re-read each run (one call).

Incremental reads are ordered by ``SystemModstamp, Id`` and the cursor is committed after
each page that was fully yielded (history included), so when the daily allocation runs out
(``QuotaExhausted``) the source calls ``ctx.stop``, every resource returns what it has, and
the next run resumes from the last complete page instead of from zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource, DltSource

from connectors.base import SourceContext, until_stopped
from connectors.canonical_tables import canonical_hints, quarantine_hints, split_pages
from connectors.salesforce import mapping
from connectors.salesforce.client import Record, SalesforceClient
from connectors.salesforce.cursor import ModstampCursor
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


def _where_since(cursor: ModstampCursor) -> str | None:
    return f"SystemModstamp >= {soql_datetime(cursor.since)}" if cursor.since else None


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
    stats = client.stats
    opts = client.options
    mode: dict[str, bool] = {}
    hub_user: dict[str, str | None] = {}  # the integration user, read once the session exists
    pending: list[dict[str, Any]] = []  # quarantined rows, drained by the quarantine transformer

    def mapped(
        records: list[Record], fn: Callable[[Record], dict[str, Any]], entity: str, where: str
    ) -> Iterator[Any]:
        """Map a page; a record that cannot be mapped goes to quarantine, not the floor.

        The page is yielded even when empty so the quarantine transformer runs after it."""
        good: list[dict[str, Any]] = []
        bad = pending
        for rec in records:
            try:
                good.append(fn(rec))
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                stats.warnings.append(f"quarantined {entity} {rec.get('Id')}: {type(exc).__name__}")
                bad.append(
                    {
                        "source_name": name,
                        "crm": mapping.CRM,
                        "entity": entity,
                        "record_id": str(rec.get("Id")),
                        "location": where,
                        "reason": f"{type(exc).__name__}: {exc}",
                        "quarantined_at": datetime.now(UTC),
                    }
                )
        yield good

    def incremental(
        state_key: str, fields: list[str], obj: str, *, all_rows: bool
    ) -> Iterator[list[Record]]:
        """Fresh rows page by page, ascending by SystemModstamp. The cursor is committed
        when the consumer asks for the next page, i.e. after it yielded this one: a run
        stopped mid-way resumes from the last complete page (inclusive, with lookback)."""
        state = dlt.current.resource_state().setdefault(state_key, {})
        cursor = ModstampCursor(state, opts.lookback_s, full_refresh=full_refresh)
        mode[obj] = cursor.first_sync
        pages = select(
            client,
            fields,
            obj,
            where=_where_since(cursor),
            all_rows=all_rows,
            first_sync=cursor.first_sync,
            order="SystemModstamp, Id",
        )
        for page in pages:
            yield [r for r in page if cursor.fresh(r["Id"], r.get("SystemModstamp"))]
            cursor.commit()
        cursor.commit()

    def history_of(page: list[Record]) -> list[Record]:
        """OpportunityHistory for a page of deals; on a first sync the whole table once."""
        if mode.get("Opportunity"):
            if mode.get("history_done"):
                return []
            pages = select(
                client, HISTORY_FIELDS, "OpportunityHistory", all_rows=True, first_sync=True
            )
            records = [r for p in pages for r in p]
            mode["history_done"] = True
            return records
        head = build_soql(HISTORY_FIELDS, "OpportunityHistory", "OpportunityId IN ()", "Id")
        ids = [str(r["Id"]) for r in page]
        records = []
        for batch in id_batches(client, ids, head, all_rows=True):
            where = "OpportunityId IN (" + ", ".join(f"'{i}'" for i in batch) + ")"
            soql = build_soql(HISTORY_FIELDS, "OpportunityHistory", where, "Id")
            records.extend(r for p in client.query(soql, all_rows=True) for r in p)
        return records

    @dlt.resource(name="opportunity_pages", selected=False)
    def opportunity_pages() -> Iterator[dict[str, list[Record]]]:
        """Opportunity pages with their history already read: a page whose history the
        budget did not cover is not yielded and the cursor stays before it."""
        if ctx.stop_reason:
            return
        try:
            hub_user["id"] = client.user_id
        except QuotaExhausted as exc:
            ctx.stop(str(exc))
            return
        pages = incremental("Opportunity", opportunity_fields(opts), "Opportunity", all_rows=True)
        for page in until_stopped(ctx, pages):
            if not page:
                continue
            try:
                history = history_of(page)
            except QuotaExhausted as exc:
                ctx.stop(str(exc))
                return
            yield {"deals": page, "history": history}

    @dlt.transformer(data_from=opportunity_pages, **canonical_hints(Deal))
    def deals(page: dict[str, list[Record]]) -> Iterator[Any]:
        def deal(rec: Record) -> dict[str, Any]:
            row, bad = mapping.deal_row(rec, name, opts, "Opportunity")
            pending.extend(bad)  # values it was loaded without; the deal itself loads
            return row

        yield from mapped(page["deals"], deal, "deals", "Opportunity")

    @dlt.transformer(data_from=opportunity_pages, **canonical_hints(StageChange))
    def stage_changes(page: dict[str, list[Record]]) -> Iterator[Any]:
        """History read with the page (see ``opportunity_pages``): no request here."""
        if page["history"]:
            yield mapping.stage_change_rows(page["history"], name, hub_user.get("id"))

    @dlt.resource(**canonical_hints(Pipeline))
    def pipelines() -> Iterator[dict[str, Any]]:
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
    def stages() -> Iterator[Any]:
        soql = build_soql(STAGE_FIELDS, "OpportunityStage", None, "SortOrder")
        pages = list(until_stopped(ctx, client.query(soql)))
        if not ctx.stop_reason:
            yield mapping.stage_rows([r for page in pages for r in page], name)

    def activity_page(
        records: list[Record], fn: Callable[[Record, str, str], tuple[Row, list[Row]]], obj: str
    ) -> dict[str, list[Row]]:
        """Map a page of Tasks or Events: a bad optional value costs only that value (a
        quarantine row from ``mapping``), a record that cannot be mapped at all (no Id) is
        quarantined whole."""
        rows: list[Row] = []
        bad: list[Row] = []
        for rec in records:
            try:
                row, refused = fn(rec, name, obj)
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                rec_id = rec.get("Id")
                stats.warnings.append(f"quarantined {obj} {rec_id}: {type(exc).__name__}")
                reason = f"{type(exc).__name__}: {exc}; skipped"
                record_id = None if rec_id in (None, "") else str(rec_id)
                bad.append(quarantine_row(name, mapping.CRM, "activities", record_id, obj, reason))
                continue
            rows.append(row)
            bad.extend(refused)
        return {"activities": rows, "quarantine": bad}

    @dlt.resource(name="activities", selected=False)
    def activity_pages() -> Iterator[dict[str, list[Row]]]:
        """Task then Event pages, mapped into activities and quarantine rows. Named
        ``activities`` because the Task and Event cursors live in this resource's state."""
        for obj, fields, fn in (
            ("Task", TASK_FIELDS, mapping.task_row),
            ("Event", EVENT_FIELDS, mapping.event_row),
        ):
            for page in until_stopped(ctx, incremental(obj, list(fields), obj, all_rows=True)):
                yield activity_page(page, fn, obj)

    activities, activity_quarantine = split_pages(
        activity_pages,
        Activity,
        rows="activities",
        name="activity_rows",  # "activities" is the pages resource, which keeps the cursors
        quarantine_name="activity_quarantine",
    )

    @dlt.resource(**canonical_hints(Owner))
    def owners() -> Iterator[Any]:
        for page in until_stopped(
            ctx, incremental("User", list(USER_FIELDS), "User", all_rows=False)
        ):
            yield from mapped(page, lambda r: mapping.owner_row(r, name), "owners", "User")

    @dlt.transformer(data_from=deals, **quarantine_hints())
    def quarantine(page: Any) -> Iterator[list[dict[str, Any]]]:
        """Drains what mapping refused so far. Rides on the deals pages because a canonical
        resource cannot also emit to another table without its hints leaking into it."""
        if pending:
            drained = list(pending)
            pending.clear()
            yield drained

    resources: list[DltResource] = [
        opportunity_pages,
        deals,
        stage_changes,
        pipelines,
        stages,
        owners,
        quarantine,
    ]
    if opts.include_activities:
        resources.extend([activity_pages, activities, activity_quarantine])

    @dlt.source(name="salesforce", max_table_nesting=0)
    def salesforce() -> list[DltResource]:
        return resources

    return salesforce()
