"""FakePipedrive: a stateful local Pipedrive company over real HTTP.

Faithful where the connector could go wrong: ``{success, data, additional_data}``
envelopes, v2 cursor paging (``next_cursor`` null at the end), v1 offset paging
(``additional_data.pagination`` with ``start``/``more_items_in_collection``/``next_start``),
the deal list filters (``owner_id``, ``pipeline_id``, ``stage_id``, ``status``, ``ids``) and
``include_fields``, errors always in Pipedrive's ``{success: false, error, ...}`` shape
(never a traceback), second-precision timestamps, ``updated_since``
with fractional seconds -> 400, ``updated_since`` on pipelines/stages -> 400, limits over
500 -> 400, the flow answering 200 with a ``null`` body now and then, 429 without
Retry-After (burst per 2 s by plan; the daily token budget charged by each endpoint's
``x-token-cost``), custom fields keyed by 40-character hashes, deleted deals visible for
30 days, archived deals only on ``/deals/archived``; organisations on ``/v2/organizations``
(filters, sorts, ``include_fields``, ``custom_fields``, ``include_option_labels``; deleted
ones only in ``/v1/recents``) with their fields on ``/v1/organizationFields``.

``world_deal_ids()`` and ``world_account_ids()`` map native ids to the world records they
were seeded from, so tests compare against the generator, not against the sandbox.

Vendor knobs (constructor keywords): ``plan``, ``daily_tokens``, ``daily_headers`` (False:
the budget is still enforced but no response reports it, as on accounts whose answers lack
``x-daily-ratelimit-token-remaining``), ``flow_null_rate``, ``recents_reach_days`` (how far
back ``/v1/recents`` answers; 30 as since 2024-12-01, more only to measure a peer); the knobs every sandbox takes
are a ``SandboxSpec``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any
from urllib.parse import parse_qs

from connectors.pipedrive.sandbox import organizations as orgs
from connectors.pipedrive.sandbox import recents
from connectors.pipedrive.sandbox.store import (
    DEAL_INCLUDE_FIELDS,
    TOKEN_USER_ID,
    PipedriveStore,
    build_store,
    v2time,
)
from connectors.pipedrive.settings import BURST_WINDOW_S, ENDPOINTS, Endpoint, burst_limit
from connectors.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer, log
from connectors.sandbox.spec import SandboxSpec

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
DAILY_HEADER = "x-daily-ratelimit-token-remaining"
# 40 hex characters like a real token; fixed, so tests can name it.
SANDBOX_API_TOKEN = "5a4db0c2e1f3a6b7c8d9e0f1a2b3c4d5e6f70819"
DEAL_FILTERS = ("owner_id", "pipeline_id", "stage_id")  # equality filters of /v2/deals
# /v1/users/me: not an endpoint the connector reads, so not in its ENDPOINTS table.
USERS_ME = Endpoint("/api/v1/users/me", 2, "none")
COMPANY = {
    "company_id": 7_000_001,
    "company_name": "Sandbox Company",
    "company_country": "DE",
    "company_industry": "Software",
    "language": {"language_code": "en", "country_code": "US"},
}


def _v1_error(status: int, message: str) -> SandboxResponse:
    return SandboxResponse(
        status,
        {
            "success": False,
            "error": message,
            "errorCode": status,
            "error_info": INFO,
            "data": None,
            "additional_data": None,
        },
    )


def _v2_error(status: int, message: str, code: str) -> SandboxResponse:
    return SandboxResponse(status, {"success": False, "error": message, "code": code})


def _invalid(message: str) -> SandboxResponse:
    return _v2_error(400, f"Validation failed: {message}", "ERR_SCHEMA_VALIDATION_FAILED")


def _error(request: SandboxRequest, status: int, message: str, code: str) -> SandboxResponse:
    """An error in the shape of the API version the request was made to."""
    if request.path.startswith("/api/v2/"):
        return _v2_error(status, message, code)
    return _v1_error(status, message)


def _object_body(request: SandboxRequest) -> dict[str, Any] | SandboxResponse:
    try:
        body = request.json()
    except ValueError:
        return _v2_error(400, "Invalid JSON body", "ERR_SCHEMA_VALIDATION_FAILED")
    return body if isinstance(body, dict) else _invalid("body must be an object")


def _listed(request: SandboxRequest, name: str) -> set[str]:
    """A comma-separated query parameter as a set (``status=open,won``)."""
    return set((request.arg(name) or "").split(",")) - {""}


def _included(request: SandboxRequest) -> list[str] | SandboxResponse:
    """The deal's optional fields ``include_fields`` asks for, or the 400 for unknown ones."""
    names = _listed(request, "include_fields")
    unknown = sorted(names - DEAL_INCLUDE_FIELDS)
    return _invalid(f"include_fields: Invalid value {unknown}") if unknown else sorted(names)


