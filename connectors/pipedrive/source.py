"""The Pipedrive dlt source: deals (+ archived), stage history, pipelines, stages, owners
and activities (+ notes), incrementally.

Incremental rules:
* every list that supports it is read with ``updated_since = cursor - lookback``
  (inclusive, second precision), the rows merge on their canonical keys, so re-reads are
  harmless and late commits inside the lookback are not lost;
* ``/v1/recents`` is never used: it only reaches back one month;
* the flow (stage history) costs one request per deal, so it is read only for deals whose
  ``stage_change_time`` is at or after the last run's watermark and was not read already at
  that same ``stage_change_time`` (remembered in state for the lookback window only).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, cast

import dlt
from dlt.sources import DltSource

from connectors.base import SourceContext
from connectors.canonical_tables import canonical_hints
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
from connectors.pipedrive.settings import DEAL_STATUSES
from models.canonical import Activity, Deal, Owner, Pipeline, Stage, StageChange

Row = dict[str, Any]


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
    best = parse_time(current) if current else None
    for row in rows:
        t = parse_time(row.get(key))
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
    run: dict[str, Any] = {}  # shared between the deal pages and their transformers

    @dlt.resource(name="deal_pages", selected=False)
    def deal_pages() -> Iterator[list[Row]]:
        """Raw deal pages from /api/v2/deals (deleted included) and /api/v2/deals/archived."""
        state = dlt.current.source_state().setdefault("deals", {})
        run["watermark"] = None if ctx.full_refresh else parse_time(state.get("cursor"))
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
            for page in iter_pages(client, name, params):
                if page:
                    yield page
                    state[key] = _max_time(state.get(key), page)

    @dlt.transformer(data_from=deal_pages, **canonical_hints(Deal))
    def deals(page: list[Row]) -> Iterator[list[Row]]:
        fields = meta.fields
        rows = []
        for d in page:
            row = deal_row(src, d, fields)
            if isinstance(row["expected_close_date"], str):
                row["expected_close_date"] = date.fromisoformat(row["expected_close_date"][:10])
            rows.append(row)
        yield rows

    @dlt.transformer(data_from=deal_pages, **canonical_hints(StageChange))
    def stage_changes(page: list[Row]) -> Iterator[list[Row]]:
        """History from the flow, read only for deals whose stage moved since last time."""
        state = dlt.current.source_state().setdefault("flow", {})
        seen: dict[str, str] = state.setdefault("seen", {})
        watermark: datetime | None = run.get("watermark")
        since = None if watermark is None else watermark - lookback
        rows: list[Row] = []
        for d in page:
            deal_id = str(d["id"])
            moved = parse_time(d.get("stage_change_time"))
            if moved is None:  # never moved: it entered its stage when added
                entry = initial_entry(src, d)
                rows.extend([entry] if entry else [])
                closed = terminal_entry(src, d)
                if closed and (since is None or closed["changed_at"] >= since):
                    rows.append(closed)
                continue
            if (since is None or moved >= since) and seen.get(deal_id) != d.get(
                "stage_change_time"
            ):
                flow = [
                    item
                    for part in iter_pages(
                        client, "flow", {"items": "dealChange", "limit": 500}, id=deal_id
                    )
                    for item in part
                ]
                rows.extend(history_rows(src, d, flow, meta.me))
                seen[deal_id] = str(d.get("stage_change_time"))
                continue
            closed = terminal_entry(src, d)
            if closed and since is not None and closed["changed_at"] >= since:
                rows.append(closed)  # newly won/lost without a stage move: no flow needed
        if since is not None:  # forget what fell out of the lookback window
            for deal_id, stamp in list(seen.items()):
                t = parse_time(stamp)
                if t is not None and t < since:
                    del seen[deal_id]
        yield rows

    @dlt.resource(**canonical_hints(Owner))
    def owners() -> Iterator[list[Row]]:
        yield [owner_row(src, u) for u in meta.users]

    @dlt.resource(**canonical_hints(Pipeline))
    def pipelines() -> Iterator[list[Row]]:
        for page in iter_pages(client, "pipelines", {"limit": page_size}):
            yield [pipeline_row(src, p) for p in page]

    @dlt.resource(**canonical_hints(Stage))
    def stages() -> Iterator[list[Row]]:
        for page in iter_pages(client, "stages", {"limit": page_size}):
            yield [stage_row(src, s) for s in page]
        yield outcome_stage_rows(src)

    @dlt.resource(**canonical_hints(Activity))
    def activities() -> Iterator[list[Row]]:
        state = dlt.current.source_state().setdefault("activities", {})
        type_map = options.activity_type_map
        params = {"limit": page_size, **_since(state.get("cursor"), lookback, ctx.full_refresh)}
        for page in iter_pages(client, "activities", params):
            yield [activity_row(src, a, type_map) for a in page]
            state["cursor"] = _max_time(state.get("cursor"), page)
        if not options.include_notes:
            return
        params = {
            "limit": page_size,
            "sort": "id ASC",
            **_since(state.get("notes_cursor"), lookback, ctx.full_refresh),
        }
        for page in iter_pages(client, "notes", params):
            yield [note_row(src, n) for n in page]
            state["notes_cursor"] = _max_time(state.get("notes_cursor"), page)

    @dlt.source(name="pipedrive", max_table_nesting=0)
    def pipedrive() -> Any:
        return [owners, pipelines, stages, deal_pages, deals, stage_changes, activities]

    return pipedrive()
