"""The Pipedrive dlt source: deals (+ archived), stage history, pipelines, stages, owners,
activities (+ notes), organisations as accounts, deal-to-account links and the custom
fields taken, incrementally.

Incremental rules:
* every list that supports it is read with ``updated_since = cursor - lookback``
  (inclusive, second precision; :func:`update_time_cursor`), the rows merge on their
  canonical keys, so re-reads are harmless and late commits inside the lookback are not lost;
* ``/v1/recents`` is never used for changes (it only reaches back one month); it is read
  once per incremental run for one thing no v2 list reports: deleted organisations;
* field definitions are kept in state and fetched only when they may have changed
  (``catalog.FieldCatalog``), so a quiet run sends no fields request;
* the flow (stage history) costs one request per deal, so it is read only for deals whose
  ``stage_change_time`` is at or after the last run's watermark and was not read already at
  that same ``stage_change_time`` (remembered in state for the lookback window only);
* when the daily budget runs out mid-run (``QuotaExhausted``) the source calls
  ``ctx.stop`` and every resource returns what it has: the deal cursor covers only deals
  whose flow was read and which were yielded, the flow watermark moves only when a deal
  listing completes, so the next run resumes without losing history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import dlt
from dlt.sources import DltSource

from connectors.base import SourceContext, until_stopped
from connectors.canonical_tables import canonical_hints, split_pages
from connectors.http import ApiClient
from connectors.incremental import Cursor, Stamps
from connectors.pipedrive.catalog import FieldCatalog
from connectors.pipedrive.client import (
    build_client,
    get_payload,
    iter_pages,
    parse_time,
    rfc3339,
    v1_stamp,
)
from connectors.pipedrive.fields import CustomFields
from connectors.pipedrive.flow_memory import FlowMemory
from connectors.pipedrive.mapping import (
    REMOVED,
    HubIdentity,
    activity_row,
    deal_account_row,
    deal_row,
    history_rows,
    initial_entry,
    note_row,
    organization_from_v1,
    organization_row,
    outcome_stage_rows,
    owner_row,
    pipeline_row,
    stage_row,
    terminal_entry,
)
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.settings import DEAL_STATUSES, ENDPOINTS, RECENTS_REACH
from connectors.values import lenient
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
from models.errors import QuotaExhausted

Row = dict[str, Any]
Page = dict[str, list[Row]]
_time = lenient(parse_time)  # flow bookkeeping: a garbage stamp is skipped


@dataclass
class PipedriveRun:
    """One run against one company: the client, the users fetched at most once, and the
    deal and organisation field definitions, shared by the resources."""

    ctx: SourceContext
    client: ApiClient
    options: PipedriveOptions
    lookback: timedelta
    deal_fields: FieldCatalog
    organization_fields: FieldCatalog
    _users: list[Row] | None = field(default=None, repr=False)

    @property
    def src(self) -> str:
        return self.ctx.name

    @property
    def users(self) -> list[Row]:
        if self._users is None:
            self._users = list(get_payload(self.client, "users").get("data") or [])
        return self._users

    @property
    def me(self) -> HubIdentity:
        mine = next((u for u in self.users if u.get("is_you")), None)
        return HubIdentity(str(mine["id"]) if mine else None)

    def covering(self, catalog: FieldCatalog, records: list[Row]) -> CustomFields | None:
        """Field definitions for ``records`` (see ``FieldCatalog.covering``); None when the
        budget ran out fetching them (the run is then stopped)."""
        try:
            return catalog.covering(records)
        except QuotaExhausted as exc:
            self.ctx.stop(str(exc))
            return None

    def cursor(self, state: dict[str, Any], key: str) -> Cursor[datetime]:
        return update_time_cursor(state, key, self.lookback, full_refresh=self.ctx.full_refresh)

    def pages(self, endpoint: str, params: dict[str, Any]) -> Iterator[list[Row]]:
        return until_stopped(self.ctx, iter_pages(self.client, endpoint, params))


def update_time_cursor(
    state: dict[str, Any], key: str, lookback: timedelta, *, full_refresh: bool
) -> Cursor[datetime]:
    """``update_time`` ascending, stored under the keys this source always used
    (``cursor``, ``archived_cursor``, ``notes_cursor``). No tail to skip: Pipedrive's
    ``updated_since`` has second precision and re-read rows merge on their keys."""
    stamps = Stamps(parse_time, datetime.isoformat, lookback)
    return Cursor(state, stamps, full_refresh=full_refresh, cursor_key=key, seen_key=None)


def _since(cursor: Cursor[datetime]) -> dict[str, str]:
    return {"updated_since": rfc3339(cursor.since)} if cursor.since else {}


def _advance(cursor: Cursor[datetime], rows: list[Row]) -> None:
    for row in rows:
        cursor.fresh(str(row.get("id")), row.get("update_time"))


# ----- resources: table hints first -----------------------------------------------------------


@dlt.resource(**canonical_hints(Owner))
def owners(run: PipedriveRun) -> Iterator[list[Row]]:
    if run.ctx.stop_reason:
        return
    try:
        users = run.users
    except QuotaExhausted as exc:
        run.ctx.stop(str(exc))
        return
    yield [owner_row(run.src, u) for u in users]


@dlt.resource(**canonical_hints(Pipeline))
def pipelines(run: PipedriveRun) -> Iterator[list[Row]]:
    for page in run.pages("pipelines", {"limit": run.options.page_size}):
        yield [pipeline_row(run.src, p) for p in page]


@dlt.resource(**canonical_hints(Stage))
def stages(run: PipedriveRun) -> Iterator[list[Row]]:
    for page in run.pages("stages", {"limit": run.options.page_size}):
        yield [stage_row(run.src, s) for s in page]
    if not run.ctx.stop_reason:
        yield outcome_stage_rows(run.src)


@dlt.resource(name="deal_pages", selected=False)
def deal_pages(run: PipedriveRun) -> Iterator[Page]:
    """Deal pages from /api/v2/deals (deleted included) and /api/v2/deals/archived, mapped
    (canonical deals + quarantine rows for bad values), each with its deals' stage
    history already read, so a run stopped by the budget yields (and moves the cursor
    past) only deals whose history is complete.

    ``watermark`` (the deal cursor of the last run whose listing completed) decides which
    deals need their flow; it stays put while a listing is unfinished, so deals a stopped
    run never reached still get their history on the next run."""
    ctx = run.ctx
    state = dlt.current.source_state().setdefault("deals", {})
    if ctx.full_refresh:  # a stopped full refresh resumes as one, from its own cursor
        for key in ("cursor", "archived_cursor"):
            state.pop(key, None)
        state["watermark"] = None
    watermark_text = state["watermark"] if "watermark" in state else state.get("cursor")
    state["watermark"] = watermark_text
    watermark = None if ctx.full_refresh else parse_time(watermark_text)
    since = None if watermark is None else watermark - run.lookback
    memory = FlowMemory(dlt.current.source_state().setdefault("flow", {}))
    if ctx.stop_reason:
        return
    try:
        run.me  # noqa: B018 - fetched here so the transformers send no request
    except QuotaExhausted as exc:
        ctx.stop(str(exc))
        return
    endpoints = ["deals"] + (["deals_archived"] if run.options.include_archived else [])
    for name in endpoints:
        cursor = run.cursor(state, "cursor" if name == "deals" else "archived_cursor")
        yield from _deal_listing(run, name, cursor, since, memory)
        if ctx.stop_reason:
            return
    state["watermark"] = state.get("cursor")


@dlt.transformer(**canonical_hints(StageChange))
def stage_changes(page: Page) -> Iterator[list[Row]]:
    """History read with the page (see ``deal_pages``): no request here."""
    yield page["stage_changes"]


@dlt.transformer(
    **{
        **canonical_hints(DealAccount),
        # every link of a deal in this load replaces the ones loaded before (a deal moved
        # to another organisation); a ``removed`` row only clears them (no organisation)
        "merge_key": "deal_key",
        "columns": {
            **canonical_hints(DealAccount)["columns"],
            REMOVED: {"data_type": "bool", "nullable": True, "hard_delete": True},
        },
    }
)
def deal_accounts(page: Page) -> Iterator[list[Row]]:
    """One primary account per deal, from its ``org_id``: no request here."""
    yield page["deal_accounts"]


def _field_definitions(name: str) -> Any:
    """A transformer landing a pages resource's ``field_definitions`` rows."""

    def rows(page: Page) -> Iterator[list[Row]]:
        if page["field_definitions"]:
            yield page["field_definitions"]

    return dlt.transformer(rows, **{**canonical_hints(FieldDefinition), "name": name})


