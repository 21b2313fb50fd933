"""Reverse sync for Pipedrive: one ``PATCH /api/v2/deals/{id}`` per deal.

Pipedrive has no bulk deal update, so a batch is one pre-flight read of up to 100 deals
(``GET /api/v2/deals?ids=``, to refuse overwriting a rep's newer edit) followed by one
PATCH per deal, paced under the 2-second burst window by the shared client. Only the
fields the hub owns are sent: never ``value`` (a v2 PATCH without care resets it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from connectors.base import DealUpdate, LiveDeal, SourceContext, WriteResult, WriteStatus
from connectors.http import ApiClient
from connectors.pipedrive.client import build_client, get_payload, iter_pages, parse_time
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.settings import ENDPOINTS
from models.errors import AuthError, QuotaExhausted, RetriesExhausted, SourceError

HUB_FIELD_TYPES: dict[str, str] = {"hub_score": "double", "hub_score_reason": "text"}


class PipedriveWriter:
    max_batch = 100  # the ids= pre-flight read takes at most 100 deals
    live_read = True
    rechecks_before_write = True  # ids= read, compared by update_time and DealUpdate.base
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
    def _current(self, updates: Sequence[DealUpdate]) -> dict[str, dict[str, Any]]:
        ids = ",".join(u.deal_id for u in updates)
        params: dict[str, Any] = {"ids": ids, "limit": 500}
        keys = [k for h, k in self.field_keys().items() if any(h in u.fields for u in updates)]
        if keys:
            params["custom_fields"] = ",".join(keys[:15])
        payload = get_payload(self.client, "deals", params=params)
        return {str(d["id"]): d for d in payload.get("data") or []}

    def _value(self, deal: dict[str, Any], hub_field: str) -> Any:
        if hub_field == "stage_id":
            return deal.get("stage_id")
        key = self.field_keys().get(hub_field)
        return (deal.get("custom_fields") or {}).get(key) if key else None

    def _plan(
        self, update: DealUpdate, deal: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, WriteResult | None]:
        """The PATCH body for one update, or the result that replaces writing it."""
        changed = {f: v for f, v in update.fields.items() if str(self._value(deal, f)) != str(v)}
        if not changed:
            return None, WriteResult(update.deal_id, "skipped", "already up to date")
        modified = parse_time(deal.get("update_time"))
        if update.base_modified_at and modified and modified > update.base_modified_at:
            touched = [f for f in changed if str(self._value(deal, f)) != str(update.base.get(f))]
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
        if not updates:
            return []
        current = self._current(updates)
        results: list[WriteResult] = []
        endpoint = ENDPOINTS["deal_patch"]
        for i, update in enumerate(updates):
            deal = current.get(str(update.deal_id))
            if deal is None:
                results.append(WriteResult(update.deal_id, "failed", "deal not found (deleted?)"))
                continue
            body, verdict = self._plan(update, deal)
            if verdict is not None:
                results.append(verdict)
                continue
            try:
                payload = self.client.request(
                    "PATCH",
                    endpoint.path.format(id=update.deal_id),
                    endpoint=endpoint.path,
                    json=body,
                    cost=endpoint.cost,
                    expect_json=True,
                ).hub_payload  # type: ignore[attr-defined]
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
                continue
            data = (payload or {}).get("data") or {}
            results.append(
                WriteResult(update.deal_id, "written", None, parse_time(data.get("update_time")))
            )
        return results


def build_writer(ctx: SourceContext) -> PipedriveWriter:
    return PipedriveWriter(ctx)