def _parse_since(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _t(text: str | None) -> datetime:
    """Parse a stored v2 (``...Z``) or v1 (``YYYY-MM-DD HH:MM:SS``) timestamp as UTC."""
    parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sort_stamp(text: str | None) -> float:
    """A sort key; a stamp that does not parse (edited in by the bad-payload tests) sorts
    first instead of breaking the listing, so the connector sees it as served."""
    try:
        return _t(text).timestamp()
    except ValueError:
        return float("-inf")


@dataclass(frozen=True)
class Exchange:
    """One request and the status and body bytes it was answered with."""

    request: SandboxRequest
    status: int
    body: bytes


class FakePipedrive(SandboxServer):
    kind = "pipedrive"

    def __init__(
        self,
        spec: SandboxSpec | None = None,
        /,
        *,
        plan: str = "advanced",
        daily_tokens: int = 1_000_000,
        daily_headers: bool = True,
        flow_null_rate: float = 0.02,
        recents_reach_days: int = 30,
        **knobs: Any,
    ) -> None:
        super().__init__(spec, **knobs)
        spec = self.spec
        self.store: PipedriveStore = build_store(
            spec.seed,
            spec.n_deals,
            spec.source_index,
            spec.n_sources,
            activities_per_deal=spec.activities_per_deal,
            duplicate_share=spec.duplicate_share,
            signal=spec.signal,
        )
        self.plan = plan
        self.daily_tokens = daily_tokens
        self.tokens_used = 0
        self.daily_headers = daily_headers
        self.flow_null_rate = flow_null_rate
        self.recents_reach = timedelta(days=recents_reach_days)
        self.api_token = SANDBOX_API_TOKEN
        self.client_id = "hub-client"
        self.client_secret = "pd-secret-" + secrets.token_hex(8)
        self.refresh_token = "pd-refresh-" + secrets.token_hex(16)
        self.access_tokens: set[str] = set()
        self.query_token_uses = 0  # requests that put a token in the URL
        self.patch_bodies: list[dict[str, Any]] = []
        # every request and the answer as sent, once a test asks for them (record_exchanges)
        self.exchanges: list[Exchange] | None = None
        self._windows: dict[str, deque[float]] = {}
        self._costs: dict[str, int] = {}
        routes = [
            ("GET", "deals", self._deals),
            ("GET", "deals_archived", self._archived),
            ("GET", "deal", self._deal),
            ("PATCH", "deal_patch", self._patch_deal),
            ("GET", "pipelines", self._pipelines),
            ("GET", "stages", self._stages),
            ("GET", "activities", self._activities),
            ("GET", "deal_fields_v2", self._deal_fields_v2),
            ("POST", "deal_field_create", self._create_deal_field),
            ("GET", "users", self._users),
            ("GET", "deal_fields", self._deal_fields_v1),
            ("GET", "notes", self._notes),
            ("GET", "flow", self._flow),
            ("GET", "changelog", self._changelog),
            ("GET", "organizations", self._organizations),
            ("GET", "organization", self._organization),
            ("GET", "organization_fields", self._organization_fields_v1),
            ("GET", "recents", self._recents),
        ]
        for method, name, handler in routes:
            endpoint = ENDPOINTS[name]
            self.route(method, endpoint.path, handler)
            self._costs[f"{method} {endpoint.path}"] = endpoint.cost
        self.route("GET", USERS_ME.path, self._users_me)
        self._costs[f"GET {USERS_ME.path}"] = USERS_ME.cost
        self.route("POST", "/oauth/token", self._oauth_token)

    # ----- vendor hooks ----------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return {"api_token": self.api_token}

    def source_options(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "oauth_token_url": f"{self.base_url}/oauth/token"}

    def counts(self) -> dict[str, int]:
        with self.lock:
            deals = self.store.deals.values()
            live = sum(1 for d in deals if not d["is_archived"])
            return {
                "deals_live": live,
                "deals_archived": len(deals) - live,
                "activities": len(self.store.activities),
                "notes": len(self.store.notes),
                "moved_deals": sum(1 for d in deals if d["stage_change_time"]),
                "organizations": len(self.store.live_org_ids()),
            }

    @classmethod
    def page_minimum(cls, counts: dict[str, int]) -> int:
        """500 records a page for live and archived deals, activities, notes and
        organisations, one flow call per deal that ever changed stage, and five metadata
        calls (users, deal fields, organisation fields, pipelines, stages)."""
        pages = lambda n: max(1, ceil(n / 500))  # noqa: E731
        listed = ("deals_live", "deals_archived", "activities", "notes", "organizations")
        return sum(pages(counts.get(k, 0)) for k in listed) + 5 + counts["moved_deals"]

    def world_deal_ids(self) -> dict[int, str]:
        """Native deal id -> the world ``deal_id`` it was seeded from (copies: ``M...``)."""
        with self.lock:
            return dict(self.store.world_deals)

    def world_account_ids(self) -> dict[int, str]:
        """Native organisation id -> the world ``account_id`` it was seeded from."""
        with self.lock:
            return dict(self.store.world_accounts)

    def oauth_credentials(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    def throttled_response(self, request: SandboxRequest) -> SandboxResponse:
        response = _v1_error(429, "Request over limit")
        response.headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"})
        return response

    def server_error_response(self, request: SandboxRequest) -> SandboxResponse:
        status = self._rng.choice((500, 502, 503))
        return _v1_error(
            status, "Internal server error" if status == 500 else "Service unavailable"
        )

    def quota_exhausted_response(self, request: SandboxRequest) -> SandboxResponse:
        response = _v1_error(429, "Daily API token budget exceeded")
        if self.daily_headers:
            response.headers[DAILY_HEADER] = "0"
        return response

    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        return _error(
            request, 404, f"Unknown method {request.method} {request.path}", "ERR_NOT_FOUND"
        )

    def error_response(self, request: SandboxRequest, status: int, message: str) -> SandboxResponse:
        """A request the sandbox cannot serve, in Pipedrive's error shape."""
        if status == 404:
            return self.not_found(request)
        return _error(request, 500, "Internal server error", "ERR_INTERNAL_SERVER_ERROR")

    def dispatch(self, request: SandboxRequest) -> tuple[SandboxResponse, str]:
        if request.path.startswith("/v1/"):  # the api.pipedrive.com host form of /api/v1
            request.path = "/api" + request.path
        try:
            response, fault = super().dispatch(request)
        except Exception:  # a request the sandbox does not model
            log.exception("pipedrive sandbox failed on %s %s", request.method, request.path)
            response, fault = self.error_response(request, 500, "internal error"), ""
        if self.exchanges is not None and not request.path.startswith("/_sandbox"):
            self.exchanges.append(Exchange(request, response.status, response.encoded()))
        return response, fault

    def _identity(self, request: SandboxRequest) -> str | None:
        token = request.headers.get("x-api-token")
        if token == self.api_token:
            return "api_token"
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in self.access_tokens:
            return "oauth"
        if request.arg("api_token") == self.api_token:
            self.query_token_uses += 1
            return "api_token"
        return None

    def check_auth(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path == "/oauth/token" or self._identity(request):
            return None
        return _v1_error(401, "unauthorized access")

    def expire_tokens(self) -> None:
        self.access_tokens.clear()

    def record_exchanges(self) -> list[Exchange]:
        """Keep every vendor request from now on with the answer's status and bytes, so a
        test can check both sides against the vendor's spec without wrapping any client."""
        self.exchanges = []
        return self.exchanges

    def _burst_limit(self, request: SandboxRequest) -> int:
        if not self.rate_limits:
            return 10_000
        kind = "oauth" if request.headers.get("authorization") else "api_token"
        return burst_limit(self.plan, kind)

    def _window(self, request: SandboxRequest) -> deque[float]:
        key = request.headers.get("x-api-token") or request.headers.get("authorization") or "-"
        window = self._windows.setdefault(key, deque())
        now = self.now().timestamp()
        while window and now - window[0] >= BURST_WINDOW_S:
            window.popleft()
        return window

    def rate_limit(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path.startswith("/_sandbox") or request.path == "/oauth/token":
            return None
        if self.tokens_used >= self.daily_tokens:
            return self.quota_exhausted_response(request)
        window = self._window(request)
        if len(window) >= self._burst_limit(request):
            return self.throttled_response(request)
        return None

    def decorate(self, request: SandboxRequest, response: SandboxResponse) -> None:
        if request.path == "/oauth/token":
            return
        window = self._window(request)
        if response.status != 429:
            window.append(self.now().timestamp())
            label = next((k for k in self._costs if self._matches(k, request)), None)
            self.tokens_used += self._costs.get(label or "", 0)
        limit = self._burst_limit(request)
        reset = (
            0
            if not window
            else max(1, round(BURST_WINDOW_S - (self.now().timestamp() - window[0])))
        )
        headers = {
            "x-ratelimit-limit": limit,
            "x-ratelimit-remaining": max(0, limit - len(window)),
            "x-ratelimit-reset": reset,
        }
        if self.daily_headers:
            headers[DAILY_HEADER] = max(0, self.daily_tokens - self.tokens_used)
        for name, value in headers.items():
            response.headers.setdefault(name, str(value))

    @staticmethod
    def _matches(label: str, request: SandboxRequest) -> bool:
        method, _, pattern = label.partition(" ")
        regex = "^" + re.sub(r"\{\w+\}", "[^/]+", pattern) + "$"
        return method == request.method and re.match(regex, request.path) is not None

    def mutate(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.time_offset_s += 1  # each round of changes lands on a later second
        return self.store.mutate(spec, self.now().replace(microsecond=0))

    def expected_canonical(self, source_name: str) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            return self.store.expected(source_name, self.now())

    # ----- helpers ---------------------------------------------------------------------------
    def _limit(self, request: SandboxRequest, default: int = 100) -> int | SandboxResponse:
        raw = request.arg("limit")
        if raw is None:
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= 500:
            return _invalid("limit: Must be less than or equal to 500")
        return int(raw)

    @staticmethod
    def _int_args(
        request: SandboxRequest, names: tuple[str, ...]
    ) -> dict[str, int] | SandboxResponse:
        """The integer query parameters among ``names`` that the request sets."""
        out = {}
        for name in names:
            raw = request.arg(name)
            if raw is None:
                continue
            if not raw.isdigit():
                return _invalid(f"{name}: Expected integer, received '{raw}'")
            out[name] = int(raw)
        return out

    def _since(self, request: SandboxRequest, name: str) -> datetime | None | SandboxResponse:
        raw = request.arg(name)
        if raw is None:
            return None
        if not RFC3339.match(raw):
            return _v2_error(
                400,
                f"Validation failed: {name}: Must be a valid RFC3339 date-time "
                "without fractional seconds",
                "ERR_SCHEMA_VALIDATION_FAILED",
            )
        return _parse_since(raw)

    def _cursor_page(
        self, request: SandboxRequest, rows: list[dict[str, Any]], default_sort: str = "id"
    ) -> SandboxResponse:
        limit = self._limit(request)
        if isinstance(limit, SandboxResponse):
            return limit
        sort_by = request.arg("sort_by", default_sort) or default_sort
        desc = request.arg("sort_direction") == "desc"

        def key(row: dict[str, Any]) -> tuple[Any, int]:
            value = row.get(sort_by)
            numeric = isinstance(value, int)  # id, order_nr; the rest are timestamps
            return (value if numeric else _sort_stamp(value), row["id"])

        cursor = request.arg("cursor")
        keys: list[tuple[Any, int]] | None = None
        if self.page_cache and not desc:  # the benchmark knob: sort once per listing
            rows, keys = self.cached_rows(
                ("sorted", self._listing_key(request)),
                lambda: (lambda s: (s, [key(r) for r in s]))(sorted(rows, key=key)),
            )
        else:
            rows = sorted(rows, key=key, reverse=desc)
        start = 0
        if cursor:
            try:
                mark = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
                after = (mark["fieldValue"], mark["id"])
            except (ValueError, KeyError):
                return _v2_error(400, "Invalid cursor", "ERR_INVALID_CURSOR")
            if keys is not None:
                start = bisect_right(keys, after)
            else:
                rows = [r for r in rows if (key(r) < after if desc else key(r) > after)]
        page = rows[start : start + limit]
        extra: dict[str, Any] = {"next_cursor": None}  # null on the last page, not absent
        if len(rows) - start > limit:
            last = key(page[-1])
            mark = {
                "field": sort_by,
                "fieldValue": last[0],
                "sortDirection": "desc" if desc else "asc",
                "id": last[1],
            }
            extra["next_cursor"] = (
                base64.urlsafe_b64encode(json.dumps(mark).encode()).decode().rstrip("=")
            )
        return SandboxResponse(200, {"success": True, "data": page, "additional_data": extra})

    @staticmethod
    def _listing_key(request: SandboxRequest) -> tuple[Any, ...]:
        """A listing without its position: path and query minus cursor/start."""
        query = tuple(
            sorted((k, tuple(v)) for k, v in request.query.items() if k not in ("cursor", "start"))
        )
        return (request.method, request.path, query)

    def _offset_page(
        self, request: SandboxRequest, rows: list[dict[str, Any]], *, nested: bool
    ) -> SandboxResponse:
        limit = self._limit(request)
        if isinstance(limit, SandboxResponse):
            return limit
        raw_start = request.arg("start") or "0"
        if not raw_start.isdigit():
            return _v1_error(400, f"start: Expected integer, received '{raw_start}'")
        start = int(raw_start)
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        info: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if nested and more:
            info["next_start"] = start + limit
        extra = {"pagination": info} if nested else info
        return SandboxResponse(200, {"success": True, "data": page, "additional_data": extra})

    # ----- deals -----------------------------------------------------------------------------
    def _deal_list(self, request: SandboxRequest, archived: bool) -> SandboxResponse:
        since = self._since(request, "updated_since")
        if isinstance(since, SandboxResponse):
            return since
        until = self._since(request, "updated_until")
        if isinstance(until, SandboxResponse):
            return until
        statuses = _listed(request, "status")
        bad = statuses - {"open", "won", "lost", "deleted"}
        if bad:
            return _invalid(f"status: Invalid value {sorted(bad)}")
        included = _included(request)
        if isinstance(included, SandboxResponse):
            return included
        equal = self._int_args(request, DEAL_FILTERS)
        if isinstance(equal, SandboxResponse):
            return equal
        ids = {int(i) for i in (request.arg("ids") or "").split(",") if i.strip().isdigit()}
        rows = self.cached_rows(
            ("rows", self._listing_key(request)),
            lambda: self._deal_rows(archived, ids, equal, statuses, since, until),
        )
        response = self._cursor_page(request, rows)
        if included and response.status == 200:
            response.body["data"] = self.store.included_fields(response.body["data"], included)
        return response

    def _deal_rows(
        self,
        archived: bool,
        ids: set[int],
        equal: dict[str, int],
        statuses: set[str],
        since: datetime | None,
        until: datetime | None,
    ) -> list[dict[str, Any]]:
        now = self.now()
        rows = []
        for deal in self.store.deals.values():
            if deal["is_archived"] != archived or (ids and deal["id"] not in ids):
                continue
            if any(deal[name] != value for name, value in equal.items()):
                continue
            if deal["is_deleted"]:
                if "deleted" not in statuses or now - self.store.deleted_at[deal["id"]] > timedelta(
                    days=30
                ):
                    continue
            elif statuses and deal["status"] not in statuses:
                continue
            updated = _t(deal["update_time"])
            if (since and updated < since) or (until and updated >= until):
                continue
            rows.append(deal)
        return rows

    def _deals(self, request: SandboxRequest) -> SandboxResponse:
        return self._deal_list(request, archived=False)

    def _archived(self, request: SandboxRequest) -> SandboxResponse:
        return self._deal_list(request, archived=True)

    def _get_deal(self, request: SandboxRequest) -> dict[str, Any] | None:
        raw = request.params.get("id", "")
        deal = self.store.deals.get(int(raw)) if raw.isdigit() else None
        return None if deal is None or deal["is_deleted"] else deal

    def _deal(self, request: SandboxRequest) -> SandboxResponse:
        deal = self._get_deal(request)
        if deal is None:
            return _v2_error(404, "Deal not found", "ERR_NOT_FOUND")
        included = _included(request)
        if isinstance(included, SandboxResponse):
            return included
        [data] = self.store.included_fields([deal], included) if included else [deal]
        return SandboxResponse(200, {"success": True, "data": data})

    def _patch_deal(self, request: SandboxRequest) -> SandboxResponse:
        deal = self._get_deal(request)
        if deal is None:
            return _v2_error(404, "Deal not found", "ERR_NOT_FOUND")
        body = _object_body(request)
        if isinstance(body, SandboxResponse):
            return body
        self.patch_bodies.append(body)
        allowed = {
            "title",
            "owner_id",
            "pipeline_id",
            "stage_id",
            "value",
            "currency",
            "status",
            "probability",
            "lost_reason",
            "expected_close_date",
            "custom_fields",
        }
        unknown = sorted(set(body) - allowed)
        if unknown:
            return _v2_error(
                400,
                f"Validation failed: Parameter '{unknown[0]}' is not allowed",
                "ERR_SCHEMA_VALIDATION_FAILED",
            )
        pipeline_id = body.get("pipeline_id", deal["pipeline_id"])
        stage_id = body.get("stage_id")
        if stage_id is not None:
            if not isinstance(stage_id, int) or isinstance(stage_id, bool):
                return _v2_error(
                    400,
                    "Validation failed: stage_id: Expected integer",
                    "ERR_SCHEMA_VALIDATION_FAILED",
                )
            stage = self.store.stages.get(stage_id)
            if stage is None or stage["pipeline_id"] != pipeline_id:
                return _v2_error(
                    400,
                    f"Stage {stage_id} does not belong to pipeline {pipeline_id}",
                    "ERR_INVALID_INPUT",
                )
        custom = body.get("custom_fields") or {}
        keys = {f["key"] for f in self.store.fields if f["edit_flag"]}
        for key in custom:
            if key not in keys:
                return _v2_error(
                    400,
                    f"Validation failed: custom_fields: Parameter '{key}' is not allowed",
                    "ERR_SCHEMA_VALIDATION_FAILED",
                )
        now = self.now().replace(microsecond=0)
        user = TOKEN_USER_ID
        if stage_id is not None:
            deal["pipeline_id"] = pipeline_id
            self.store.move(deal, stage_id, now, user, "api")
        for key, value in custom.items():
            old = deal["custom_fields"].get(key)
            if old != value:  # an unchanged value leaves no change behind
                deal["custom_fields"][key] = value
                self.store.record_change(deal, now, key, old, value, user, "api")
        for key in ("title", "value", "currency", "probability", "expected_close_date", "owner_id"):
            if key in body:
                self.store.set_value(deal, key, body[key], now, user, "api")
        if "status" in body:
            self.store.set_status(deal, body["status"], now, user, "api", body.get("lost_reason"))
        self.store.touch(deal, now)
        return SandboxResponse(200, {"success": True, "data": deal})

    # ----- the small lists -------------------------------------------------------------------
    def _reject_updated_since(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.arg("updated_since") is not None:
            return _v2_error(
                400,
                "Validation failed: Parameter 'updated_since' is not allowed",
                "ERR_SCHEMA_VALIDATION_FAILED",
            )
        return None

    def _pipelines(self, request: SandboxRequest) -> SandboxResponse:
        return self._reject_updated_since(request) or self._cursor_page(
            request, list(self.store.pipelines.values())
        )

    def _stages(self, request: SandboxRequest) -> SandboxResponse:
        rejected = self._reject_updated_since(request)
        if rejected:
            return rejected
        pid = request.arg("pipeline_id")
        rows = [
            s for s in self.store.stages.values() if pid is None or str(s["pipeline_id"]) == pid
        ]
        return self._cursor_page(request, rows)

    def _activities(self, request: SandboxRequest) -> SandboxResponse:
        since = self._since(request, "updated_since")
        if isinstance(since, SandboxResponse):
            return since
        equal: dict[str, Any] | SandboxResponse = self._int_args(request, ("deal_id", "owner_id"))
        if isinstance(equal, SandboxResponse):
            return equal
        done = request.arg("done")
        if done is not None:
            if done not in ("true", "false", "1", "0"):
                return _invalid(f"done: Expected boolean, received '{done}'")
            equal["done"] = done in ("true", "1")
        rows = self.cached_rows(
            ("rows", self._listing_key(request)),
            lambda: [
                a
                for a in self.store.activities.values()
                if not a["is_deleted"]
                and (since is None or _t(a["update_time"]) >= since)
                and all(a[name] == value for name, value in equal.items())
            ],
        )
        return self._cursor_page(request, rows)

    def _users(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(200, {"success": True, "data": list(self.store.users.values())})

    def _users_me(self, request: SandboxRequest) -> SandboxResponse:
        """The token's user with its company (the ``/v1/users/me`` shape)."""
        me = self.store.users[TOKEN_USER_ID]
        company = COMPANY | {"company_domain": f"sandbox-{self.seed}"}
        return SandboxResponse(200, {"success": True, "data": me | company})

    def _recents(self, request: SandboxRequest) -> SandboxResponse:
        """Changes since ``since_timestamp``, reaching back one month at most."""
        raw = request.arg("since_timestamp") or ""
        if not recents.V1_STAMP.match(raw):
            return _v1_error(400, "since_timestamp: Format must be YYYY-MM-DD HH:MM:SS")
        types = _listed(request, "items")
        if types - recents.ITEM_TYPES:
            return _v1_error(400, f"items: Invalid value {sorted(types - recents.ITEM_TYPES)}")
        floor = self.now().astimezone(UTC).replace(microsecond=0) - self.recents_reach
        since = max(recents.stamp_of(raw) or floor, floor)
        rows = self.cached_rows(
            ("rows", self._listing_key(request)),
            lambda: recents.changes(self.store, types, since),
        )
        response = self._offset_page(request, rows, nested=True)
        if response.status == 200:
            page = response.body["data"]
            last = page[-1]["data"] if page else None
            response.body["additional_data"] |= {
                "since_timestamp": raw,
                "last_timestamp_on_page": last and (last.get("update_time") or last["modified"]),
            }
        return response

    def _v1_field(self, f: dict[str, Any], order: int) -> dict[str, Any]:
        return {
            "id": f["id"],
            "key": f["key"],
            "name": f["name"],
            "order_nr": order,
            "field_type": f["field_type"],
            "add_time": f["add_time"].replace("T", " ").rstrip("Z"),
            "update_time": None,
            "last_updated_by_user_id": None,
            "created_by_user_id": TOKEN_USER_ID,
            "active_flag": True,
            "edit_flag": f["edit_flag"],
            "index_visible_flag": True,
            "details_visible_flag": True,
            "add_visible_flag": True,
            "important_flag": False,
            "bulk_edit_allowed": True,
            "searchable_flag": False,
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": False,
            "options": f["options"],
            "options_deleted": [],
            "is_subfield": False,
            "subfields": [],
        }

    def _deal_fields_v1(self, request: SandboxRequest) -> SandboxResponse:
        rows = [self._v1_field(f, i) for i, f in enumerate(self.store.fields)]
        return self._offset_page(request, rows, nested=True)

    def _organization_fields_v1(self, request: SandboxRequest) -> SandboxResponse:
        rows = [self._v1_field(f, i) for i, f in enumerate(self.store.org_fields)]
        return self._offset_page(request, rows, nested=True)

    # ----- organisations ---------------------------------------------------------------------
    def _org_shape(self, request: SandboxRequest) -> dict[str, Any] | SandboxResponse:
        """What a request asks of each organisation: ``include_fields`` (the spec's enum),
        ``custom_fields`` (at most 15 keys) and ``include_option_labels``."""
        names = _listed(request, "include_fields")
        unknown = sorted(names - orgs.ORG_INCLUDE_FIELDS)
        if unknown:
            return _invalid(f"include_fields: Invalid value {unknown}")
        keys = _listed(request, "custom_fields")
        if len(keys) > 15:
            return _invalid("custom_fields: A maximum of 15 keys is allowed")
        flags = {}
        for name in ("include_option_labels", "include_labels"):
            raw = request.arg(name)
            if raw not in (None, "true", "false"):
                return _invalid(f"{name}: Expected boolean, received '{raw}'")
            flags[name] = raw == "true"
        return {"include": sorted(names), "keys": keys, **flags}

    def _org_view(self, rows: list[dict[str, Any]], shape: dict[str, Any]) -> list[dict[str, Any]]:
        """Copies of stored organisations as the request asked for them."""
        out = rows
        if shape["include"]:
            out = orgs.included(out, shape["include"], self.store.deals.values(), self.seed)
        if shape["keys"]:
            out = [
                o
                | {
                    "custom_fields": {
                        k: v for k, v in o["custom_fields"].items() if k in shape["keys"]
                    }
                }
                for o in out
            ]
        if shape["include_option_labels"]:
            labels = self.store.org_option_labels()
            out = [orgs.with_option_labels(o, labels) for o in out]
        if shape["include_labels"]:
            out = [o | {"labels": []} for o in out]
        return out

    def _organizations(self, request: SandboxRequest) -> SandboxResponse:
        """Live organisations only: the v2 list has no ``status`` filter for deleted ones."""
        if request.arg("filter_id") is not None:
            return _invalid("filter_id: saved filters are not modelled by the sandbox")
        since = self._since(request, "updated_since")
        if isinstance(since, SandboxResponse):
            return since
        until = self._since(request, "updated_until")
        if isinstance(until, SandboxResponse):
            return until
        sort_by = request.arg("sort_by", "id")
        if sort_by not in orgs.ORG_SORTS:
            return _invalid(f"sort_by: Invalid value '{sort_by}'")
        if request.arg("sort_direction", "asc") not in ("asc", "desc"):
            return _invalid(f"sort_direction: Invalid value '{request.arg('sort_direction')}'")
        shape = self._org_shape(request)
        if isinstance(shape, SandboxResponse):
            return shape
        equal = self._int_args(request, ("owner_id",))
        if isinstance(equal, SandboxResponse):
            return equal
        ids = {int(i) for i in (request.arg("ids") or "").split(",") if i.strip().isdigit()}
        rows = [
            o
            for o in self.store.organizations.values()
            if not o["is_deleted"]
            and (not ids or o["id"] in ids)
            and all(o[name] == value for name, value in equal.items())
            and (since is None or _t(o["update_time"]) >= since)
            and (until is None or _t(o["update_time"]) < until)
        ]
        response = self._cursor_page(request, rows)
        if response.status == 200:
            response.body["data"] = self._org_view(response.body["data"], shape)
        return response

    def _organization(self, request: SandboxRequest) -> SandboxResponse:
        raw = request.params.get("id", "")
        org = self.store.organizations.get(int(raw)) if raw.isdigit() else None
        if org is None or org["is_deleted"]:
            return _v2_error(404, "Organization not found", "ERR_NOT_FOUND")
        shape = self._org_shape(request)
        if isinstance(shape, SandboxResponse):
            return shape
        [data] = self._org_view([org], shape)
        return SandboxResponse(200, {"success": True, "data": data})

    def _v2_field(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "field_name": f["name"],
            "field_code": f["key"],
            "description": "",
            "field_type": f["field_type"],
            "options": f["options"],
            "subfields": None,
            "is_custom_field": f["edit_flag"],
            "is_optional_response_field": False,
        }

    def _deal_fields_v2(self, request: SandboxRequest) -> SandboxResponse:
        rows = [dict(self._v2_field(f), id=f["id"]) for f in self.store.fields]
        response = self._cursor_page(request, rows)
        for row in response.body["data"] if response.status == 200 else []:
            row.pop("id", None)
        return response

    def _create_deal_field(self, request: SandboxRequest) -> SandboxResponse:
        body = _object_body(request)
        if isinstance(body, SandboxResponse):
            return body
        name, ftype = body.get("field_name"), body.get("field_type")
        valid = {
            "varchar",
            "text",
            "double",
            "phone",
            "date",
            "daterange",
            "time",
            "timerange",
            "set",
            "enum",
            "varchar_auto",
            "address",
            "monetary",
            "org",
            "people",
            "user",
        }
        if not isinstance(name, str) or not name or ftype not in valid:
            return _v2_error(
                400,
                "Validation failed: field_name and a valid field_type are required",
                "ERR_SCHEMA_VALIDATION_FAILED",
            )
        key = base64.b16encode(secrets.token_bytes(20)).decode().lower()
        field = {
            "id": len(self.store.fields) + 1,
            "key": key,
            "name": name,
            "field_type": ftype,
            "edit_flag": True,
            "add_time": v2time(self.now()),
            "options": [
                {"id": 900 + i, "label": o["label"]}
                for i, o in enumerate(body.get("options") or [])
            ]
            or None,
        }
        self.store.fields.append(field)
        return SandboxResponse(200, {"success": True, "data": self._v2_field(field)})

    def _notes(self, request: SandboxRequest) -> SandboxResponse:
        since = self._since(request, "updated_since")
        if isinstance(since, SandboxResponse):
            return since
        deal_id = request.arg("deal_id")
        rows = self.cached_rows(
            ("rows", self._listing_key(request)),
            lambda: sorted(
                (
                    n
                    for n in self.store.notes.values()
                    if (since is None or _t(n["update_time"]) >= since)
                    and (deal_id is None or str(n["deal_id"]) == deal_id)
                ),
                key=lambda n: n["id"],
            ),
        )
        return self._offset_page(request, rows, nested=True)

    def _flow(self, request: SandboxRequest) -> SandboxResponse:
        raw = request.params.get("id", "")
        deal = self.store.deals.get(int(raw)) if raw.isdigit() else None
        if deal is None:
            return _v1_error(404, "Deal not found")
        if self.chance(self.flow_null_rate):
            return SandboxResponse(200, b"null")
        items = request.arg("items")
        wanted = set(items.split(",")) if items else None
        rows = [
            i
            for i in reversed(self.store.flows[deal["id"]])
            if wanted is None or i["object"] in wanted
        ]
        return self._offset_page(request, rows, nested=False)

    def _changelog(self, request: SandboxRequest) -> SandboxResponse:
        """``GET /v1/deals/{id}/changelog``: the deal's field changes, newest first, in
        pages of ``limit`` (default 100) with an opaque ``next_cursor``."""
        raw = request.params.get("id", "")
        deal = self.store.deals.get(int(raw)) if raw.isdigit() else None
        if deal is None or deal["is_deleted"]:
            return _v1_error(404, "Deal not found")
        limit = self._limit(request)
        if isinstance(limit, SandboxResponse):
            return limit
        rows = [
            {
                "field_key": c["field_key"],
                "old_value": c["old_value"],
                "new_value": c["new_value"],
                "actor_user_id": c["user_id"],
                "time": c["log_time"],
                "change_source": c["change_source"],
                "change_source_user_agent": c["change_source_user_agent"],
                "is_bulk_update_flag": bool(c["is_bulk_update_flag"]),
            }
            for c in (f["data"] for f in reversed(self.store.flows[deal["id"]]))
            if "field_key" in c
        ]
        cursor = request.arg("cursor")
        try:
            start = (
                int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))) if cursor else 0
            )
        except ValueError:
            return _v1_error(400, "Invalid cursor")
        more = start + limit < len(rows)
        next_cursor = (
            base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None
        )
        return SandboxResponse(
            200,
            {
                "success": True,
                "data": rows[start : start + limit],
                "additional_data": {"next_cursor": next_cursor},
            },
        )

    def _oauth_token(self, request: SandboxRequest) -> SandboxResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        auth = request.headers.get("authorization", "")
        expected = (
            "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        )
        if auth != expected:
            return SandboxResponse(401, {"success": False, "error": "Invalid client credentials"})
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
        ):
            return SandboxResponse(
                400, {"success": False, "error": "Invalid grant: refresh token is invalid"}
            )
        token = "pd-access-" + secrets.token_hex(16)
        self.access_tokens.add(token)
        return SandboxResponse(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "refresh_token": self.refresh_token,
                "scope": "deals:full users:read recents:read activities:read",
                "expires_in": 3599,
                "api_domain": self.base_url,
            },
        )
