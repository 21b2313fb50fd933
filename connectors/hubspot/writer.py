"""Reverse sync into HubSpot: batch update of deals, the hub's own properties.

Safety rules (DESIGN.md section 7): read the deals first (batch read, 100 a call) and
skip any field a rep changed since the hub last read it; write in batches of 100; parse
a 207 per input; when one invalid value fails a whole batch (HubSpot answers 400), split
the batch until the bad row stands alone, so one bad row never blocks the rest.

HubSpot has no conditional update, so a rep's save that lands between that read and the
batch update (one round trip) would be overwritten unseen. After each batch the written
deals are read back with ``propertiesWithHistory`` (50 a call): when the value before the
hub's differs from the one the hub read, a rep's edit was overwritten; it is put back and
the row is a conflict, never ``written``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from connectors.base import DealUpdate, LiveDeal, SourceContext, WriteResult, WriteStatus
from connectors.hubspot import settings
from connectors.hubspot.client import HubspotApi
from connectors.hubspot.mapping import parse_ts
from connectors.hubspot.options import HubspotOptions
from connectors.hubspot.source import make_auth
from connectors.values import same_value
from models.errors import AuthError, QuotaExhausted, SourceError

UPDATE = "/crm/v3/objects/deals/batch/update"
READ = "/crm/v3/objects/deals/batch/read"


def _wire(field: str, value: Any) -> str | None:
    """HubSpot takes every property value as a string."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal):
        return (
            format(value, "f").rstrip("0").rstrip(".")
            if "." in format(value, "f")
            else format(value, "f")
        )
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


_UNSEEN = object()


