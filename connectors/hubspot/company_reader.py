"""Companies for the ``accounts`` table, read the way deals are.

The first run lists every company (100 a page); later runs search
``hs_lastmodifieddate >= cursor - lookback`` (``HubspotSync.search_changed``: one fresh
query per page, never near the 10,000 cap). The recycle bin has no "archived since" filter,
so it is listed every run and companies archived inside the window become ``is_deleted``.
Properties past a GET's room are read by POST ``batch/read``, as for deals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from connectors.hubspot import settings
from connectors.hubspot.client import split_for_url
from connectors.hubspot.companies import account_row
from connectors.hubspot.mapping import lastmod_ms, to_ms
from models.errors import QuotaExhausted

if TYPE_CHECKING:
    from connectors.hubspot.source import HubspotSync

Item = dict[str, Any]
PATH = f"/crm/v3/objects/{settings.COMPANIES}"


class CompanyReader:
    """Pages of ``{rows, quarantine}`` for the accounts and quarantine transformers."""

    def __init__(self, sync: HubspotSync) -> None:
        self.sync = sync

    def pages(self) -> Iterator[Item]:
        """Nothing when companies are off or the budget is already gone; a budget that runs
        out mid-way stops the run with the cursor where it was (the next run repeats)."""
        sync = self.sync
        if sync.ctx.stop_reason or not sync.options.companies:
            return
        try:
            yield from self._pages()
        except QuotaExhausted as exc:
            sync.ctx.stop(str(exc))

    def _pages(self) -> Iterator[Item]:
        sync = self.sync
        st = sync.state(settings.COMPANIES)
        cursor = sync.cursor(st)
        props = sync.company_properties()
        inline, rest = split_for_url(props)
        arch_cursor = None if cursor.first_sync else st.get("archived_ms")
        arch_max = int(arch_cursor or 0)
        binned = sync.api.paged(
            PATH,
            endpoint=f"{PATH}?archived=true",
            params={
                "limit": sync.options.page_size,
                "archived": "true",
                "properties": ",".join(inline),
            },
        )
        for page in self._complete(binned, rest, archived=True):
            fresh = []
            for raw in page:
                at = to_ms(raw.get("archivedAt")) or 0
                arch_max = max(arch_max, at)
                if arch_cursor is None or at >= int(arch_cursor) - sync.lookback_ms:
                    fresh.append(raw)
            if fresh:
                yield self._mapped(fresh, archived=True)
        if cursor.first_sync:
            listed = sync.api.paged(
                PATH,
                endpoint=PATH,
                params={"limit": sync.options.page_size, "properties": ",".join(inline)},
            )
            for page in self._complete(listed, rest, archived=False):
                for raw in page:
                    cursor.fresh(str(raw["id"]), lastmod_ms(raw))
                if page:
                    yield self._mapped(page, archived=False)
        else:
            assert cursor.since is not None
            batch: list[Item] = []
            for raw in sync.search_changed(settings.COMPANIES, cursor.since, props):
                if cursor.fresh(str(raw["id"]), lastmod_ms(raw)):
                    batch.append(raw)
                if len(batch) >= settings.SEARCH_PAGE_MAX:
                    yield self._mapped(batch, archived=False)
                    batch = []
            if batch:
                yield self._mapped(batch, archived=False)
        st.clear()
        cursor.commit()
        st["archived_ms"] = arch_max

    def _complete(
        self, pages: Iterator[list[Item]], rest: list[str], *, archived: bool
    ) -> Iterator[list[Item]]:
        completed = self.sync.completed(
            ((page, None) for page in pages),
            rest,
            archived=archived,
            object_type=settings.COMPANIES,
        )
        for page, _ in completed:
            yield page

    def _mapped(self, raws: list[Item], *, archived: bool) -> Item:
        sync = self.sync
        fields = sync.fields(settings.COMPANIES)
        labels = {"industry": sync.industry_labels}
        rows: list[Item] = []
        bad: list[Item] = []
        for raw in raws:
            row, quarantined = account_row(sync.name, raw, labels, fields, archived=archived)
            rows.extend([row] if row is not None else [])
            bad.extend(quarantined)
        return {"rows": rows, "quarantine": bad}
