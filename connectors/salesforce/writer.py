"""Reverse sync: deal updates -> Opportunity, in the largest batches Salesforce allows.

Updates that carry ``base_modified_at`` (every one the push engine sends: the writer
guards all fields) must not overwrite a rep's newer edit; Salesforce checks
``If-Unmodified-Since`` per record (412 when the record changed since), which only single
record requests take, so they go through Composite, 25 conditional subrequests a call.
sObject Collections (``PATCH /composite/sobjects``, 200 records a call, no precondition)
carries updates without a base.

A 412 is not always a rep's edit: when an answer is lost after the write landed, the
retried request finds the record modified by the hub's own write. So a 412 is read back
(one SOQL query for the batch's 412s): a record that holds every value the hub sent is
``written``, the rest are conflicts.

Hub fields must already exist on Opportunity: creating a custom field needs the Metadata
or Tooling API plus field-level security, which the hub leaves to an admin and explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from connectors.base import DealUpdate, LiveDeal, SourceContext, WriteResult, WriteStatus
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.mapping import parse_datetime
from connectors.salesforce.options import SalesforceOptions
from connectors.salesforce.queries import build_soql
from connectors.values import same_value
from models.errors import ConfigError

COLLECTION_MAX = 200
COMPOSITE_MAX = 25
_RETRYABLE = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"}


class SalesforceWriter:
    max_batch = COLLECTION_MAX
    live_read = True
    rechecks_before_write = False  # the hub re-reads (read_current) right before each batch
    # every update conditional (Composite, 25 a call): Collections (200) has no precondition
    guard_fields: frozenset[str] | None = None

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.options: SalesforceOptions = client.options
        self._fields: dict[str, dict[str, Any]] | None = None

    # ----- metadata ------------------------------------------------------------------------
    def describe(self) -> dict[str, dict[str, Any]]:
        if self._fields is None:
            path = f"{self.client.data_path}/sobjects/Opportunity/describe"
            body = self.client.api.get_json(path, endpoint=path)
            self._fields = {f["name"]: f for f in body["fields"]}
        return self._fields

    def field_for(self, hub_field: str) -> str:
        opts = self.options
        mapping = {
            "stage_id": "StageName",
            "hub_score": opts.score_field,
            "hub_score_reason": opts.score_reason_field,
        }
        if hub_field not in mapping:
            raise ConfigError(
                f"salesforce writer: no Opportunity field for hub field '{hub_field}'; "
                f"valid: {', '.join(mapping)}"
            )
        return mapping[hub_field]

    def _check_field(self, sf_field: str) -> None:
        info = self.describe().get(sf_field)
        grant = (
            "grant the integration user's permission set Read and Edit on it "
            "(Setup > Permission Sets > Object Settings > Opportunities, or a FieldPermissions row)"
        )
        if info is None:
            raise ConfigError(
                f"salesforce: field Opportunity.{sf_field} does not exist. Create it "
                "(Setup > Object Manager > Opportunity > Fields & Relationships, or the Tooling "
                f"API CustomField 'Opportunity.{sf_field}'), then {grant}"
            )
        if not info.get("updateable"):
            raise ConfigError(
                f"salesforce: field Opportunity.{sf_field} is not updateable by the integration user; {grant}"
            )

    def stage_values(self) -> list[str]:
        """Active StageName picklist API values (master record type)."""
        info = self.describe().get("StageName") or {}
        return [v["value"] for v in info.get("picklistValues", []) if v.get("active")]

    def setup_fields(self) -> list[str]:
        done: list[str] = []
        for hub_field in ("hub_score", "hub_score_reason"):
            sf_field = self.field_for(hub_field)
            try:
                self._check_field(sf_field)
                done.append(f"Opportunity.{sf_field} exists and is updateable")
            except ConfigError as exc:
                done.append(str(exc))
        return done

    # ----- writing -------------------------------------------------------------------------
    def _record(self, update: DealUpdate) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for hub_field, value in update.fields.items():
            sf_field = self.field_for(hub_field)
            self._check_field(sf_field)
            body[sf_field] = value
        return body

    def read_current(self, deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, LiveDeal]:
        """One SOQL ``WHERE Id IN (...)`` per 200 deals, with ``LastModifiedDate`` (which
        then guards stage writes with ``If-Unmodified-Since``)."""
        names = {f: self.field_for(f) for f in fields}
        out: dict[str, LiveDeal] = {}
        for start in range(0, len(deal_ids), COLLECTION_MAX):
            chunk = deal_ids[start : start + COLLECTION_MAX]
            ids = ", ".join("'" + i.replace("'", "") + "'" for i in chunk)
            soql = build_soql(
                ["Id", "LastModifiedDate", *sorted(set(names.values()))],
                "Opportunity",
                f"Id IN ({ids})",
            )
            for page in self.client.query(soql):
                for rec in page:
                    stamp = parse_datetime(rec.get("LastModifiedDate"))
                    out[str(rec["Id"])] = LiveDeal(
                        {f: rec.get(n) for f, n in names.items()},
                        stamp.astimezone(UTC) if stamp else None,
                    )
        return out

    def write(self, updates: Sequence[DealUpdate]) -> list[WriteResult]:
        if len(updates) > self.max_batch:
            raise ValueError(f"salesforce writer: at most {self.max_batch} updates per write()")
        results: list[WriteResult | None] = [None] * len(updates)
        plain: list[tuple[int, dict[str, Any]]] = []
        conditional: list[tuple[int, dict[str, Any], datetime]] = []
        stages = set(self.stage_values()) if any("stage_id" in u.fields for u in updates) else set()
        for i, update in enumerate(updates):
            record = self._record(update)
            stage = record.get("StageName")
            if stage is not None and stage not in stages:
                results[i] = WriteResult(
                    update.deal_id,
                    "failed",
                    f"'{stage}' is not an active StageName value; valid: {', '.join(sorted(stages))}",
                )
            elif update.base_modified_at is not None:
                conditional.append((i, record, update.base_modified_at))
            else:
                plain.append((i, record))
        for i, status, error in self._collections(updates, plain):
            results[i] = WriteResult(updates[i].deal_id, status, error)
        for start in range(0, len(conditional), COMPOSITE_MAX):
            for i, status, error in self._composite(
                updates, conditional[start : start + COMPOSITE_MAX]
            ):
                results[i] = WriteResult(updates[i].deal_id, status, error)
        stamps = self._modstamps(
            [updates[i].deal_id for i, r in enumerate(results) if r and r.status == "written"]
        )
        return [
            WriteResult(r.deal_id, r.status, r.error, stamps.get(r.deal_id))
            if r.status == "written"
            else r
            for r in results
            if r is not None
        ]

    def _collections(
        self, updates: Sequence[DealUpdate], plain: list[tuple[int, dict[str, Any]]]
    ) -> list[tuple[int, WriteStatus, str | None]]:
        if not plain:
            return []
        path = f"{self.client.data_path}/composite/sobjects"
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Opportunity"}, "id": updates[i].deal_id, **rec}
                for i, rec in plain
            ],
        }
        saves = self.client.api.request(
            "PATCH", path, json=body, endpoint=path, expect_json=True
        ).hub_payload  # type: ignore[attr-defined]
        out: list[tuple[int, WriteStatus, str | None]] = []
        for (i, _), save in zip(plain, saves, strict=True):
            if save.get("success"):
                out.append((i, "written", None))
                continue
            errors = save.get("errors") or [{}]
            code = str(errors[0].get("statusCode", ""))
            message = f"{code}: {errors[0].get('message', '')}"
            out.append((i, "retryable" if code in _RETRYABLE else "failed", message))
        return out

    def _composite(
        self, updates: Sequence[DealUpdate], batch: list[tuple[int, dict[str, Any], datetime]]
    ) -> list[tuple[int, WriteStatus, str | None]]:
        path = f"{self.client.data_path}/composite"
        subrequests = [
            {
                "method": "PATCH",
                "url": f"{self.client.data_path}/sobjects/Opportunity/{updates[i].deal_id}",
                "referenceId": f"r{n}",
                "body": rec,
                "httpHeaders": {"If-Unmodified-Since": format_datetime(base, usegmt=True)},
            }
            for n, (i, rec, base) in enumerate(batch)
        ]
        answer = self.client.api.post_json(
            path, json={"allOrNone": False, "compositeRequest": subrequests}, endpoint=path
        )
        out: list[tuple[int, WriteStatus, str | None]] = []
        stale = [
            (updates[i].deal_id, rec)
            for (i, rec, _), sub in zip(batch, answer["compositeResponse"], strict=True)
            if int(sub.get("httpStatusCode", 0)) == 412
        ]
        landed = self._holding(stale)
        for (i, _, base), sub in zip(batch, answer["compositeResponse"], strict=True):
            status = int(sub.get("httpStatusCode", 0))
            if status < 300:
                out.append((i, "written", None))
            elif status == 412 and updates[i].deal_id in landed:
                out.append((i, "written", "landed (a retried request found its own write)"))
            elif status == 412:
                out.append(
                    (
                        i,
                        "conflict",
                        f"modified in Salesforce after {base.isoformat()}; not overwritten",
                    )
                )
            else:
                errors = sub.get("body") or [{}]
                first = errors[0] if isinstance(errors, list) and errors else {}
                code = str(first.get("errorCode", ""))
                retry = code in _RETRYABLE or status >= 500
                out.append(
                    (i, "retryable" if retry else "failed", f"{code}: {first.get('message', '')}")
                )
        return out

    def _holding(self, records: list[tuple[str, dict[str, Any]]]) -> set[str]:
        """The ids among ``records`` whose Opportunity holds every value sent, read now."""
        if not records:
            return set()
        names = sorted({name for _, rec in records for name in rec})
        where = "Id IN (" + ", ".join(f"'{i}'" for i, _ in records) + ")"
        now: dict[str, dict[str, Any]] = {}
        for page in self.client.query(build_soql(["Id", *names], "Opportunity", where)):
            for row in page:
                now[str(row["Id"])] = row
        return {
            deal_id
            for deal_id, rec in records
            if deal_id in now and all(same_value(now[deal_id].get(k), v) for k, v in rec.items())
        }

    def _modstamps(self, ids: list[str]) -> dict[str, datetime]:
        """The new SystemModstamp of written rows: the base for the next conditional write."""
        out: dict[str, datetime] = {}
        for start in range(0, len(ids), COLLECTION_MAX):
            chunk = ids[start : start + COLLECTION_MAX]
            where = "Id IN (" + ", ".join(f"'{i}'" for i in chunk) + ")"
            for page in self.client.query(
                build_soql(["Id", "SystemModstamp"], "Opportunity", where)
            ):
                for rec in page:
                    stamp = parse_datetime(rec.get("SystemModstamp"))
                    if stamp:
                        out[rec["Id"]] = stamp
        return out


def build_writer(ctx: SourceContext) -> SalesforceWriter:
    assert isinstance(ctx.options, SalesforceOptions)
    return SalesforceWriter(
        SalesforceClient(
            ctx.options, lambda key: ctx.credential(key, required=False), stats=ctx.stats
        )
    )
