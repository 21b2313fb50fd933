"""The dlt source for ``kind: salesforce``: one resource per canonical table.

Deals, accounts, activities and owners are incremental on ``SystemModstamp`` (one
:func:`modstamp_cursor` each) through /queryAll so recycle-bin rows arrive as
``is_deleted``. Each deal's AccountId is its one, primary, ``deal_accounts`` row. The
Opportunity and Account fields kept in ``custom_fields`` come from their describes
(``fields.py``), which also give ``field_definitions``. Stage history is read with the deals that changed: their whole
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
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource, DltSource

from connectors.account_links import prune_stale_links
from connectors.base import SourceContext, until_stopped
from connectors.canonical_tables import canonical_hints, split_pages
from connectors.incremental import Cursor, Stamps
from connectors.salesforce import mapping
from connectors.salesforce.client import BulkPage, Record, SalesforceClient
from connectors.salesforce.fields import Describes, FieldSpec, column_overrides, take_fields
from connectors.salesforce.fields import signature as fields_signature
from connectors.salesforce.options import SalesforceOptions
from connectors.salesforce.queries import build_soql, id_batches, select, soql_datetime
from connectors.salesforce.settings import (
    ACCOUNT_FIELDS,
    EVENT_FIELDS,
    FIELD_ENTITIES,
    HISTORY_FIELDS,
    OPPORTUNITY_FIELDS,
    PIPELINE_ID,
    PIPELINE_LABEL,
    STAGE_FIELDS,
    TASK_FIELDS,
    USER_FIELDS,
)
from connectors.values import quarantine_row
from models.canonical import (
    Account,
    Activity,
    Deal,
    DealAccount,
    FieldDefinition,
    Owner,
    Pipeline,
    Stage,
    StageChange,
)
from models.errors import QuotaExhausted, SourceError

Row = dict[str, Any]
Mapper = Callable[[Record], tuple[Row, list[Row]]]
Page = dict[str, list[Row]]


@dataclass
class SalesforceRun:
    """One run against one org: the client, and what the resources learn on the way."""

    ctx: SourceContext
    client: SalesforceClient
    describes: Describes
    first_sync: dict[str, bool] = field(default_factory=dict)  # per object, for history
    hub_user: str | None = None  # the integration user, read once the session exists
    _taken: dict[str, list[FieldSpec]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def options(self) -> SalesforceOptions:
        return self.client.options

    def taken(self, obj: str) -> list[FieldSpec]:
        """The fields of ``obj`` (Opportunity or Account) kept in ``custom_fields``."""
        if obj not in self._taken:
            opts = self.options
            if obj == "Opportunity":
                wanted, option = opts.custom_fields, "custom_fields"
                skip = {opts.lost_reason_field, opts.score_field, opts.score_reason_field}
            else:
                wanted, option, skip = opts.account_custom_fields, "account_custom_fields", set()
            self._taken[obj] = take_fields(
                obj,
                self.describes.fields(obj),
                wanted,
                column_overrides(obj, opts.field_columns),
                skip={s for s in skip if s},
                configured=[k.partition(".")[2] for k in opts.field_columns if k.startswith(obj)],
                option=option,
            )
        return self._taken[obj]

    def picklist(self, obj: str, name: str) -> dict[str, str]:
        """{API value: label} of a picklist field, from the describe."""
        for f in self.describes.fields(obj):
            if f["name"] == name:
                return {value: label for value, label in f["options"]}
        return {}

    def select_fields(self, obj: str) -> list[str]:
        base = opportunity_fields(self.options) if obj == "Opportunity" else list(ACCOUNT_FIELDS)
        return list(dict.fromkeys([*base, *(s.api_name for s in self.taken(obj))]))

    def modified(
        self, obj: str, fields_of: Callable[[], list[str]], *, all_rows: bool = True
    ) -> Iterator[list[Record]]:
        """Fresh rows of ``obj`` page by page, ascending by SystemModstamp. The cursor is
        committed when the consumer asks for the next page, i.e. after it yielded this one.

        For Opportunity and Account (whose fields come from describe) the cursor state also
        keeps the signature of the fields taken: when it changed (a field added in the org,
        another option), every row is read again, so none lacks the new fields. A query
        refused with ``INVALID_FIELD`` (a field deleted since the cached describe) reads
        the describe again and retries once."""
        state = dlt.current.resource_state().setdefault(obj, {})
        tracked = obj in FIELD_ENTITIES
        for attempt in (1, 2):
            try:
                fields = fields_of()
                shape = fields_signature(self.taken(obj)) if tracked else None
            except QuotaExhausted as exc:
                self.ctx.stop(str(exc))
                return
            reshaped = tracked and "cursor" in state and state.get("fields") != shape
            if reshaped and not self.ctx.full_refresh:
                self.ctx.stats.warnings.append(
                    f"{obj}: the fields kept in custom_fields changed; every row is read again"
                )
            full = self.ctx.full_refresh or reshaped
            cursor = modstamp_cursor(state, self.options.lookback_s, full_refresh=full)
            self.first_sync[obj] = cursor.first_sync
            since = f"SystemModstamp >= {soql_datetime(cursor.since)}" if cursor.since else None
            pages = select(
                self.client,
                fields,
                obj,
                where=since,
                all_rows=all_rows,
                first_sync=cursor.first_sync,
                order="SystemModstamp, Id",
            )
            read = False
            try:
                for page in until_stopped(self.ctx, pages):
                    read = True
                    yield [r for r in page if cursor.fresh(r["Id"], r.get("SystemModstamp"))]
                    if not isinstance(page, BulkPage):  # unordered: the cursor moves at the end
                        self._commit(cursor, state, shape, final=False)
            except SourceError as exc:
                if attempt == 2 or read or not tracked or "INVALID_FIELD" not in str(exc):
                    raise
                self.ctx.stats.warnings.append(f"{obj}: {exc}; describe read again")
                self._taken.pop(obj, None)
                try:
                    self.describes.refresh(obj)
                except QuotaExhausted as quota:
                    self.ctx.stop(str(quota))
                    return
                continue
            if not self.ctx.stop_reason:
                self._commit(cursor, state, shape, final=True)
            return

    @staticmethod
    def _commit(
        cursor: Cursor[datetime], state: dict[str, Any], shape: str | None, *, final: bool
    ) -> None:
        """The cursor, and the fields its rows were read with (in ascending modstamp
        order, rows before the cursor have them; later ones are read next run)."""
        cursor.commit(final=final)
        if shape is not None:
            state["fields"] = shape

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
    """The Opportunity fields the canonical deal columns need (custom ones come on top)."""
    fields = list(OPPORTUNITY_FIELDS)
    for name in (opts.lost_reason_field, "CurrencyIsoCode" if opts.multi_currency else None):
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
    for page in run.modified("Opportunity", lambda: run.select_fields("Opportunity")):
        if not page:
            continue
        try:
            history = run.history_of(page)
        except QuotaExhausted as exc:
            ctx.stop(str(exc))
            return
        deal = partial(
            mapping.deal_row,
            source=run.name,
            opts=run.options,
            where="Opportunity",
            fields=run.taken("Opportunity"),
        )
        yield {**run.map_page(page, deal, "deals", "Opportunity"), "history": history}


@dlt.transformer(**{**canonical_hints(DealAccount), "merge_key": "deal_key"})
def deal_accounts(page: Page, run: SalesforceRun) -> Iterator[list[Row]]:
    """Each deal's AccountId, from the deals just mapped. ``merge_key`` replaces the rows a
    re-read deal had, so a deal moved to another account keeps no stale link; a deal whose
    AccountId was cleared or changed keeps only its current link after the load
    (``account_links.prune_stale_links``)."""
    rows = mapping.deal_account_rows(page["rows"])
    if rows:
        yield rows


@dlt.resource(name="accounts", selected=False)
def account_pages(run: SalesforceRun) -> Iterator[Page]:
    """Account pages, mapped; named ``accounts`` because the Account cursor lives in its
    state. Incremental like deals, Bulk 2.0 for large first syncs, deletes by /queryAll."""
    if run.ctx.stop_reason:
        return
    for page in run.modified("Account", lambda: run.select_fields("Account")):
        account = partial(
            mapping.account_row,
            source=run.name,
            fields=run.taken("Account"),
            industries=run.picklist("Account", "Industry"),
        )
        yield run.map_page(page, account, "accounts", "Account")


@dlt.resource(**canonical_hints(FieldDefinition))
def field_definitions(run: SalesforceRun) -> Iterator[list[Row]]:
    """One row per field kept in deals' and accounts' custom_fields (no request of its
    own: the describes are shared with the reads)."""
    rows: list[Row] = []
    for obj, entity in FIELD_ENTITIES.items():
        if run.ctx.stop_reason:
            return
        try:
            rows += mapping.field_definition_rows(run.taken(obj), run.name, entity)
        except QuotaExhausted as exc:
            run.ctx.stop(str(exc))
            return
    if rows:
        yield rows


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

    for page in run.modified("User", lambda: list(USER_FIELDS), all_rows=False):
        yield run.map_page(page, owner, "owners", "User")


@dlt.resource(name="activities", selected=False)
def activity_pages(run: SalesforceRun) -> Iterator[Page]:
    """Task then Event pages, mapped. Named ``activities`` because the Task and Event
    cursors live in this resource's state."""
    for obj, fields, fn in (
        ("Task", TASK_FIELDS, mapping.task_row),
        ("Event", EVENT_FIELDS, mapping.event_row),
    ):
        for page in run.modified(obj, partial(list, fields)):
            yield run.map_page(page, partial(fn, source=run.name, where=obj), "activities", obj)


