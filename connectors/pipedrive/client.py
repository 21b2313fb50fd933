"""Talking to Pipedrive: auth headers, OAuth refresh, verdicts, limits and paging.

Tokens only ever travel in headers (``x-api-token`` or ``Authorization: Bearer``), never
in the ``api_token`` query parameter the incumbents use, which ends up in proxy logs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.base import SourceContext
from connectors.http import (
    Action,
    ApiClient,
    DailyBudget,
    RetryableHTTPError,
    RollingWindowLimiter,
    Verdict,
    clock,
    header_int,
)
from connectors.pipedrive.options import PipedriveOptions
from connectors.pipedrive.settings import BURST_WINDOW_S, ENDPOINTS, burst_limit
from models.errors import AuthError, ConfigError, QuotaExhausted, SourceError

VENDOR = "pipedrive"
DAILY_REMAINING_HEADER = "x-daily-ratelimit-token-remaining"
DAILY_STOP = (
    "the company's daily API token budget is used up; state is saved, run 'hub sync' "
    "again after midnight (Pipedrive server time) or buy a top-up"
)
NULL_BODY_RETRIES = 5


# ----- time ----------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """Both of Pipedrive's shapes: v2 RFC 3339 ``...Z`` and v1 ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    if "T" not in text and " " in text:
        text = text.replace(" ", "T", 1)
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """``updated_since`` must have no fractional seconds: Pipedrive answers 400 otherwise."""
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_stamp(value: datetime) -> str:
    """v1's ``YYYY-MM-DD HH:MM:SS`` (UTC): what ``/v1/recents`` takes as ``since_timestamp``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# ----- auth ----------------------------------------------------------------------------------


class PipedriveAuth:
    """An API token, or OAuth 2.0 with a refresh token (access tokens live one hour)."""

    def __init__(self, ctx: SourceContext, options: PipedriveOptions) -> None:
        self.api_token = ctx.credential("api_token", required=False)
        self.client_id = ctx.credential("client_id", required=False)
        self.client_secret = ctx.credential("client_secret", required=False)
        self.refresh_token = ctx.credential("refresh_token", required=False)
        self.access_token = ctx.credential("access_token", required=False)
        self.token_url = options.oauth_token_url
        self.source_name = ctx.name
        if not self.api_token and not (
            self.client_id and self.client_secret and self.refresh_token
        ):
            raise ConfigError(
                f"sources[{ctx.name}].credentials: set api_token (env:PIPEDRIVE_API_TOKEN), or "
                "client_id, client_secret and refresh_token for an OAuth app"
            )
        self.session = requests.Session()

    @property
    def kind(self) -> str:
        return "api_token" if self.api_token else "oauth"

    def secrets(self) -> list[str]:
        return [
            s
            for s in (self.api_token, self.client_secret, self.refresh_token, self.access_token)
            if s
        ]

    def headers(self) -> dict[str, str]:
        if self.api_token:
            return {"x-api-token": self.api_token}
        if not self.access_token:
            self.refresh()
        return {"Authorization": f"Bearer {self.access_token}"}

    def refresh(self) -> None:
        """Trade the refresh token for a new access token (and keep a rotated refresh token)."""
        if self.api_token:
            raise AuthError(f"{VENDOR}: the API token of source '{self.source_name}' was rejected")
        try:
            response = self.session.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
                auth=(self.client_id or "", self.client_secret or ""),
                timeout=60,
                # The form carries the refresh token and client secret: never re-posted to
                # wherever a redirect points (connectors/http.py keeps the same rule).
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise RetryableHTTPError(
                Verdict(Action.RETRY, reason=f"token refresh failed: {type(exc).__name__}"), None
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableHTTPError(
                Verdict(Action.RETRY, reason=f"token refresh HTTP {response.status_code}"),
                response.status_code,
            )
        if 300 <= response.status_code < 400:
            raise AuthError(
                f"{VENDOR}: the token endpoint of source '{self.source_name}' answered "
                f"HTTP {response.status_code} (a redirect); the refresh token was not sent on. "
                "Check the source's oauth_token_url option"
            )
        if response.status_code != 200:
            raise AuthError(
                f"{VENDOR}: OAuth refresh for source '{self.source_name}' was refused "
                f"(HTTP {response.status_code}); reconnect the app and update refresh_token"
            )
        body = response.json()
        self.access_token = body["access_token"]
        self.refresh_token = body.get("refresh_token") or self.refresh_token


# ----- verdicts and limits -------------------------------------------------------------------


def classify(response: requests.Response) -> Verdict:
    """What a Pipedrive answer means. 429 carries no Retry-After: wait ``x-ratelimit-reset``."""
    status = response.status_code
    if status < 300:
        return Verdict(Action.OK)
    reason = _error_text(response)
    if status == 401:
        return Verdict(Action.REFRESH_AUTH, reason=reason)
    if status == 429:
        # Without the daily header, a 429 while the burst window still has room can only be
        # the daily budget: retrying it would hammer a door that stays shut until midnight.
        daily_left = header_int(response, DAILY_REMAINING_HEADER)
        burst_left = header_int(response, "x-ratelimit-remaining") or 0
        if daily_left == 0 or (daily_left is None and burst_left > 0):
            return Verdict(Action.STOP, reason=DAILY_STOP)
        reset = header_int(response, "x-ratelimit-reset")
        return Verdict(
            Action.RETRY, delay_s=float(reset if reset else BURST_WINDOW_S), reason=reason
        )
    if status == 403 and "text/html" in response.headers.get("Content-Type", ""):
        return Verdict(Action.RETRY, delay_s=60.0, reason="blocked by the edge firewall (HTML 403)")
    if status in (408, 500, 502, 503, 504):
        return Verdict(Action.RETRY, reason=reason)
    return Verdict(Action.FAIL, reason=reason)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, Mapping):
        return str(body.get("error") or body.get("message") or body)[:300]
    return f"HTTP {response.status_code}"


WINDOW_MARGIN_S = 0.05


MAX_TOKEN_COST = max(endpoint.cost for endpoint in ENDPOINTS.values())


class TokenBudget(DailyBudget):
    """The day's token budget, counted by the connector itself when Pipedrive sends no
    ``x-daily-ratelimit-token-remaining``: otherwise the only sign of a spent budget is a
    429. Until a response carries the header, each request's documented cost is charged
    against ``options.planned_daily_tokens`` and the run stops while one request of the
    costliest endpoint still fits. Once the header is seen, it is the authority."""

    def __init__(self, options: PipedriveOptions) -> None:
        super().__init__(options.max_daily_share, vendor=VENDOR)
        self.configured = options.daily_token_budget
        self.limit = self.configured
        self.planned = options.planned_daily_tokens
        self.header_seen = False
        self.counting = False  # answers came, none with the daily header

    def observe_response(self, response: requests.Response) -> None:
        remaining = header_int(response, DAILY_REMAINING_HEADER)
        if remaining is None:
            self.counting = not self.header_seen
            if self.counting and self.limit is None:
                self.limit = self.planned  # the share cap falls on the plan's budget
            return
        if not self.header_seen and self.configured is None:
            # The share cap is taken of what was left when this run began.
            self.limit = remaining + self.used_this_run
        self.header_seen, self.counting = True, False
        self.observe(None, remaining)

    def check(self) -> None:
        if self.counting and self.planned - self.used_this_run < MAX_TOKEN_COST:
            raise QuotaExhausted(
                f"{VENDOR}: by its own count this run used {self.used_this_run} of the day's "
                f"{self.planned} tokens (no daily header); {DAILY_STOP}",
                resume_after="daily reset",
            )
        super().check()


class PipedriveLimits:
    """Reads the burst headers into the pacer and the daily tokens into the run's budget."""

    def __init__(self, options: PipedriveOptions, auth_kind: str) -> None:
        burst = burst_limit(options.plan, auth_kind)
        # Our window counts each request from its answer, which is after Pipedrive stamped
        # it; the 50 ms margin only absorbs timer and scheduling jitter.
        self.limiter = RollingWindowLimiter(burst, BURST_WINDOW_S + WINDOW_MARGIN_S)
        self.budget = TokenBudget(options)

    def observe(self, response: requests.Response) -> None:
        limit = header_int(response, "x-ratelimit-limit")
        if limit:
            self.limiter.max_requests = limit
        # "0 left, reset in N s" is what our own pacing produces when it uses a full window;
        # then the window already holds the next request back until a slot frees, and the
        # header's whole-second reset would idle up to two seconds more. Heed it only when
        # the server counts requests this client did not send (another app on the token).
        if not self.limiter.window_full():
            self.limiter.observe(
                header_int(response, "x-ratelimit-remaining"),
                header_int(response, "x-ratelimit-reset"),
            )
        self.budget.observe_response(response)


