"""The dlt source for one HubSpot portal.

Incremental logic (details in README.md):

* first run: list endpoints (deals with ``propertiesWithHistory=dealstage`` at 50 a page,
  activities at 100 a page); deal properties that do not fit in the URL (a
  ``hs_v2_date_entered_*`` per stage: hundreds of pipelines) follow by batch read, 100 ids
  a call, so a portal whose list fits costs what it always did;
* later runs: search on ``hs_lastmodifieddate >= cursor - lookback``, one fresh query per
  page starting at the last timestamp seen (so no query ever pages towards the 10,000
  cap, and nothing is skipped when records change mid-sync);
* records seen at the top of the previous window are skipped when unchanged, so a quiet
  portal costs one search per object type;
* stage history is fetched (batch read, 50 a call) only for deals that entered their
  current stage inside the window, per ``hs_v2_date_entered_<stage>``;
* the recycle bin is read every run (deleted deals become ``is_deleted``); activities are
  relisted by a periodic sweep, which catches association changes and deleted activities;
* each deal read brings its companies (v4 association read, 1,000 deals a call) for
  ``deal_accounts`` and ``deals.account_key``; the same sweep relists the deals (no
  history), since a deal moved to another company keeps its ``hs_lastmodifieddate``;
* companies (``company_reader.py``) follow the deal rule; custom properties and their
  definitions come from the properties API (``fields.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltSource

from connectors.base import SourceContext, until_stopped
from connectors.canonical_tables import canonical_hints, dlt_columns, split_pages
from connectors.hubspot import settings
from connectors.hubspot.client import HubspotApi, OAuthAuth, PrivateAppAuth, split_for_url
from connectors.hubspot.companies import (
    REMOVED,
    CompanyLink,
    company_links,
    deal_account_rows,
    primary_company,
)
from connectors.hubspot.company_reader import CompanyReader
from connectors.hubspot.fields import FieldSet, Wanted, option_labels, select_fields
from connectors.hubspot.mapping import (
    Catalog,
    activity_row,
    deal_row,
    lastmod_ms,
    owner_row,
    pick_deal,
    pipeline_rows,
    stage_change_rows,
    to_ms,
)
from connectors.hubspot.options import HubspotOptions
from connectors.incremental import Cursor, Stamps
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
from models.errors import AuthError, QuotaExhausted, SourceError

Item = dict[str, Any]
# where a listed deal carries the companies read for it until it becomes an item
_LINKS = "_hub_company_links"


def make_auth(ctx: SourceContext, options: HubspotOptions) -> PrivateAppAuth | OAuthAuth:
    """A ``refresh_token`` credential means OAuth; otherwise a private-app ``token``."""
    if "refresh_token" in ctx.source.credentials:
        return OAuthAuth(
            base_url=options.base_url,
            client_id=str(ctx.credential("client_id")),
            client_secret=str(ctx.credential("client_secret")),
            refresh_token=str(ctx.credential("refresh_token")),
            stats=ctx.stats,
            timeout_s=options.timeout_s,
        )
    return PrivateAppAuth(str(ctx.credential("token")))


def lastmod_cursor(st: dict[str, Any], lookback_ms: int, *, full_refresh: bool) -> Cursor[int]:
    """hs_lastmodifieddate in epoch ms under the keys WindowTracker wrote: ``cursor_ms``
    and ``boundary`` (the tail last run yielded). An empty first sync still writes 0, so
    the next run searches instead of listing again."""
    return Cursor(
        st,
        Stamps(to_ms, int, lookback_ms),
        full_refresh=full_refresh,
        cursor_key="cursor_ms",
        seen_key="boundary",
        start=0,
    )


def _history(raw: Item) -> list[Item]:
    """The dealstage history a listing sent along (``propertiesWithHistory``)."""
    return (raw.get("propertiesWithHistory") or {}).get("dealstage", [])  # type: ignore[no-any-return]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _item(raw: Item, *, history: list[Item] | None = None, need_history: bool = False) -> Item:
    """A live deal for ``deal_page``: the record, its stage history when read, and its
    companies (``None`` when they were not read)."""
    return {
        "raw": raw,
        "archived": False,
        "history": history,
        "need_history": need_history,
        "companies": raw.pop(_LINKS, None),
    }


class HubspotSync:
    """One run against one portal; resources share its client and metadata."""

    def __init__(self, ctx: SourceContext) -> None:
        assert isinstance(ctx.options, HubspotOptions)
        self.ctx = ctx
        self.name = ctx.name
        self.options: HubspotOptions = ctx.options
        self.api = HubspotApi(self.options, make_auth(ctx, self.options), ctx.stats)
        self.lookback_ms = self.options.lookback_minutes * 60_000
        self._catalog: Catalog | None = None
        self._fields: dict[str, FieldSet] = {}
        self.industry_labels: dict[str, str] = {}  # filled with the company fields
        self._yielded: set[str] = set()  # deals yielded this run (the sweep skips them)

    # ----- shared pieces ------------------------------------------------------------------
    def state(self, key: str) -> dict[str, Any]:
        cursors = dlt.current.source_state().setdefault("cursors", {})
        return cursors.setdefault(key, {})  # type: ignore[no-any-return]

    def catalog(self) -> Catalog:
        if self._catalog is None:
            pipelines = self.api.get("/crm/v3/pipelines/deals", endpoint="/crm/v3/pipelines/deals")
            self._catalog = Catalog.build(pipelines.get("results", []))
        return self._catalog

    def fields(self, object_type: str) -> FieldSet:
        """The custom properties taken for deals or companies, read once a run from the
        properties API (deals: only when some are wanted)."""
        if object_type not in self._fields:
            wanted: Wanted = (
                self.options.deal_properties
                if object_type == settings.DEALS
                else self.options.company_properties
            )
            properties: list[Item] = []
            if wanted or settings.SHARED_STANDARD_FIELDS[object_type]:
                path = f"/crm/v3/properties/{object_type}"
                properties = self.api.get(path, endpoint=path).get("results", [])
            industry = next((p for p in properties if p.get("name") == "industry"), None)
            if object_type == settings.COMPANIES and industry is not None:
                self.industry_labels = option_labels(industry)
            chosen = select_fields(object_type, wanted, properties)
            self.ctx.stats.warnings.extend(chosen.warnings)
            self._fields[object_type] = chosen
        return self._fields[object_type]

    def deal_properties(self) -> list[str]:
        props = list(settings.DEAL_PROPERTIES) + self.catalog().date_entered_properties()
        return list(dict.fromkeys(props + self.fields(settings.DEALS).names))

    def company_properties(self) -> list[str]:
        names = self.fields(settings.COMPANIES).names
        return list(dict.fromkeys([*settings.COMPANY_PROPERTIES, *names]))

    @staticmethod
    def activity_properties(object_type: str) -> list[str]:
        return list(settings.COMMON_ACTIVITY_PROPERTIES + settings.ACTIVITY_PROPERTIES[object_type])

    def first_run(self, st: dict[str, Any]) -> bool:
        return self.ctx.full_refresh or "cursor_ms" not in st

    def cursor(self, st: dict[str, Any]) -> Cursor[int]:
        return lastmod_cursor(st, self.lookback_ms, full_refresh=self.ctx.full_refresh)

    def search_changed(self, object_type: str, since_ms: int, props: list[str]) -> Iterator[Item]:
        """Records with hs_lastmodifieddate >= since_ms, ascending. Every page is a new
        query starting at the last timestamp seen: no query nears the 10,000-result cap
        and a record edited mid-sync cannot shift an offset and hide another."""
        limit = self.options.search_page_size
        lo = since_ms
        while True:
            page = self._search(object_type, props, settings.LASTMOD, (settings.LASTMOD, "GTE", lo))
            results = page.get("results", [])
            yield from results
            if len(results) < limit or not (page.get("paging") or {}).get("next"):
                return
            last = lastmod_ms(results[-1])
            if last is None or last <= lo:  # a whole page inside one millisecond
                yield from self._search_one_ms(object_type, lo, props)
                lo += 1
            else:
                lo = last

    def _search(
        self, object_type: str, props: list[str], sort: str, *filters: tuple[str, str, Any]
    ) -> Item:
        """One search page: the filters ANDed, ascending by ``sort``."""
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": name, "operator": op, "value": str(value)}
                        for name, op, value in filters
                    ]
                }
            ],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": props,
            "limit": self.options.search_page_size,
        }
        return self.api.search(object_type, body)

    def _search_one_ms(self, object_type: str, ms: int, props: list[str]) -> Iterator[Item]:
        limit = self.options.search_page_size
        last_id = "0"
        while True:
            page = self._search(
                object_type,
                props,
                "hs_object_id",
                (settings.LASTMOD, "EQ", ms),
                ("hs_object_id", "GT", last_id),
            )
            results = page.get("results", [])
            yield from results
            if len(results) < limit:
                return
            last_id = str(results[-1]["id"])

    # ----- deals ----------------------------------------------------------------------------
    def deal_items(self) -> Iterator[list[Item]]:
        """Batches of {raw, archived, history}; feeds deals, stage_changes and quarantine.
        History is read here, before a batch is yielded, so the transformers send no
        request. When the budget runs out the run stops (``ctx.stop``): what was yielded
        loads, the cursors stay where they were (they are written only when the whole
        listing or search completed), and the next run repeats the window."""
        if self.ctx.stop_reason:
            return
        try:
            for batch in self._deal_items():
                self._yielded.update(str(i["raw"]["id"]) for i in batch)
                yield batch
        except QuotaExhausted as exc:
            self.ctx.stop(str(exc))

    def _with_history(self, items: list[Item]) -> list[Item]:
        needy = [i for i in items if i.get("history") is None and i.get("need_history")]
        if needy:
            fetched = self.fetch_history(needy)
            for item in needy:
                item["history"] = fetched.get(str(item["raw"]["id"]))
                item["need_history"] = False
        return items

    def _deal_items(self) -> Iterator[list[Item]]:
        st = self.state(settings.DEALS)
        cursor = self.cursor(st)
        props = self.deal_properties()
        deleted, archived_ids, archived_ms = self._archived_deals(st, cursor, props)
        for chunk in _chunks(deleted, self.options.history_batch_size):
            yield self._with_history(chunk)
        first = cursor.first_sync
        sweep = self.options.companies and (first or self.sweep_due("deal_sweep"))
        if first:
            listing = None if self.ctx.full_refresh else st.get("listing")
            yield from self._listed_deals(st, cursor, props, archived_ids, listing)
        else:
            listing = None
            yield from self._changed_deals(cursor, props, archived_ids)
            if sweep:
                yield from self._swept_deals(props, archived_ids)
        st.clear()
        cursor.commit()
        if listing:  # resumed across runs: the cursor of the run that began the listing
            st.update(cursor_ms=int(listing["cap_ms"]), boundary=dict(listing["boundary"]))
        st["archived_ms"] = archived_ms
        if sweep:  # a first listing read every deal's companies too
            self.state("deal_sweep")["at"] = self.now().isoformat()

    def _archived_deals(
        self, st: dict[str, Any], cursor: Cursor[int], props: list[str]
    ) -> tuple[list[Item], set[str], int]:
        """The recycle bin has no "archived since" filter, so it is listed every run (100 a
        page); history is read only for deals that changed stage after the hub last saw
        them. Returns the items to yield (needing history first), every archived id, and
        the newest ``archivedAt``."""
        first, window_start = cursor.first_sync, cursor.since
        archived_ids: set[str] = set()
        arch_cursor = None if first else st.get("archived_ms")
        arch_max = int(arch_cursor or 0)
        deleted: list[Item] = []
        inline, rest = split_for_url(props)
        params: dict[str, Any] = {"archived": "true", "properties": ",".join(inline)}
        if first:
            params.update(limit=settings.LIST_WITH_HISTORY_MAX, propertiesWithHistory="dealstage")
        else:
            params.update(limit=self.options.page_size)
        pages = self.api.paged(
            "/crm/v3/objects/deals", endpoint="/crm/v3/objects/deals?archived=true", params=params
        )
        for page, _ in self.completed(((page, None) for page in pages), rest, archived=True):
            for raw in page:
                archived_ids.add(str(raw["id"]))
                at = to_ms(raw.get("archivedAt")) or 0
                arch_max = max(arch_max, at)
                if arch_cursor is not None and at < int(arch_cursor) - self.lookback_ms:
                    continue
                if window_start is None:
                    deleted.append({"raw": raw, "archived": True, "history": _history(raw)})
                else:  # moved (or created) since the last run, then deleted before this one
                    need = self._needs_history(raw, window_start)
                    deleted.append(
                        {"raw": raw, "archived": True, "history": None, "need_history": need}
                    )
        deleted.sort(key=lambda i: not i.get("need_history"))
        return deleted, archived_ids, arch_max

    def _listed_deals(
        self,
        st: dict[str, Any],
        cursor: Cursor[int],
        props: list[str],
        archived_ids: set[str],
        listing: dict[str, Any] | None,
    ) -> Iterator[list[Item]]:
        """A first sync lists every deal with its stage history. A listing stopped by the
        budget resumes at its saved ``after`` position; its cursor stays what the run that
        began it saw (``cap_ms``): anything modified since is searched again next run."""
        inline, rest = split_for_url(props)
        pages = self._list_pages(inline, listing.get("after") if listing else None)
        companies = self.options.companies
        for results, after in self.completed(pages, rest, archived=False, companies=companies):
            batch = []
            for raw in results:
                cursor.fresh(str(raw["id"]), lastmod_ms(raw))
                if str(raw["id"]) not in archived_ids:
                    batch.append(_item(raw, history=_history(raw)))
            if batch:
                yield batch
            if after is None:
                return
            seen = cursor.snapshot()
            st["listing"] = {
                "after": after,
                "cap_ms": listing["cap_ms"] if listing else seen["cursor_ms"],
                "boundary": listing["boundary"] if listing else seen["boundary"],
            }

    def _list_pages(
        self, props: list[str], after: str | None
    ) -> Iterator[tuple[list[Item], str | None]]:
        """(deals with history, the ``after`` of the next page or None at the end)."""
        while True:
            query: dict[str, Any] = {
                "limit": min(self.options.page_size, settings.LIST_WITH_HISTORY_MAX),
                "properties": ",".join(props),
                "propertiesWithHistory": "dealstage",
            }
            if after is not None:
                query["after"] = after
            payload = self.api.get(
                "/crm/v3/objects/deals", endpoint="/crm/v3/objects/deals", params=query
            )
            nxt = ((payload.get("paging") or {}).get("next") or {}).get("after")
            done = not nxt or str(nxt) == after
            yield payload.get("results", []), None if done else str(nxt)
            if done:
                return
            after = str(nxt)

    def completed(
        self,
        pages: Iterator[tuple[list[Item], Any]],
        rest: list[str],
        *,
        archived: bool,
        companies: bool = False,
        object_type: str = settings.DEALS,
    ) -> Iterator[tuple[list[Item], Any]]:
        """Pages with what one list request cannot carry: the ``rest`` properties (past the
        URL's room), read by batch for every 100 ids, and with ``companies`` each deal's
        companies, 1,000 deals a call. Pages are held until one such call is full (two
        history-sized pages share a batch read, twenty an association read); with neither
        the pages pass straight through, so a portal whose list fits pays nothing extra."""
        if not rest and not companies:
            yield from pages
            return
        hold = self.options.association_batch_size if companies else settings.BATCH_READ_MAX
        held: list[tuple[list[Item], Any]] = []
        for page in pages:
            held.append(page)
            if sum(len(results) for results, _ in held) >= hold:
                yield from self._merged(held, rest, archived, companies, object_type)
                held = []
        if held:
            yield from self._merged(held, rest, archived, companies, object_type)

    def _merged(
        self,
        held: list[tuple[list[Item], Any]],
        rest: list[str],
        archived: bool,
        companies: bool,
        object_type: str,
    ) -> list[tuple[list[Item], Any]]:
        raws = [raw for results, _ in held for raw in results]
        ids = [str(raw["id"]) for raw in raws]
        if rest:
            found = {
                str(r["id"]): r.get("properties") or {}
                for r in self._batch_read(object_type, ids, archived, rest)
            }
            for raw in raws:  # a record deleted in between keeps nulls, as a single GET would
                values = found.get(str(raw["id"]), {})
                raw.setdefault("properties", {}).update({n: values.get(n) for n in rest})
        if companies:
            links = self.deal_companies(ids)
            for raw in raws:
                raw[_LINKS] = links.get(str(raw["id"]), [])
        return held

    def _batch_read(
        self,
        object_type: str,
        ids: list[str],
        archived: bool,
        props: list[str],
        *,
        history: bool = False,
    ) -> Iterator[Item]:
        """Records by id, ``props`` in the body; 50 ids a call with history, else 100."""
        path = f"/crm/v3/objects/{object_type}/batch/read" + ("?archived=true" if archived else "")
        size = self.options.history_batch_size if history else settings.BATCH_READ_MAX
        for chunk in _chunks(ids, size):
            body: Item = {"inputs": [{"id": i} for i in chunk], "properties": props}
            if history:
                body["propertiesWithHistory"] = ["dealstage"]
            yield from self.api.post(path, endpoint=path, body=body).get("results", [])

    def _changed_deals(
        self, cursor: Cursor[int], props: list[str], archived_ids: set[str]
    ) -> Iterator[list[Item]]:
        """Deals searched since the window opened, newest version of each; those that
        changed stage come first, in history-sized batches with their history read."""
        window_start = cursor.since
        assert window_start is not None
        changed: dict[str, Item] = {}
        for raw in self.search_changed(settings.DEALS, window_start, props):
            deal_id, ms = str(raw["id"]), lastmod_ms(raw)
            if not cursor.fresh(deal_id, ms) or deal_id in archived_ids:
                continue
            known = changed.get(deal_id)
            if known is None or (lastmod_ms(known) or 0) <= (ms or 0):
                changed[deal_id] = raw
        if self.options.companies:
            links = self.deal_companies(list(changed))
            for deal_id, raw in changed.items():
                raw[_LINKS] = links.get(deal_id, [])
        needy = [r for r in changed.values() if self._needs_history(r, window_start)]
        calm = [r for r in changed.values() if not self._needs_history(r, window_start)]
        for chunk in _chunks(needy, self.options.history_batch_size):
            yield self._with_history([_item(r, need_history=True) for r in chunk])
        for chunk in _chunks(calm, settings.BATCH_READ_MAX):
            yield [_item(r) for r in chunk]

    def _swept_deals(self, props: list[str], archived_ids: set[str]) -> Iterator[list[Item]]:
        """Every live deal again, 100 a page without history, with its companies: an
        association change moves no ``hs_lastmodifieddate``, so this is how a deal's new
        companies reach ``deal_accounts`` and ``deals.account_key`` (every
        ``association_sweep_minutes``). Deals this run already yielded are skipped."""
        inline, rest = split_for_url(props)
        pages = self.api.paged(
            "/crm/v3/objects/deals",
            endpoint="/crm/v3/objects/deals",
            params={"limit": self.options.page_size, "properties": ",".join(inline)},
        )
        listed = ((page, None) for page in pages)
        for results, _ in self.completed(listed, rest, archived=False, companies=True):
            batch = [
                _item(raw)
                for raw in results
                if str(raw["id"]) not in self._yielded and str(raw["id"]) not in archived_ids
            ]
            if batch:
                yield batch

    def deal_companies(self, ids: list[str]) -> dict[str, list[CompanyLink]]:
        """Associations v4 batch read deals -> companies, 1,000 deals a call; a deal with
        more companies than one answer holds is read on from its ``paging.next.after``.
        A deal with no company is a per-input error in a 207: it maps to ``[]``."""
        path = "/crm/v4/associations/deals/companies/batch/read"
        found: dict[str, list[Item]] = {i: [] for i in ids}
        pending: list[Item] = [{"id": i} for i in ids]
        asked: set[tuple[str, str]] = set()
        while pending:
            more: list[Item] = []
            for chunk in _chunks(pending, self.options.association_batch_size):
                payload = self.api.post(path, endpoint=path, body={"inputs": chunk})
                for result in payload.get("results", []):
                    deal_id = str((result.get("from") or {}).get("id"))
                    found.setdefault(deal_id, []).extend(result.get("to") or [])
                    after = ((result.get("paging") or {}).get("next") or {}).get("after")
                    if after and (deal_id, str(after)) not in asked:
                        asked.add((deal_id, str(after)))
                        more.append({"id": deal_id, "after": str(after)})
            pending = more
        return {deal_id: company_links(to) for deal_id, to in found.items()}

    def _needs_history(self, raw: Item, window_start: int) -> bool:
        """A deal changed stage since the last run iff it entered its current stage
        inside the window: the newest history entry is always that entry."""
        props = raw.get("properties") or {}
        stage = props.get("dealstage")
        entered = to_ms(props.get(settings.DATE_ENTERED_PREFIX + str(stage))) if stage else None
        return entered is None or entered >= window_start

    def fetch_history(self, items: list[Item]) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for archived in (False, True):  # deleted deals are read from the recycle bin
            ids = [str(i["raw"]["id"]) for i in items if bool(i.get("archived")) is archived]
            for result in self._batch_read(
                settings.DEALS, ids, archived, ["dealstage"], history=True
            ):
                out[str(result["id"])] = _history(result)
        return out

    def deal_page(self, items: list[Item]) -> dict[str, list[Item]]:
        """A batch mapped for the transformers: deals, the values they were loaded without
        (quarantine), stage changes from the history read with the batch, and each deal's
        companies (``deal_accounts``)."""
        page: dict[str, list[Item]] = {
            "rows": [],
            "quarantine": [],
            "stage_changes": [],
            "deal_accounts": [],
        }
        catalog, fields = self.catalog(), self.fields(settings.DEALS)
        for item in items:
            raw, history, links = item["raw"], item.get("history"), item.get("companies")
            archived = bool(item["archived"])
            row, bad = deal_row(
                self.name,
                raw,
                catalog,
                fields,
                archived=archived,
                account_id=primary_company(links),
            )
            page["rows"].extend([row] if row is not None else [])
            page["quarantine"].extend(bad)
            if self.options.companies and (archived or links is not None):
                # a deleted deal has none left: the recycle bin keeps no associations
                rows = deal_account_rows(self.name, str(raw["id"]), links or [])
                page["deal_accounts"].extend(rows)
            if history is not None:
                changes, warnings = stage_change_rows(
                    self.name, raw, history, catalog, self.options.app_id
                )
                self.ctx.stats.warnings.extend(warnings)
                page["stage_changes"].extend(changes)
        return page

    # ----- activities ---------------------------------------------------------------------
    def now(self) -> datetime:
        return self.ctx.run_started_at or datetime.now(UTC)

    def sweep_due(self, key: str = "activity_sweep") -> bool:
        """Whether ``association_sweep_minutes`` have passed since the sweep ``key`` ran."""
        last = self.state(key).get("at")
        if self.ctx.full_refresh or last is None:
            return True
        elapsed = (self.now() - datetime.fromisoformat(last)).total_seconds() / 60
        return elapsed >= self.options.association_sweep_minutes

    def activity_pages(self) -> Iterator[Item]:
        """Pages of {rows, quarantine}: mapped activities and the values they were loaded
        without (see ``activity_row``), for the activities and quarantine transformers.

        Each type's cursor is written when that type is complete. A sweep stopped by the
        budget remembers which types it finished (``partial``), so the next run relists
        only the others and a first sync larger than one day's budget still converges."""
        if self.ctx.stop_reason:
            return
        try:
            yield from self._activity_rows()
        except QuotaExhausted as exc:
            self.ctx.stop(str(exc))

    def _activity_rows(self) -> Iterator[Item]:
        sweep = self.sweep_due()
        sweep_state = self.state("activity_sweep")
        now = self.ctx.run_started_at or datetime.now(UTC)
        partial = sweep_state.get("partial") if sweep and not self.ctx.full_refresh else None
        started = str(partial["started"]) if partial else now.isoformat()
        swept: set[str] = set(partial["done"]) if partial else set()
        changed = None if sweep or not self.options.activity_probe else self.probe_activities()
        for object_type in self.options.activity_types:
            if self.ctx.stop_reason:
                return
            if changed is not None and not changed.get(object_type, True):
                continue  # nothing new of this type: keep its cursor, skip its search
            type_sweep = sweep and object_type not in swept
            yield from self._activities_of(object_type, type_sweep)
            if type_sweep:
                swept.add(object_type)
                sweep_state["partial"] = {"started": started, "done": sorted(swept)}
        if sweep:
            sweep_state.pop("partial", None)
            sweep_state["at"] = started

    def probe_activities(self) -> dict[str, bool] | None:
        """One call to the engagements feed says which activity types changed since their
        windows opened; ``None`` when it cannot be trusted (first run, window older than
        the feed's 30 days, 10,000 records, or the feed misses the newest record we know,
        which is what a missing scope looks like). Skipping a search keeps that type's
        cursor, so a wrong "no change" only delays a record, never loses it."""
        states = {t: self.state(t) for t in self.options.activity_types}
        if not states or any(self.first_run(st) for st in states.values()):
            return None
        starts = {t: int(st["cursor_ms"]) - self.lookback_ms for t, st in states.items()}
        now = self.ctx.run_started_at or datetime.now(UTC)
        oldest_allowed = (
            now.timestamp() * 1000 - (settings.RECENT_ENGAGEMENTS_DAYS - 1) * 86_400_000
        )
        # A type quiet for longer than the feed remembers is always searched.
        changed: dict[str, bool] = {
            t: True for t, start in starts.items() if start < oldest_allowed
        }
        states = {t: st for t, st in states.items() if t not in changed}
        if not states:
            return None
        since = min(starts[t] for t in states)
        seen: dict[str, dict[str, int]] = {t: {} for t in states}
        offset: Any = None
        while True:
            params: dict[str, Any] = {"since": since, "count": settings.RECENT_ENGAGEMENTS_PAGE_MAX}
            if offset is not None:
                params["offset"] = offset
            try:
                page = self.api.get(
                    settings.RECENT_ENGAGEMENTS, endpoint=settings.RECENT_ENGAGEMENTS, params=params
                )
            except (AuthError, QuotaExhausted):
                raise
            except SourceError as exc:
                self.ctx.stats.warnings.append(f"activity probe unavailable ({exc}); searching")
                return None
            for result in page.get("results", []):
                engagement = result.get("engagement") or {}
                object_type = settings.ENGAGEMENT_TYPES.get(str(engagement.get("type")))
                ms = to_ms(engagement.get("lastUpdated"))  # unreadable: as if unseen
                if object_type in seen and ms is not None:
                    seen[object_type][str(engagement.get("id"))] = ms
            if int(page.get("total") or 0) >= settings.SEARCH_RESULT_CAP:
                return None
            if not page.get("hasMore") or page.get("offset") in (None, offset):
                break
            offset = page.get("offset")
        for object_type, st in states.items():
            boundary = {str(k): int(v) for k, v in st.get("boundary", {}).items()}
            newest = [i for i, ms in boundary.items() if ms == int(st["cursor_ms"])]
            if newest and not any(seen[object_type].get(i) == boundary[i] for i in newest):
                return None  # the feed is blind to what we know changed: do not trust it
            changed[object_type] = any(
                boundary.get(i) != ms
                for i, ms in seen[object_type].items()
                if ms >= starts[object_type]
            )
        return changed

    def _activities_of(self, object_type: str, sweep: bool) -> Iterator[Item]:
        st = self.state(object_type)
        cursor = self.cursor(st)
        first = cursor.first_sync
        props = self.activity_properties(object_type)
        endpoint = f"/crm/v3/objects/{object_type}"
        if first or sweep:
            raws: Iterator[Item] = (
                raw
                for page in self.api.paged(
                    endpoint,
                    endpoint=endpoint,
                    params={"limit": self.options.page_size, "properties": ",".join(props)},
                )
                for raw in page
            )
        else:
            assert cursor.since is not None
            raws = self.search_changed(object_type, cursor.since, props)
        pending: dict[str, Item] = {}
        for raw in raws:
            object_id = str(raw.get("id"))
            if not cursor.fresh(object_id, lastmod_ms(raw)) and not (first or sweep):
                continue  # a sweep relists everything: associations may have changed
            pending[object_id] = raw
            if len(pending) >= self.options.association_batch_size:
                yield from self._with_deals(object_type, list(pending.values()))
                pending = {}
        if pending:
            yield from self._with_deals(object_type, list(pending.values()))
        if sweep and (not first or self.ctx.full_refresh):  # deleted ones, on the sweep
            for page in self.api.paged(
                endpoint,
                endpoint=f"{endpoint}?archived=true",
                params={
                    "limit": self.options.page_size,
                    "archived": "true",
                    "properties": ",".join(props),
                },
            ):
                yield self._mapped([(object_type, raw, None) for raw in page], archived=True)
        st.clear()
        cursor.commit()

    def _with_deals(self, object_type: str, raws: list[Item]) -> Iterator[Item]:
        links = self.associations(object_type, [str(r["id"]) for r in raws if r.get("id")])
        yield self._mapped(
            [(object_type, r, pick_deal(links.get(str(r.get("id")), []))) for r in raws]
        )

    def _mapped(self, raws: list[tuple[str, Item, str | None]], *, archived: bool = False) -> Item:
        """One page for the transformers: activity rows and their quarantine rows."""
        rows: list[Item] = []
        bad: list[Item] = []
        for object_type, raw, deal_id in raws:
            row, quarantined = activity_row(self.name, object_type, raw, deal_id, archived=archived)
            rows.extend([row] if row is not None else [])
            bad.extend(quarantined)
        return {"rows": rows, "quarantine": bad}

    def associations(self, from_type: str, ids: list[str]) -> dict[str, list[str]]:
        """Associations v4 batch read, up to 1,000 ids a call; ids with no deal come back
        as per-input errors in a 207 and are simply absent here."""
        out: dict[str, list[str]] = {}
        path = f"/crm/v4/associations/{from_type}/deals/batch/read"
        for chunk in _chunks(ids, self.options.association_batch_size):
            payload = self.api.post(
                path, endpoint=path, body={"inputs": [{"id": i} for i in chunk]}
            )
            for result in payload.get("results", []):
                source_id = str((result.get("from") or {}).get("id"))
                out[source_id] = [str(t["toObjectId"]) for t in result.get("to", [])]
        return out

    # ----- field definitions ---------------------------------------------------------------------
    def field_rows(self) -> Iterator[Item]:
        """One FieldDefinition per custom property taken (deals, then companies)."""
        if self.ctx.stop_reason:
            return
        types = [settings.DEALS, *([settings.COMPANIES] if self.options.companies else [])]
        try:
            chosen = [self.fields(t) for t in types]
        except QuotaExhausted as exc:
            self.ctx.stop(str(exc))
            return
        for field_set in chosen:
            yield from field_set.definitions(self.name)

    # ----- owners -----------------------------------------------------------------------------
    def owner_rows(self) -> Iterator[Item]:
        for archived in ("false", "true"):
            pages = self.api.paged(
                "/crm/v3/owners",
                endpoint=f"/crm/v3/owners?archived={archived}",
                params={"limit": settings.OWNERS_PAGE_MAX, "archived": archived},
            )
            for page in until_stopped(self.ctx, pages):
                for raw in page:
                    yield owner_row(self.name, raw)

    def catalog_rows(self, index: int) -> Iterator[Item]:
        """Pipelines (0) or stages (1); nothing when the budget is already gone."""
        if self.ctx.stop_reason:
            return
        try:
            catalog = self.catalog()
        except QuotaExhausted as exc:
            self.ctx.stop(str(exc))
            return
        yield from pipeline_rows(self.name, catalog)[index]


# ----- resources: table hints first -----------------------------------------------------------


@dlt.resource(**canonical_hints(Pipeline))
def pipelines(sync: HubspotSync) -> Iterator[Item]:
    yield from sync.catalog_rows(0)


@dlt.resource(**canonical_hints(Stage))
def stages(sync: HubspotSync) -> Iterator[Item]:
    yield from sync.catalog_rows(1)


@dlt.resource(**canonical_hints(Owner))
def owners(sync: HubspotSync) -> Iterator[Item]:
    yield from sync.owner_rows()


@dlt.resource(name="deal_pages", selected=False)
def deal_pages(sync: HubspotSync) -> Iterator[dict[str, list[Item]]]:
    """Deal batches mapped, history read with them (see ``HubspotSync.deal_items``)."""
    for items in sync.deal_items():
        yield sync.deal_page(items)


@dlt.transformer(**canonical_hints(StageChange))
def stage_changes(page: dict[str, list[Item]]) -> Iterator[list[Item]]:
    """History read with the page (see ``deal_pages``): no request here."""
    yield page["stage_changes"]


@dlt.transformer(
    **{
        **canonical_hints(DealAccount),
        "merge_key": "deal_key",
        "columns": {
            **dlt_columns(DealAccount),
            REMOVED: {"data_type": "bool", "nullable": True, "hard_delete": True},
        },
    }
)
def deal_accounts(page: dict[str, list[Item]]) -> Iterator[list[Item]]:
    """Each deal's companies as read with its page; the rows of one deal replace those
    loaded before (merge key ``deal_key``), and a deal left with none sends one row that
    only removes (``hub_removed``, dlt's hard delete)."""
    if page["deal_accounts"]:
        yield page["deal_accounts"]


@dlt.resource(name="activity_pages", selected=False)
def activity_pages(sync: HubspotSync) -> Iterator[Item]:
    yield from sync.activity_pages()


@dlt.resource(name="account_pages", selected=False)
def account_pages(sync: HubspotSync) -> Iterator[Item]:
    yield from CompanyReader(sync).pages()


@dlt.resource(**canonical_hints(FieldDefinition))
def field_definitions(sync: HubspotSync) -> Iterator[Item]:
    yield from sync.field_rows()


def build_source(ctx: SourceContext) -> DltSource:
    sync = HubspotSync(ctx)
    deals_read, activities_read = deal_pages(sync), activity_pages(sync)
    deals, quarantine = split_pages(
        deals_read, Deal, rows="rows", name="deals", quarantine_name="quarantine"
    )
    activities, activity_quarantine = split_pages(
        activities_read,
        Activity,
        rows="rows",
        name="activities",
        quarantine_name="activity_quarantine",
    )
    accounts_read = account_pages(sync)
    accounts, account_quarantine = split_pages(
        accounts_read, Account, rows="rows", name="accounts", quarantine_name="account_quarantine"
    )

    @dlt.source(name="hubspot", max_table_nesting=0)
    def hubspot() -> list[Any]:
        return [
            pipelines(sync),
            stages(sync),
            owners(sync),
            deals_read,
            deals,
            deals_read | stage_changes(),
            quarantine,
            deals_read | deal_accounts(),
            activities_read,
            activities,
            activity_quarantine,
            accounts_read,
            accounts,
            account_quarantine,
            field_definitions(sync),
        ]

    return hubspot()