@dlt.resource(name="organization_pages", selected=False)
def organization_pages(run: PipedriveRun) -> Iterator[Page]:
    """Organisations from ``/api/v2/organizations`` (``updated_since`` = cursor - lookback,
    ascending ``update_time``), mapped into accounts plus quarantine rows, then the
    deleted ones. The v2 list holds only live organisations (only deals have a ``status``
    filter that reaches deleted records), so deletions come from ``/v1/recents``
    (``items=organization``, ``active_flag`` false) read from the start of the last run that
    completed (minus the lookback, which also absorbs clock skew); that feed reaches back one
    month, so a gap longer than that can miss deletions (the run warns)."""
    ctx = run.ctx
    state = dlt.current.source_state().setdefault("organizations", {})
    if ctx.full_refresh:  # a stopped full refresh resumes as one; deletions are still read
        state.pop("cursor", None)  # from where the last run left them
    if ctx.stop_reason or not run.options.include_organizations:
        return
    started = ctx.run_started_at or datetime.now(UTC)  # before this run's first request
    cursor = run.cursor(state, "cursor")
    params = {
        "limit": run.options.page_size,
        "sort_by": "update_time",
        "sort_direction": "asc",
        **_since(cursor),
    }
    path = ENDPOINTS["organizations"].path
    for number, page in enumerate(run.pages("organizations", params), 1):
        fields = run.covering(run.organization_fields, page)
        if fields is None:
            return
        yield _account_page(run, page, fields, f"{path} page {number}")
        _advance(cursor, page)
        cursor.commit()
    if ctx.stop_reason:
        return
    checked = _time(state.get("deleted_cursor"))
    if checked is not None:
        yield from _deleted_organizations(run, checked - run.lookback)
        if ctx.stop_reason:
            return
    # Deletions are known up to this run's start. A clock stamp, not an organisation's
    # update_time: in a quiet company the newest update is weeks old, past the feed's reach.
    state["deleted_cursor"] = started.isoformat()