def build_client(ctx: SourceContext, options: PipedriveOptions) -> ApiClient:
    auth = PipedriveAuth(ctx, options)
    limits = PipedriveLimits(options, auth.kind)
    client = ApiClient(
        options.host,
        vendor=VENDOR,
        classify=classify,
        auth_headers=auth.headers,
        refresh_auth=None if auth.api_token else auth.refresh,
        limiter=limits.limiter,
        budget=limits.budget,
        observe=limits.observe,
        stats=ctx.stats,
        secrets=auth.secrets(),
    )
    client.pipedrive_auth = auth  # type: ignore[attr-defined]
    return client


# ----- reading -------------------------------------------------------------------------------


def get_payload(
    client: ApiClient, name: str, *, params: Mapping[str, Any] | None = None, **path_args: Any
) -> dict[str, Any]:
    """GET one page; a 200 whose body is null or not ``success`` is retried (flow does that)."""
    endpoint = ENDPOINTS[name]
    path = endpoint.path.format(**path_args)
    for attempt in range(NULL_BODY_RETRIES):
        payload = client.get_json(
            path, endpoint=f"{endpoint.path}", params=params, cost=endpoint.cost
        )
        if isinstance(payload, dict) and payload.get("success") is not False:
            return payload
        client.stats.retries += 1
        clock.sleep(min(8.0, 0.5 * 2**attempt))
    raise SourceError(
        f"{VENDOR}: GET {endpoint.path} kept answering 200 with an empty body; "
        "the run stopped with its state saved, so rerunning resumes"
    )


def iter_pages(
    client: ApiClient, name: str, params: Mapping[str, Any] | None = None, **path_args: Any
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's ``data``; v2 follows ``next_cursor``, v1 follows ``start``."""
    endpoint = ENDPOINTS[name]
    query: dict[str, Any] = dict(params or {})
    if endpoint.paging != "none":
        query.setdefault("limit", endpoint.max_limit)
    seen_cursors: set[str] = set()
    while True:
        payload = get_payload(client, name, params=query, **path_args)
        data = payload.get("data") or []
        yield data if isinstance(data, list) else [data]
        extra = payload.get("additional_data") or {}
        if not isinstance(extra, dict):
            return
        if endpoint.paging == "cursor":
            cursor = extra.get("next_cursor")
            if not cursor or cursor in seen_cursors:  # a repeated cursor would loop forever
                return
            seen_cursors.add(cursor)
            query["cursor"] = cursor
        elif endpoint.paging == "offset":
            page = extra.get("pagination") or extra  # nested on most v1 lists, flat on some
            if not page.get("more_items_in_collection"):
                return
            next_start = page.get("next_start")
            query["start"] = int(
                next_start if next_start is not None else int(page.get("start") or 0) + len(data)
            )
        else:
            return
