"""Reverse sync for Pipedrive: one ``PATCH /api/v2/deals/{id}`` per deal.

Pipedrive has no bulk deal update and no conditional one (no precondition header, no
version field in the v2 PATCH), so each deal, paced under the 2-second burst window by
the shared client, goes through three requests:

1. ``GET /api/v2/deals/{id}`` (1 token) right before its PATCH: a field a rep changed
   since the hub's base is a conflict and is not sent;
2. ``PATCH /api/v2/deals/{id}`` (5 tokens) with only the hub's fields that change, never
   ``value`` (a v2 PATCH without care resets it);
3. ``GET /api/v1/deals/{id}/changelog`` (20 tokens): the entry of the hub's write says
   what each field held just before it landed. If that is not what step 1 read, a rep's
   save landed in between (the window no read can close: from step 1's answer to the
   PATCH's arrival, one round trip plus any pacing wait); the rep's value is put back and
   the row is a conflict, never ``written``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from connectors.base import DealUpdate, LiveDeal, SourceContext, WriteResult, WriteStatus
from connectors.http import ApiClient
from connectors.pipedrive.client import build_client, get_payload, iter_pages, parse_time
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.settings import ENDPOINTS
from connectors.values import same_value
from models.errors import AuthError, QuotaExhausted, RetriesExhausted, SourceError

_UNSEEN = object()

HUB_FIELD_TYPES: dict[str, str] = {"hub_score": "double", "hub_score_reason": "text"}


class PipedriveWriter:
    max_batch = 100  # deals per write() call; each is read, patched and checked on its own
    live_read = True
    rechecks_before_write = True  # GET right before each PATCH, compared with DealUpdate.base
    guard_fields: frozenset[str] | None = None

    def __init__(self, ctx: SourceContext, client: ApiClient | None = None) -> None:
        self.options = cast(PipedriveOptions, ctx.options)
        self.client = client or build_client(ctx, self.options)
        self._keys: dict[str, str] | None = None
        self._stage_pipeline: dict[str, str] | None = None

    # ----- metadata --------------------------------------------------------------------------
    def field_keys(self) -> dict[str, str]:
        """hub field -> 40-char key, found by the configured field name (keys differ per company)."""
        if self._keys is None:
            by_name = {
                f.get("field_name"): f.get("field_code")
                for page in iter_pages(self.client, "deal_fields_v2")
                for f in page
            }
            self._keys = {
                hub: str(by_name[name])
                for hub, name in self.options.hub_field_names.items()
                if by_name.get(name)
            }
        return self._keys

    def stage_pipelines(self) -> dict[str, str]:
        if self._stage_pipeline is None:
            self._stage_pipeline = {
                str(s["id"]): str(s.get("pipeline_id"))
                for page in iter_pages(self.client, "stages")
                for s in page
            }
        return self._stage_pipeline

    def setup_fields(self) -> list[str]:
        """Create the hub's custom deal fields that do not exist yet (scope deal-fields:full)."""
        existing = self.field_keys()
        done = []
        for hub, name in self.options.hub_field_names.items():
            if hub in existing:
                done.append(f"deal field '{name}' exists ({existing[hub]})")
                continue
            body = {"field_name": name, "field_type": HUB_FIELD_TYPES.get(hub, "varchar")}
            endpoint = ENDPOINTS["deal_field_create"]
            payload = self.client.post_json(
                endpoint.path, endpoint=endpoint.path, json=body, cost=endpoint.cost
            )
            key = str((payload.get("data") or {}).get("field_code"))
            existing[hub] = key
            done.append(f"created deal field '{name}' ({key})")
        return done

    # ----- writing ---------------------------------------------------------------------------
    def _read_deal(self, deal_id: str) -> dict[str, Any] | None:
        """The deal now (``GET /api/v2/deals/{id}``); None when Pipedrive has no such deal."""
        params = {"custom_fields": ",".join(list(self.field_keys().values())[:15])}
        try:
            payload = get_payload(self.client, "deal", params=params, id=deal_id)
        except SourceError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        deal = payload.get("data")
        if not isinstance(deal, dict) or deal.get("is_deleted"):
            return None
        return deal

    def _patch(self, deal_id: str, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = ENDPOINTS["deal_patch"]
        payload = self.client.request(
            "PATCH",
            endpoint.path.format(id=deal_id),
            endpoint=endpoint.path,
            json=body,
            cost=endpoint.cost,
            expect_json=True,
        ).hub_payload  # type: ignore[attr-defined]
        return (payload or {}).get("data") or {}

    def _value(self, deal: dict[str, Any], hub_field: str) -> Any:
        if hub_field == "stage_id":
            return deal.get("stage_id")
        key = self.field_keys().get(hub_field)
        return (deal.get("custom_fields") or {}).get(key) if key else None

    def _plan(
        self, update: DealUpdate, deal: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, WriteResult | None]:
        """The PATCH body for one update, or the result that replaces writing it."""
        changed = {
            f: v for f, v in update.fields.items() if not same_value(self._value(deal, f), v)
        }
        if not changed:
            return None, WriteResult(update.deal_id, "skipped", "already up to date")
        modified = parse_time(deal.get("update_time"))
        if update.base_modified_at and modified and modified > update.base_modified_at:
            touched = [
                f for f in changed if not same_value(self._value(deal, f), update.base.get(f))
            ]
            if touched:
                return None, WriteResult(
                    update.deal_id,
                    "conflict",
                    f"{', '.join(touched)} changed in Pipedrive after the hub read it",
                    modified,
                )
        body: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for hub_field, value in changed.items():
            if hub_field == "stage_id":
                pipeline = str(update.pipeline_id or deal.get("pipeline_id"))
                if self.stage_pipelines().get(str(value)) != pipeline:
                    return None, WriteResult(
                        update.deal_id, "failed", f"stage {value} is not in pipeline {pipeline}"
                    )
                body["stage_id"] = int(value)
                if update.pipeline_id and str(update.pipeline_id) != str(deal.get("pipeline_id")):
                    body["pipeline_id"] = int(update.pipeline_id)
            elif hub_field in self.field_keys():
                custom[self.field_keys()[hub_field]] = value
            else:
                return None, WriteResult(
                    update.deal_id,
                    "failed",
                    f"no Pipedrive deal field for '{hub_field}'; run 'hub push --setup'",
                )
        if custom:
            body["custom_fields"] = custom
        return body, None

    def read_current(self, deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, LiveDeal]:
        """``GET /api/v2/deals?ids=``, 100 deals a call; hub fields by their hash keys."""
        keys = self.field_keys()
        wanted = [keys[f] for f in fields if f in keys]
        out: dict[str, LiveDeal] = {}
        for start in range(0, len(deal_ids), self.max_batch):
            chunk = deal_ids[start : start + self.max_batch]
            params: dict[str, Any] = {"ids": ",".join(chunk), "limit": 500}
            if wanted:
                params["custom_fields"] = ",".join(wanted[:15])
            payload = get_payload(self.client, "deals", params=params)
            for deal in payload.get("data") or []:
                if deal.get("is_deleted") or deal.get("status") == "deleted":
                    continue
                custom = deal.get("custom_fields") or {}
                values = {
                    f: deal.get("stage_id") if f == "stage_id" else custom.get(keys.get(f, ""))
                    for f in fields
                }
                out[str(deal["id"])] = LiveDeal(values, parse_time(deal.get("update_time")))
        return out

    def write(self, updates: Sequence[DealUpdate]) -> list[WriteResult]:
        if len(updates) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} updates per batch, got {len(updates)}")
        results: list[WriteResult] = []
        for i, update in enumerate(updates):
            try:
                results.append(self._write_one(update))
            except QuotaExhausted as exc:
                results.append(WriteResult(update.deal_id, "retryable", str(exc)))
                results.extend(
                    WriteResult(u.deal_id, "retryable", "not sent: budget used up")
                    for u in updates[i + 1 :]
                )
                return results
            except AuthError:
                raise
            except SourceError as exc:
                status: WriteStatus = "retryable" if isinstance(exc, RetriesExhausted) else "failed"
                results.append(WriteResult(update.deal_id, status, str(exc)))
        return results

    def _write_one(self, update: DealUpdate) -> WriteResult:
        deal = self._read_deal(update.deal_id)
        if deal is None:
            return WriteResult(update.deal_id, "failed", "deal not found (deleted?)")
        body, verdict = self._plan(update, deal)
        if verdict is not None:
            return verdict
        assert body is not None
        after = self._patch(update.deal_id, body)
        written = WriteResult(update.deal_id, "written", None, parse_time(after.get("update_time")))
        try:
            replaced = self._replaced(update, deal, body)
        except SourceError as exc:  # the write landed; only the check is missing
            return WriteResult(
                update.deal_id, "written", f"changelog not read: {exc}", written.modified_at
            )
        return self._put_back(update.deal_id, replaced) if replaced else written

    def _replaced(
        self, update: DealUpdate, before: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        """Fields whose value just before the hub's write landed (its changelog entry) is
        not the one read right before sending it: hub field -> the value overwritten."""
        keys = self.field_keys()
        hub_field_of = {key: hub for hub, key in keys.items()}
        sent = {"stage_id": body["stage_id"]} if "stage_id" in body else {}
        sent.update({hub_field_of[k]: v for k, v in body.get("custom_fields", {}).items()})
        payload = get_payload(self.client, "changelog", id=update.deal_id)
        entries = [e for e in payload.get("data") or [] if isinstance(e, dict)]
        out: dict[str, Any] = {}
        for hub_field, value in sent.items():
            key = "stage_id" if hub_field == "stage_id" else keys[hub_field]
            prior = _value_before([e for e in entries if e.get("field_key") == key], value)
            if prior is not _UNSEEN and not same_value(prior, self._value(before, hub_field)):
                out[hub_field] = prior
        return out

    def _put_back(self, deal_id: str, replaced: dict[str, Any]) -> WriteResult:
        body: dict[str, Any] = {}
        for hub_field, value in replaced.items():
            if hub_field == "stage_id":
                body["stage_id"] = int(value)
                pipeline = self.stage_pipelines().get(str(value))
                if pipeline and pipeline != "None":
                    body["pipeline_id"] = int(pipeline)
            else:
                typed = (
                    float(value)
                    if value is not None and HUB_FIELD_TYPES.get(hub_field) == "double"
                    else value
                )
                body.setdefault("custom_fields", {})[self.field_keys()[hub_field]] = typed
        what = (
            f"{', '.join(sorted(replaced))} changed in Pipedrive while the hub's write was in "
            "flight (no conditional update in Pipedrive): the hub's value replaced "
            f"{', '.join(repr(v) for v in replaced.values())}"
        )
        try:
            after = self._patch(deal_id, body)
        except SourceError as exc:
            return WriteResult(deal_id, "conflict", f"{what}; could not put it back: {exc}")
        return WriteResult(
            deal_id, "conflict", f"{what}; put back", parse_time(after.get("update_time"))
        )


def _value_before(entries: Sequence[dict[str, Any]], value: Any) -> Any:
    """What a field held just before ``value`` was written, from its changelog entries
    (newest first): the ``old_value`` of the oldest entry in the newest run of entries
    setting ``value`` (a retried PATCH can leave two). ``_UNSEEN`` when none sets it."""
    prior: Any = _UNSEEN
    for entry in entries:
        if same_value(entry.get("new_value"), value):
            prior = entry.get("old_value")
        elif prior is not _UNSEEN:
            break
    return prior


def build_writer(ctx: SourceContext) -> PipedriveWriter:
    return PipedriveWriter(ctx)