@dlt.resource(name="activity_pages", selected=False)
def activity_pages(run: PipedriveRun) -> Iterator[Page]:
    """Activity (then note) pages mapped into activities plus quarantine rows for the
    values they were loaded without (see ``activity_row``); a garbage ``update_time``
    is quarantined there and simply not counted by the cursor."""
    state = dlt.current.source_state().setdefault("activities", {})
    if run.ctx.full_refresh:  # a stopped full refresh resumes as one
        state.pop("cursor", None)
        state.pop("notes_cursor", None)
    type_map = run.options.activity_type_map
    cursor = run.cursor(state, "cursor")
    params = {
        "limit": run.options.page_size,
        "sort_by": "update_time",  # ascending, so the cursor may move page by page
        "sort_direction": "asc",
        **_since(cursor),
    }
    for page in run.pages("activities", params):
        yield _activity_page([activity_row(run.src, a, type_map) for a in page])
        _advance(cursor, page)
        cursor.commit()
    if not run.options.include_notes or run.ctx.stop_reason:
        return
    notes = run.cursor(state, "notes_cursor")
    params = {"limit": run.options.page_size, "sort": "id ASC", **_since(notes)}
    for page in run.pages("notes", params):
        yield _activity_page([note_row(run.src, n) for n in page])
        _advance(notes, page)
    if not run.ctx.stop_reason:  # notes come by id: the cursor moves only when all are read
        notes.commit()


def build_source(ctx: SourceContext) -> DltSource:
    options = cast(PipedriveOptions, ctx.options)
    minutes = options.lookback_minutes
    lookback = timedelta(minutes=ctx.config.lookback_minutes if minutes is None else minutes)
    client = build_client(ctx, options)
    run = PipedriveRun(
        ctx,
        client,
        options,
        lookback,
        deal_fields=FieldCatalog(
            ctx, client, "deal_fields", "deal", options.custom_fields, "custom_fields"
        ),
        organization_fields=FieldCatalog(
            ctx,
            client,
            "organization_fields",
            "account",
            options.organization_custom_fields,
            "organization_custom_fields",
        ),
    )
    deals_read, activities_read = deal_pages(run), activity_pages(run)
    organizations_read = organization_pages(run)
    deals, quarantine = split_pages(
        deals_read, Deal, rows="deals", name="deals", quarantine_name="quarantine"
    )
    accounts, account_quarantine = split_pages(
        organizations_read,
        Account,
        rows="accounts",
        name="accounts",
        quarantine_name="account_quarantine",
    )
    activities, activity_quarantine = split_pages(
        activities_read,
        Activity,
        rows="activities",
        name="activities",
        quarantine_name="activity_quarantine",
    )

    @dlt.source(name="pipedrive", max_table_nesting=0)
    def pipedrive() -> Any:
        return [
            owners(run),
            pipelines(run),
            stages(run),
            deals_read,
            deals,
            deals_read | stage_changes(),
            deals_read | deal_accounts(),
            deals_read | _field_definitions("deal_field_definitions"),
            quarantine,
            activities_read,
            activities,
            activity_quarantine,
            organizations_read,
            accounts,
            organizations_read | _field_definitions("account_field_definitions"),
            account_quarantine,
        ]

    return pipedrive()


