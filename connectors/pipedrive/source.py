"""The Pipedrive dlt source: deals (+ archived), stage history, pipelines, stages, owners
and activities (+ notes), incrementally.

Incremental rules:
* every list that supports it is read with ``updated_since = cursor - lookback``
  (inclusive, second precision), the rows merge on their canonical keys, so re-reads are
  harmless and late commits inside the lookback are not lost;
* ``/v1/recents`` is never used: it only reaches back one month;
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
from datetime import datetime, timedelta
from typing import Any, cast

import dlt
from dlt.sources import DltSource

from connectors.base import SourceContext, until_stopped
from connectors.canonical_tables import canonical_hints, quarantine_hints, split_pages
from connectors.http import ApiClient
from connectors.pipedrive.client import build_client, get_payload, iter_pages, parse_time, rfc3339
from connectors.pipedrive.mapping import (
    CustomFields,
    HubIdentity,
    activity_row,
    deal_row,
    history_rows,
    initial_entry,
    note_row,
    outcome_stage_rows,
    owner_row,
    pipeline_row,
    stage_row,
    terminal_entry,
)
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.settings import DEAL_STATUSES, ENDPOINTS
from connectors.values import lenient
from models.canonical import Activity, Deal, Owner, Pipeline, Stage, StageChange
from models.errors import QuotaExhausted

Row = dict[str, Any]
_time = lenient(parse_time)  # cursors and flow bookkeeping: a garbage stamp is skipped


class Metadata:
    """Users and deal fields, fetched at most once per run and shared by the resources."""

    def __init__(self, client: ApiClient, options: PipedriveOptions) -> None:
        self.client = client
        self.options = options
        self._users: list[Row] | None = None
        self._fields: CustomFields | None = None

    @property
    def users(self) -> list[Row]:
        if self._users is None:
            self._users = list(get_payload(self.client, "users").get("data") or [])
        return self._users

    @property
    def me(self) -> HubIdentity:
        mine = next((u for u in self.users if u.get("is_you")), None)
        return HubIdentity(str(mine["id"]) if mine else None)

    @property
    def fields(self) -> CustomFields:
        if self._fields is None:
            raw = [f for page in iter_pages(self.client, "deal_fields") for f in page]
            self._fields = CustomFields.from_fields(raw, self.options.custom_fields)
        return self._fields


def _max_time(current: str | None, rows: list[Row], key: str = "update_time") -> str | None:
    best = _time(current) if current else None
    for row in rows:
        t = _time(row.get(key))
        if t is not None and (best is None or t > best):
            best = t
    return best.isoformat() if best else None


def _since(cursor: str | None, lookback: timedelta, full: bool) -> dict[str, str]:
    if full or not cursor:
        return {}
    parsed = parse_time(cursor)
    return {"updated_since": rfc3339(parsed - lookback)} if parsed else {}


def build_source(ctx: SourceContext) -> DltSource:
    options = cast(PipedriveOptions, ctx.options)
    client = build_client(ctx, options)
    meta = Metadata(client, options)
    src = ctx.name
    minutes = options.lookback_minutes
    lookback = timedelta(minutes=ctx.config.lookback_minutes if minutes is None else minutes)
    page_size = options.page_size

    def flow_rows(d: Row, since: datetime | None, seen: dict[str, str]) -> list[Row]:
        """Stage-history rows of one deal; reads its flow (40 tokens) only when its stage
        moved since the watermark and was not read at this ``stage_change_time`` already."""
        deal_id = str(d["id"])
        moved = _time(d.get("stage_change_time"))
        rows: list[Row] = []
        if moved is None:  # never moved: it entered its stage when added
            entry = initial_entry(src, d)
            rows.extend([entry] if entry else [])
            closed = terminal_entry(src, d)
            if closed and (since is None or closed["changed_at"] >= since):
                rows.append(closed)
            return rows
        if (since is None or moved >= since) and seen.get(deal_id) != d.get("stage_change_time"):
            flow = [
                item
                for part in iter_pages(
                    client, "flow", {"items": "dealChange", "limit": 500}, id=deal_id
                )
                for item in part
            ]
            rows.extend(history_rows(src, d, flow, meta.me))
            seen[deal_id] = str(d.get("stage_change_time"))
            return rows
        closed = terminal_entry(src, d)
        if closed and since is not None and closed["changed_at"] >= since:
            rows.append(closed)  # newly won/lost without a stage move: no flow needed
        return rows

    @dlt.resource(name="deal_pages", selected=False)
    def deal_pages() -> Iterator[dict[str, list[Row]]]:
        """Deal pages from /api/v2/deals (deleted included) and /api/v2/deals/archived, mapped
        (canonical deals + quarantine rows for bad values), each with its deals' stage
        history already read, so a run stopped by the budget yields
        (and moves the cursor past) only deals whose history is complete.

        ``watermark`` (the deal cursor of the last run whose listing completed) decides
        which deals need their flow; it stays put while a listing is unfinished, so deals a
        stopped run never reached still get their history on the next run."""
        state = dlt.current.source_state().setdefault("deals", {})
        if ctx.full_refresh:  # a stopped full refresh resumes as one, from its own cursor
            for key in ("cursor", "archived_cursor"):
                state.pop(key, None)
            state["watermark"] = None
        watermark_text = state["watermark"] if "watermark" in state else state.get("cursor")
        state["watermark"] = watermark_text
        watermark = None if ctx.full_refresh else parse_time(watermark_text)
        since = None if watermark is None else watermark - lookback
        flow_state = dlt.current.source_state().setdefault("flow", {})
        seen: dict[str, str] = flow_state.setdefault("seen", {})
        if ctx.stop_reason:
            return
        try:
            meta.fields, meta.me  # noqa: B018 - fetched here so the transformers send no request
        except QuotaExhausted as exc:
            ctx.stop(str(exc))
            return
        endpoints = ["deals"] + (["deals_archived"] if options.include_archived else [])
        for name in endpoints:
            key = "cursor" if name == "deals" else "archived_cursor"
            params = {
                "status": DEAL_STATUSES,
                "sort_by": "update_time",
                "sort_direction": "asc",
                "limit": page_size,
                **_since(state.get(key), lookback, ctx.full_refresh),
            }
            pages = until_stopped(ctx, iter_pages(client, name, params))
            for number, page in enumerate(pages, 1):
                done: list[Row] = []
                history: list[Row] = []
                for d in page:
                    try:
                        history.extend(flow_rows(d, since, seen))
                    except QuotaExhausted as exc:
                        ctx.stop(str(exc))
                        break
                    done.append(d)
                if done:
                    where = f"{ENDPOINTS[name].path} page {number}"
                    mapped = [deal_row(src, d, meta.fields, where) for d in done]
                    yield {
                        "deals": [row for row, _ in mapped],
                        "quarantine": [q for _, bad in mapped for q in bad],
                        "stage_changes": history,
                    }
                    # pages are sorted by update_time: the cursor is the last complete deal's
                    state[key] = _max_time(state.get(key), done)
                if since is not None:  # forget what fell out of the lookback window
                    for deal_id, stamp in list(seen.items()):
                        t = _time(stamp)
                        if t is not None and t < since:
                            del seen[deal_id]
            if ctx.stop_reason:
                return
        state["watermark"] = state.get("cursor")

    @dlt.transformer(data_from=deal_pages, **canonical_hints(Deal))
    def deals(page: dict[str, list[Row]]) -> Iterator[list[Row]]:
        """Mapped with the page (see ``deal_pages``), once for deals and quarantine."""
        yield page["deals"]

    @dlt.transformer(data_from=deal_pages, **quarantine_hints())
    def quarantine(page: dict[str, list[Row]]) -> Iterator[list[Row]]:
        """The optional values a deal was loaded without (see ``deal_row``). A transformer
        of its own because a canonical resource's hints would leak into a table variant."""
        if page["quarantine"]:
            yield page["quarantine"]

    @dlt.transformer(data_from=deal_pages, **canonical_hints(StageChange))
    def stage_changes(page: dict[str, list[Row]]) -> Iterator[list[Row]]:
        """History read with the page (see ``deal_pages``): no request here."""
        yield page["stage_changes"]

    @dlt.resource(**canonical_hints(Owner))
    def owners() -> Iterator[list[Row]]:
        if ctx.stop_reason:
            return
        try:
            users = meta.users
        except QuotaExhausted as exc:
            ctx.stop(str(exc))
            return
        yield [owner_row(src, u) for u in users]

    @dlt.resource(**canonical_hints(Pipeline))
    def pipelines() -> Iterator[list[Row]]:
        for page in until_stopped(ctx, iter_pages(client, "pipelines", {"limit": page_size})):
            yield [pipeline_row(src, p) for p in page]

    @dlt.resource(**canonical_hints(Stage))
    def stages() -> Iterator[list[Row]]:
        for page in until_stopped(ctx, iter_pages(client, "stages", {"limit": page_size})):
            yield [stage_row(src, s) for s in page]
        if not ctx.stop_reason:
            yield outcome_stage_rows(src)

    def activity_page(mapped: list[tuple[Row | None, list[Row]]]) -> dict[str, list[Row]]:
        return {
            "activities": [row for row, _ in mapped if row is not None],
            "quarantine": [q for _, bad in mapped for q in bad],
        }

    @dlt.resource(name="activity_pages", selected=False)
    def activity_pages() -> Iterator[dict[str, list[Row]]]:
        """Activity (then note) pages mapped into activities plus quarantine rows for the
        values they were loaded without (see ``activity_row``); a garbage ``update_time``
        is quarantined there and simply not counted by the cursor."""
        state = dlt.current.source_state().setdefault("activities", {})
        if ctx.full_refresh:  # a stopped full refresh resumes as one
            state.pop("cursor", None)
            state.pop("notes_cursor", None)
        type_map = options.activity_type_map
        params = {
            "limit": page_size,
            "sort_by": "update_time",  # ascending, so the cursor may move page by page
            "sort_direction": "asc",
            **_since(state.get("cursor"), lookback, ctx.full_refresh),
        }
        for page in until_stopped(ctx, iter_pages(client, "activities", params)):
            yield activity_page([activity_row(src, a, type_map) for a in page])
            state["cursor"] = _max_time(state.get("cursor"), page)
        if not options.include_notes or ctx.stop_reason:
            return
        params = {
            "limit": page_size,
            "sort": "id ASC",
            **_since(state.get("notes_cursor"), lookback, ctx.full_refresh),
        }
        newest = state.get("notes_cursor")
        for page in until_stopped(ctx, iter_pages(client, "notes", params)):
            yield activity_page([note_row(src, n) for n in page])
            newest = _max_time(newest, page)
        if not ctx.stop_reason:  # notes come by id: the cursor moves only when all are read
            state["notes_cursor"] = newest

    activities, activity_quarantine = split_pages(
        activity_pages,
        Activity,
        rows="activities",
        name="activities",
        quarantine_name="activity_quarantine",
    )

    @dlt.source(name="pipedrive", max_table_nesting=0)
    def pipedrive() -> Any:
        return [
            owners,
            pipelines,
            stages,
            deal_pages,
            deals,
            stage_changes,
            quarantine,
            activity_pages,
            activities,
            activity_quarantine,
        ]

    return pipedrive()
