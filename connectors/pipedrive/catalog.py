"""Field definitions for one run, read at most when they may have changed.

``/v1/dealFields`` and ``/v1/organizationFields`` cost 20 tokens a page and change rarely,
while every run re-reads deals and organisations inside the lookback window. So the
definitions are kept (compacted) in the source's dlt state and fetched again only

* on a first or full-refresh sync, or when the kept ones are older than
  ``settings.FIELDS_MAX_AGE`` (a renamed field shows up by then), or
* at once, and at most once a run, when a record carries a custom field key or an option id
  the kept definitions do not know (a field or option added since).

A quiet incremental sync therefore sends no fields request at all. The state is saved with
the load, so a failed run keeps nothing it fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt

from connectors.base import SourceContext
from connectors.http import ApiClient
from connectors.pipedrive.client import iter_pages, parse_time
from connectors.pipedrive.fields import CustomFields, compact
from connectors.pipedrive.settings import FIELDS_MAX_AGE
from connectors.values import lenient

_time = lenient(parse_time)


@dataclass
class FieldCatalog:
    """One entity's definitions (``endpoint`` ``deal_fields`` or ``organization_fields``)."""

    ctx: SourceContext
    client: ApiClient
    endpoint: str
    entity: str  # FieldDefinition.entity
    wanted: str | list[str] | None
    option_name: str  # the option that selects the fields, for the warning
    _fields: CustomFields | None = field(default=None, repr=False)
    _fetched: bool = False  # this run fetched them already: no second fetch
    _emitted: bool = False  # their field_definitions rows went out this run

    def get(self) -> CustomFields:
        """The kept definitions while fresh, else fetched ones (raises QuotaExhausted)."""
        if self._fields is None:
            kept = self._state()
            stamp = _time(kept.get("fetched_at"))
            fresh = stamp is not None and self._now() - stamp < FIELDS_MAX_AGE
            if fresh and not self.ctx.full_refresh and isinstance(kept.get("fields"), list):
                self._load(kept["fields"])
            else:
                self._fetch()
        assert self._fields is not None
        return self._fields

    def covering(self, records: Iterable[Mapping[str, Any]]) -> CustomFields:
        """Definitions that know every field and option ``records`` carry: the kept ones,
        or (once a run) fetched again when they do not. What is still unknown after that
        is quarantined by the mapping."""
        fields = self.get()
        if not self._fetched and not all(fields.knows(r) for r in records):
            self._fetch()
        assert self._fields is not None
        return self._fields

    def pending_definitions(self) -> list[dict[str, Any]]:
        """The ``field_definitions`` rows, once per run (and again after a fetch)."""
        if self._fields is None or self._emitted:
            return []
        self._emitted = True
        return self._fields.definitions(self.ctx.name)

    def _fetch(self) -> None:
        raw = [f for page in iter_pages(self.client, self.endpoint) for f in page]
        kept = compact(raw)
        self._state().update(fetched_at=self._now().isoformat(), fields=kept)
        self._fetched = True
        self._load(kept)

    def _load(self, kept: list[dict[str, Any]]) -> None:
        self._fields = CustomFields.from_fields(kept, self.wanted, self.entity)
        self._emitted = False
        for name in self._fields.unmatched:
            warning = f"{self.option_name}: no {self.entity} custom field is named {name!r}"
            if warning not in self.ctx.stats.warnings:
                self.ctx.stats.warnings.append(warning)

    def _state(self) -> dict[str, Any]:
        fields: dict[str, Any] = dlt.current.source_state().setdefault("fields", {})
        return fields.setdefault(self.endpoint, {})  # type: ignore[no-any-return]

    def _now(self) -> datetime:
        return self.ctx.run_started_at or datetime.now(UTC)