def _value_before(history: Sequence[dict[str, Any]], value: Any) -> Any:
    """What a property held just before ``value`` was written, from its history (newest
    first): the entry older than the newest run of entries equal to ``value`` (a retried
    write can leave two). ``_UNSEEN`` when no entry holds ``value``."""
    seen = False
    for entry in history:
        if same_value(entry.get("value"), value):
            seen = True
        elif seen:
            return entry.get("value")
    return None if seen else _UNSEEN


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class HubspotWriter:
    max_batch = settings.BATCH_UPDATE_MAX
    live_read = True
    rechecks_before_write = True  # batch read, compared with DealUpdate.base
    guard_fields: frozenset[str] | None = None

    def __init__(self, api: HubspotApi) -> None:
        self.api = api

    # ----- fields -----------------------------------------------------------------------------
    def setup_fields(self) -> list[str]:
        done: list[str] = []
        path = "/crm/v3/properties/deals/groups"
        groups = self.api.get(path, endpoint=path).get("results", [])
        if not any(g.get("name") == settings.HUB_PROPERTY_GROUP["name"] for g in groups):
            self.api.post(path, endpoint=path, body=settings.HUB_PROPERTY_GROUP)
            done.append(f"created property group {settings.HUB_PROPERTY_GROUP['name']}")
        path = "/crm/v3/properties/deals"
        existing = {p.get("name") for p in self.api.get(path, endpoint=path).get("results", [])}
        for prop in settings.HUB_PROPERTIES:
            if prop["name"] in existing:
                done.append(f"deal property {prop['name']} already exists")
                continue
            self.api.post(
                path, endpoint=path, body={**prop, "groupName": settings.HUB_PROPERTY_GROUP["name"]}
            )
            done.append(f"created deal property {prop['name']}")
        return done

    # ----- writes ------------------------------------------------------------------------------
    def read_current(self, deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, LiveDeal]:
        """Batch read, 100 deals a call (``/crm/v3/objects/deals/batch/read``)."""
        names = {f: settings.WRITABLE_FIELDS.get(f, f) for f in fields}
        out: dict[str, LiveDeal] = {}
        for chunk in _chunks(list(deal_ids), settings.BATCH_READ_MAX):
            payload = self.api.post(
                READ,
                endpoint=READ,
                body={
                    "inputs": [{"id": i} for i in chunk],
                    "properties": sorted(set(names.values())),
                },
            )
            for item in payload.get("results", []) or []:
                props = item.get("properties") or {}
                out[str(item["id"])] = LiveDeal(
                    {f: props.get(p) for f, p in names.items()}, parse_ts(item.get("updatedAt"))
                )
        return out

    def write(self, updates: Sequence[DealUpdate]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        current = self._read_current(updates, results)
        to_send: list[tuple[int, DealUpdate, dict[str, str | None]]] = []
        for index, update in enumerate(updates):
            if index in results:
                continue
            now = current.get(update.deal_id)
            if now is None:
                results[index] = WriteResult(update.deal_id, "failed", "deal not found in HubSpot")
                continue
            props = {
                settings.WRITABLE_FIELDS.get(f, f): _wire(f, v) for f, v in update.fields.items()
            }
            if "dealstage" in props:
                props["pipeline"] = update.pipeline_id or now["properties"].get("pipeline")
            conflicts = [
                f
                for f, base in update.base.items()
                if not same_value(now["properties"].get(settings.WRITABLE_FIELDS.get(f, f)), base)
            ]
            if conflicts:
                results[index] = WriteResult(
                    update.deal_id,
                    "conflict",
                    f"changed in HubSpot since the hub read it: {', '.join(sorted(conflicts))}",
                    parse_ts(now.get("updatedAt")),
                )
                continue
            # only what changes: a rewritten equal value would blur the history checked after
            changed = {
                k: v for k, v in props.items() if not same_value(now["properties"].get(k), v)
            }
            if not changed:
                results[index] = WriteResult(
                    update.deal_id, "skipped", "already up to date", parse_ts(now.get("updatedAt"))
                )
                continue
            if "dealstage" in changed:
                changed["pipeline"] = props["pipeline"]
            to_send.append((index, update, changed))
        for chunk in _chunks(to_send, self.max_batch):
            results.update(self._send(list(chunk)))
            self._check_overwrites(list(chunk), current, results)
        return [results[i] for i in range(len(updates))]

    def _check_overwrites(
        self,
        sent: list[tuple[int, DealUpdate, dict[str, str | None]]],
        before: dict[str, dict[str, Any]],
        results: dict[int, WriteResult],
    ) -> None:
        """Read the written deals' history; a value before the hub's that is not the one
        the hub read is a rep's edit that landed in between: put it back, call it a
        conflict."""
        written = [s for s in sent if results[s[0]].status == "written"]
        names = sorted({name for _, _, props in written for name in props if name != "pipeline"})
        for chunk in _chunks(written, settings.BATCH_READ_WITH_HISTORY_MAX):
            try:
                payload = self.api.post(
                    READ,
                    endpoint=READ,
                    body={
                        "inputs": [{"id": u.deal_id} for _, u, _ in chunk],
                        "properties": names,
                        "propertiesWithHistory": names,
                    },
                )
            except SourceError as exc:  # the writes landed: unchecked, they stay 'written'
                for index, update, _ in chunk:
                    results[index] = WriteResult(
                        update.deal_id,
                        "written",
                        f"history not read: {exc}",
                        results[index].modified_at,
                    )
                continue
            found = {str(item["id"]): item for item in payload.get("results", [])}
            lost: list[tuple[int, DealUpdate, dict[str, str | None]]] = []
            for index, update, props in chunk:
                history = (found.get(update.deal_id) or {}).get("propertiesWithHistory") or {}
                read = before[update.deal_id]["properties"]
                replaced: dict[str, str | None] = {}
                for name, value in props.items():
                    if name == "pipeline":  # follows dealstage
                        continue
                    prior = _value_before(history.get(name) or [], value)
                    if prior is not _UNSEEN and not same_value(prior, read.get(name)):
                        replaced[name] = prior  # type: ignore[assignment]
                if replaced:
                    if "dealstage" in replaced:
                        replaced["pipeline"] = props.get("pipeline")
                    lost.append((index, update, replaced))
            self._put_back(lost, results)

    def _put_back(
        self,
        lost: list[tuple[int, DealUpdate, dict[str, str | None]]],
        results: dict[int, WriteResult],
    ) -> None:
        if not lost:
            return
        body = {"inputs": [{"id": u.deal_id, "properties": props} for _, u, props in lost]}
        try:
            payload = self.api.post(UPDATE, endpoint=UPDATE, body=body)
            done = {str(r["id"]): parse_ts(r.get("updatedAt")) for r in payload.get("results", [])}
            failure = "HubSpot did not confirm it"
        except SourceError as exc:
            done, failure = {}, str(exc)
        for index, update, props in lost:
            shown = {k: v for k, v in props.items() if k != "pipeline"}
            what = (
                f"{', '.join(sorted(shown))} changed in HubSpot while the hub's write was in "
                f"flight (no conditional update in HubSpot): the hub's value replaced "
                f"{', '.join(repr(v) for v in shown.values())}"
            )
            if update.deal_id in done:
                results[index] = WriteResult(
                    update.deal_id, "conflict", f"{what}; put back", done[update.deal_id]
                )
            else:
                results[index] = WriteResult(
                    update.deal_id, "conflict", f"{what}; could not put it back: {failure}"
                )

    def _read_current(
        self, updates: Sequence[DealUpdate], results: dict[int, WriteResult]
    ) -> dict[str, dict[str, Any]]:
        names = {"pipeline", "dealstage"}
        for u in updates:
            names.update(settings.WRITABLE_FIELDS.get(f, f) for f in (*u.fields, *u.base))
        found: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(u.deal_id for u in updates))
        for chunk in _chunks(ids, settings.BATCH_READ_MAX):
            try:
                payload = self.api.post(
                    READ,
                    endpoint=READ,
                    body={"inputs": [{"id": i} for i in chunk], "properties": sorted(names)},
                )
            except (AuthError, QuotaExhausted):
                raise
            except SourceError as exc:
                for index, u in enumerate(updates):
                    if u.deal_id in chunk:
                        results[index] = WriteResult(u.deal_id, "retryable", str(exc))
                continue
            for item in payload.get("results", []):
                found[str(item["id"])] = item
        return found

    def _send(
        self, batch: list[tuple[int, DealUpdate, dict[str, str | None]]]
    ) -> dict[int, WriteResult]:
        body = {
            "inputs": [
                {"id": u.deal_id, "properties": props, "objectWriteTraceId": str(index)}
                for index, u, props in batch
            ]
        }
        try:
            payload = self.api.post(UPDATE, endpoint=UPDATE, body=body)
        except (AuthError, QuotaExhausted):
            raise
        except SourceError as exc:
            message = str(exc)
            if "HTTP 400" in message and len(batch) > 1:  # one bad value fails the whole batch
                half = len(batch) // 2
                return {**self._send(batch[:half]), **self._send(batch[half:])}
            status: WriteStatus = "failed" if "HTTP 4" in message else "retryable"
            return {index: WriteResult(u.deal_id, status, message) for index, u, _ in batch}
        written = {str(r["id"]): parse_ts(r.get("updatedAt")) for r in payload.get("results", [])}
        failed: dict[str, str] = {}
        by_trace = {str(index): u.deal_id for index, u, _ in batch}
        for error in payload.get("errors", []) or []:
            ids = list((error.get("context") or {}).get("ids", []) or [])
            trace = error.get("objectWriteTraceId")
            if trace is not None and str(trace) in by_trace:
                ids.append(by_trace[str(trace)])
            text = f"{error.get('category', 'ERROR')}: {error.get('message', '')}".strip()
            for deal_id in ids:
                failed[str(deal_id)] = text
        out: dict[int, WriteResult] = {}
        for index, u, _ in batch:
            if u.deal_id in written:
                out[index] = WriteResult(u.deal_id, "written", modified_at=written[u.deal_id])
            elif u.deal_id in failed:
                out[index] = WriteResult(u.deal_id, "failed", failed[u.deal_id])
            else:  # HubSpot said nothing about it: unknown outcome, safe to resend
                out[index] = WriteResult(u.deal_id, "retryable", "no result for this input")
        return out


def build_writer(ctx: SourceContext) -> HubspotWriter:
    assert isinstance(ctx.options, HubspotOptions)
    return HubspotWriter(HubspotApi(ctx.options, make_auth(ctx, ctx.options), ctx.stats))