def build_source(ctx: SourceContext) -> DltSource:
    opts = ctx.options
    assert isinstance(opts, SalesforceOptions)
    client = SalesforceClient(
        opts, lambda key: ctx.credential(key, required=False), stats=ctx.stats
    )
    describes = Describes(
        client.describe,
        max_age_s=opts.describe_max_age_s,
        now=ctx.run_started_at or datetime.now(UTC),
        full_refresh=ctx.full_refresh,
    )
    run = SalesforceRun(ctx, client, describes)
    deals_read, owners_read = opportunity_pages(run), owner_pages(run)
    accounts_read = account_pages(run)
    deals, quarantine = split_pages(
        deals_read, Deal, rows="rows", name="deals", quarantine_name="quarantine"
    )
    owners, owner_quarantine = split_pages(
        owners_read, Owner, rows="rows", name="owner_rows", quarantine_name="owner_quarantine"
    )
    accounts, account_quarantine = split_pages(
        accounts_read,
        Account,
        rows="rows",
        name="account_rows",
        quarantine_name="account_quarantine",
    )
    resources: list[DltResource] = [
        deals_read,
        deals,
        deals_read | stage_changes(run),
        deals_read | deal_accounts(run),
        quarantine,
        pipelines(run),
        stages(run),
        accounts_read,
        accounts,
        account_quarantine,
        field_definitions(run),
        owners_read,
        owners,
        owner_quarantine,
    ]
    prune_stale_links(ctx)
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
