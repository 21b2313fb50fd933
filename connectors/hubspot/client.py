"""Talking to HubSpot: auth (private app or OAuth), what a response means, pacing.

Everything goes through :class:`connectors.http.ApiClient`; this module only says how
HubSpot signals "slow down" (429 + ``policyName``), "stop for today" (``DAILY``), "token
expired" (401 ``EXPIRED_AUTHENTICATION``) and how much budget is left (the
``X-HubSpot-RateLimit-*`` headers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests

from connectors.http import (
    Action,
    ApiClient,
    DailyBudget,
    RequestStats,
    RollingWindowLimiter,
    Verdict,
    clock,
    header_int,
)
from connectors.hubspot import settings
from connectors.hubspot.options import HubspotOptions
from models.errors import AuthError, QuotaExhausted, SourceError

VENDOR = "HubSpot"
BURST_WINDOW_S = 10.0
DAILY_RESUME = "midnight in the HubSpot portal's time zone"
# Refresh OAuth access tokens this long before HubSpot says they expire.
REFRESH_MARGIN_S = 120.0
_PERMANENT_OAUTH = {
    "BAD_REFRESH_TOKEN",
    "BAD_HUB",
    "BAD_CLIENT_ID",
    "BAD_AUTH_CODE",
    "BAD_GRANT_TYPE",
}


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe_error(response: requests.Response) -> str:
    """HubSpot's error body in one line: category, message (never a token)."""
    body = _body(response)
    parts = [str(body[k]) for k in ("category", "status", "message") if body.get(k)]
    return ": ".join(parts) or f"HTTP {response.status_code}"