# ----- the jobs behind the resources ------------------------------------------------------------


def _deal_listing(
    run: PipedriveRun,
    endpoint: str,
    cursor: Cursor[datetime],
    since: datetime | None,
    memory: FlowMemory,
) -> Iterator[Page]:
    """One deal listing, page by page with each page's flows read; the cursor moves past
    a page only once it was yielded, and only as far as its deals whose flow was read."""
    params = {
        "status": DEAL_STATUSES,
        "sort_by": "update_time",
        "sort_direction": "asc",
        "limit": run.options.page_size,
        **_since(cursor),
    }
    for number, page in enumerate(run.pages(endpoint, params), 1):
        fields = run.covering(run.deal_fields, page)  # before any flow: nothing half-read
        if fields is None:
            return
        done: list[Row] = []
        history: list[Row] = []
        for d in page:
            try:
                history.extend(_flow_rows(run, d, since, memory))
            except QuotaExhausted as exc:
                run.ctx.stop(str(exc))
                break
            done.append(d)
        if done:
            where = f"{ENDPOINTS[endpoint].path} page {number}"
            mapped = [deal_row(run.src, d, fields, where) for d in done]
            yield {
                "deals": [row for row, _ in mapped],
                "quarantine": [q for _, bad in mapped for q in bad],
                "stage_changes": history,
                "deal_accounts": [deal_account_row(run.src, d) for d in done],
                "field_definitions": run.deal_fields.pending_definitions(),
            }
            _advance(cursor, done)  # sorted by update_time: the last complete deal's
            cursor.commit()
        if since is not None:
            memory.forget_before(since)


def _flow_rows(run: PipedriveRun, d: Row, since: datetime | None, memory: FlowMemory) -> list[Row]:
    """Stage-history rows of one deal; reads its flow (40 tokens) only when its stage
    moved since the watermark and was not read at this ``stage_change_time`` already."""
    src, deal_id = run.src, str(d["id"])
    rows: list[Row] = []
    if _time(d.get("stage_change_time")) is None:  # never moved: it entered its stage when added
        entry = initial_entry(src, d)
        rows.extend([entry] if entry else [])
        closed = terminal_entry(src, d)
        if closed and (since is None or closed["changed_at"] >= since):
            rows.append(closed)
        return rows
    if memory.needs_flow(d, since):
        flow = [
            item
            for part in iter_pages(
                run.client, "flow", {"items": "dealChange", "limit": 500}, id=deal_id
            )
            for item in part
        ]
        rows.extend(history_rows(src, d, flow, run.me))
        memory.flow_read(d)
        return rows
    closed = terminal_entry(src, d)
    if closed and since is not None and memory.new_outcome(d, closed["changed_at"], since):
        rows.append(closed)  # newly won/lost without a stage move: no flow needed
    return rows


def _account_page(run: PipedriveRun, orgs: list[Row], fields: CustomFields, where: str) -> Page:
    mapped = [organization_row(run.src, o, fields, where) for o in orgs]
    return {
        "accounts": [row for row, _ in mapped],
        "quarantine": [q for _, bad in mapped for q in bad],
        "field_definitions": run.organization_fields.pending_definitions(),
    }


def _deleted_organizations(run: PipedriveRun, since: datetime) -> Iterator[Page]:
    """Organisations deleted at or after ``since``, from ``/v1/recents`` (v1 shape)."""
    reach = (run.ctx.run_started_at or datetime.now(UTC)) - RECENTS_REACH
    if since < reach:
        run.ctx.stats.warnings.append(
            f"organisations deleted between {since:%Y-%m-%d} and {reach:%Y-%m-%d} may still "
            "show as live in accounts: Pipedrive reports deleted organisations for one month "
            "only, and this source was last pulled before that"
        )
    params = {
        "since_timestamp": v1_stamp(since),
        "items": "organization",
        "limit": run.options.page_size,
    }
    for number, page in enumerate(run.pages("recents", params), 1):
        gone = [
            organization_from_v1(r["data"])
            for r in page
            if r.get("item") == "organization"
            and isinstance(r.get("data"), dict)
            and r["data"].get("active_flag") is False
        ]
        if not gone:
            continue
        fields = run.covering(run.organization_fields, gone)
        if fields is None:
            return
        yield _account_page(run, gone, fields, f"{ENDPOINTS['recents'].path} page {number}")


def _activity_page(mapped: list[tuple[Row | None, list[Row]]]) -> Page:
    return {
        "activities": [row for row, _ in mapped if row is not None],
        "quarantine": [q for _, bad in mapped for q in bad],
    }