def throttle_delay(response: requests.Response, policy: str | None) -> float:
    """Retry-After when sent (often it is not), else the interval the headers announce."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    interval_ms = header_int(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if policy == "SECONDLY":
        return 1.0
    if interval_ms:
        return interval_ms / 1000
    return BURST_WINDOW_S


def classify(response: requests.Response) -> Verdict:
    status = response.status_code
    if status < 300:  # 200, 201, 204 and 207 multi-status (parsed per input by callers)
        return Verdict(Action.OK)
    reason = describe_error(response)
    if status == 429:
        policy = _body(response).get("policyName")
        if policy == "DAILY":
            return Verdict(
                Action.STOP,
                reason=f"the portal's daily API limit is used up; resume after {DAILY_RESUME}",
            )
        return Verdict(Action.RETRY, throttle_delay(response, policy), f"429 {policy}: {reason}")
    if status == 401:
        return Verdict(Action.REFRESH_AUTH, reason=reason)
    if status == 403:
        return Verdict(
            Action.FAIL,
            reason=f"{reason}; the private app or OAuth app lacks a scope (see "
            "connectors/hubspot/README.md for the list)",
        )
    if status == 530:  # HubSpot answers some malformed tokens with 530
        return Verdict(Action.FAIL, reason="the token is malformed; copy it again")
    if status >= 500 or status == 408:
        return Verdict(Action.RETRY, reason=reason)
    return Verdict(Action.FAIL, reason=reason)


def split_for_url(names: list[str]) -> tuple[list[str], list[str]]:
    """(the names a GET's comma-joined ``properties`` can carry, the rest): HubSpot answers
    an over-long request line with 414, so the rest must travel in a POST body."""
    used = 0
    for k, name in enumerate(names):
        used += len(quote(name, safe="")) + len("%2C")
        if used > settings.URL_PROPERTIES_MAX:
            return names[:k], names[k:]
    return names, []


# ----- auth ---------------------------------------------------------------------------------


class PrivateAppAuth:
    """A private-app token never expires; a 401 means it was revoked or is wrong."""

    refresh: None = None

    def __init__(self, token: str) -> None:
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def secrets(self) -> list[str]:
        return [self.token]


def _classify_token(response: requests.Response) -> Verdict:
    if response.status_code < 300:
        return Verdict(Action.OK)
    if response.status_code == 429 or response.status_code >= 500:
        return Verdict(Action.RETRY, reason=describe_error(response))
    return Verdict(Action.FAIL, reason=describe_error(response))


class OAuthAuth:
    """OAuth 2.0: a long-lived refresh token buys ~30-minute access tokens.

    Refreshes ahead of expiry and again whenever HubSpot answers 401. A refresh HubSpot
    rejects (``BAD_REFRESH_TOKEN``, ``BAD_HUB``...) is permanent and raises AuthError;
    the token endpoint's own 429/5xx are retried like any other call.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        stats: RequestStats,
        timeout_s: float,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.access_token: str | None = None
        self.expires_at = 0.0
        self.on_new_token: list[Any] = []
        self._token_client = ApiClient(
            base_url,
            vendor=VENDOR,
            classify=_classify_token,
            auth_headers=dict,
            stats=stats,
            secrets=[client_secret, refresh_token],
            timeout_s=timeout_s,
            max_attempts=5,
        )

    def secrets(self) -> list[str]:
        return [self.client_secret, self.refresh_token]

    def headers(self) -> dict[str, str]:
        if self.access_token is None or clock.now() >= self.expires_at - REFRESH_MARGIN_S:
            self.refresh()
        return {"Authorization": f"Bearer {self.access_token}"}

    def refresh(self) -> None:
        try:
            payload = self._token_client.post_json(
                "/oauth/v1/token",
                endpoint="/oauth/v1/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "refresh_token": self.refresh_token,
                },
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except (AuthError, QuotaExhausted):
            raise
        except SourceError as exc:
            # A 4xx from the token endpoint (BAD_REFRESH_TOKEN, BAD_HUB...) is permanent;
            # only "still failing after N attempts" (429/5xx) is worth a later rerun. A refused
            # redirect says so itself: it is not a rejected token.
            if "redirect" in str(exc):
                raise AuthError(f"{VENDOR}: OAuth refresh stopped: {exc}") from None
            if any(code in str(exc) for code in _PERMANENT_OAUTH) or "still failing" not in str(
                exc
            ):
                raise AuthError(
                    f"{VENDOR}: the OAuth refresh token was rejected ({exc}); reconnect the "
                    "app to the portal and put the new refresh token in hub.yml's credentials"
                ) from None
            raise
        self.access_token = str(payload["access_token"])
        self.expires_at = clock.now() + float(payload.get("expires_in", 1800))
        if payload.get("refresh_token"):
            self.refresh_token = str(payload["refresh_token"])
        for callback in self.on_new_token:
            callback(self.access_token)


Auth = PrivateAppAuth | OAuthAuth


# ----- pacing ---------------------------------------------------------------------------------


SEARCH_LIMIT_PER_S = 5  # HubSpot's search limit per token


class SearchLimiter(RollingWindowLimiter):
    """Search calls count against the burst window and, separately, HubSpot's 5 per
    second: at most 5 in any window of ``5 / per_second`` seconds, so a fractional pace
    such as 4.75/s works and no 1-second span ever holds more than 5."""

    def __init__(self, burst: RollingWindowLimiter, per_second: float) -> None:
        per_second = min(float(per_second), SEARCH_LIMIT_PER_S)
        super().__init__(max_requests=SEARCH_LIMIT_PER_S, window_s=SEARCH_LIMIT_PER_S / per_second)
        self.burst = burst

    def acquire(self, stats: RequestStats | None = None) -> Callable[[], None]:
        settle_search = super().acquire(stats)
        settle_burst = self.burst.acquire(stats)

        def settle() -> None:
            settle_search()
            settle_burst()

        return settle


class HeaderObserver:
    """Reads ``X-HubSpot-RateLimit-*`` so the run keeps under the portal-wide limits
    other apps share with us, not only under our own count."""

    def __init__(self, limiter: RollingWindowLimiter, budget: DailyBudget, headroom: int) -> None:
        self.limiter = limiter
        self.budget = budget
        self.headroom = headroom

    def __call__(self, response: requests.Response) -> None:
        interval_ms = header_int(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
        max_burst = header_int(response, "X-HubSpot-RateLimit-Max")
        remaining = header_int(response, "X-HubSpot-RateLimit-Remaining")
        if max_burst and interval_ms:
            allowed = max(1, max_burst - self.headroom)
            if allowed < self.limiter.max_requests:
                self.limiter.max_requests = allowed
        if remaining is not None and interval_ms:
            self.limiter.observe(remaining - self.headroom // 2, interval_ms / 1000)
        self.budget.observe(
            header_int(response, "X-HubSpot-RateLimit-Daily"),
            header_int(response, "X-HubSpot-RateLimit-Daily-Remaining"),
        )
        if response.status_code == 429:
            policy = _body(response).get("policyName")
            if policy and policy != "DAILY":
                self.limiter.pause(throttle_delay(response, policy))


# ----- the API surface the source and writer use --------------------------------------------


class HubspotApi:
    """The few calls the connector makes, each paced, budgeted, retried and counted."""

    def __init__(self, options: HubspotOptions, auth: Auth, stats: RequestStats) -> None:
        self.options = options
        self.auth = auth
        self.stats = stats
        self.limiter = RollingWindowLimiter(
            max(1, options.burst_limit - options.burst_headroom), BURST_WINDOW_S
        )
        self.budget = DailyBudget(options.max_daily_share, vendor=VENDOR)
        if options.daily_limit:
            self.budget.limit = options.daily_limit
        observe = HeaderObserver(self.limiter, self.budget, options.burst_headroom)
        common: dict[str, Any] = {
            "vendor": VENDOR,
            "classify": classify,
            "auth_headers": auth.headers,
            "refresh_auth": auth.refresh if isinstance(auth, OAuthAuth) else None,
            "budget": self.budget,
            "observe": observe,
            "stats": stats,
            "secrets": auth.secrets(),
            "max_attempts": options.max_attempts,
            "timeout_s": options.timeout_s,
        }
        self.client = ApiClient(options.base_url, limiter=self.limiter, **common)
        self.search_client = ApiClient(
            options.base_url,
            limiter=SearchLimiter(self.limiter, options.search_per_second),
            **common,
        )
        if isinstance(auth, OAuthAuth):
            auth.on_new_token.append(self.client.add_secret)
            auth.on_new_token.append(self.search_client.add_secret)

    def _call(self, client: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return client.request(method, path, expect_json=True, **kwargs).hub_payload  # type: ignore[attr-defined]
        except QuotaExhausted as exc:
            if exc.resume_after in (None, "daily reset"):  # the portal's limit, not our cap
                message = (
                    str(exc)
                    if "midnight" in str(exc)
                    else f"{exc} (HubSpot resets it at {DAILY_RESUME})"
                )
                raise QuotaExhausted(message, resume_after=DAILY_RESUME) from None
            raise

    def get(self, path: str, *, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call(self.client, "GET", path, endpoint=endpoint, params=params)

    def post(self, path: str, *, endpoint: str, body: Any) -> Any:
        return self._call(self.client, "POST", path, endpoint=endpoint, json=body)

    def search(self, object_type: str, body: Mapping[str, Any]) -> Any:
        return self._call(
            self.search_client,
            "POST",
            f"/crm/v3/objects/{object_type}/search",
            endpoint=f"/crm/v3/objects/{object_type}/search",
            json=body,
        )

    def paged(
        self, path: str, *, endpoint: str, params: Mapping[str, Any]
    ) -> Iterator[list[dict[str, Any]]]:
        """Follow ``paging.next.after`` until it is absent or repeats (a server bug guard)."""
        after: str | None = None
        while True:
            query = dict(params)
            if after is not None:
                query["after"] = after
            page = self.get(path, endpoint=endpoint, params=query)
            yield list(page.get("results", []))
            nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not nxt or nxt == after:
                return
            after = str(nxt)
