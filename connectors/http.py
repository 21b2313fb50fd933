"""One HTTP client for every API connector: auth, pacing, budgets, retries, counters.

Vendors differ in how they say "slow down" or "stop for today", so each connector passes
a ``classify`` function that turns a response into a :class:`Verdict`; everything else
(pacing under a rolling window, a cap on the share of the daily budget one run may use,
bounded retries with tenacity, per-endpoint counters for ``hub_runs``, token redaction)
is the same for all of them and lives here.

Sleeps go through :data:`clock` so tests can patch time without patching HTTP.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from models.errors import AuthError, QuotaExhausted, RetriesExhausted, SourceError


class Clock:
    """Indirection over time so tests patch sleeps, never the network.

    ``virtual = True`` makes :meth:`sleep` advance :meth:`now` instead of waiting, so a test
    runs pacing and back-off logic at full speed without busy-waiting in real time.
    """

    def __init__(self) -> None:
        self.virtual = False
        self.offset_s = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset_s

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.virtual:
            self.offset_s += seconds
        else:
            time.sleep(seconds)


clock = Clock()


class Action(Enum):
    OK = "ok"
    RETRY = "retry"  # transient: wait `delay_s` (or back off) and try again
    REFRESH_AUTH = "refresh_auth"  # token expired: refresh once, then retry
    STOP = "stop"  # budget gone: stop the run cleanly, state saved
    FAIL = "fail"  # permanent: the request is wrong; retrying will not help


@dataclass(frozen=True)
class Verdict:
    action: Action
    delay_s: float | None = None
    reason: str = ""


class RetryableHTTPError(Exception):
    def __init__(self, verdict: Verdict, status: int | None) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict
        self.status = status


@dataclass
class RequestStats:
    """What one run asked of one API; lands in ``hub_runs``."""

    requests: Counter[str] = field(default_factory=Counter)  # "GET /crm/v3/objects/deals 200"
    retries: int = 0
    throttled: int = 0  # responses with HTTP 429
    waited_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def record(self, endpoint: str, status: int | str) -> None:
        self.requests[f"{endpoint} {status}"] += 1

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def by_endpoint(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for key, n in self.requests.items():
            out[key.rsplit(" ", 1)[0]] += n
        return dict(out)


class RollingWindowLimiter:
    """Keeps at most ``max_requests`` in any ``window_s`` seconds (a client-side pacer).

    A request holds its place in the window from the moment it is sent until ``window_s``
    after its answer arrived (:meth:`acquire` returns the ``settle`` callback that moves
    its stamp). Servers stamp a request when they receive or answer it, both later than
    our send time: counting from the send let a slow request (a 500-row page) leave our
    window before it left the server's, so the server said "0 remaining" to a client
    that believed it had room. The server's own remaining/reset headers can tighten the
    pacer further through :meth:`observe`.
    """

    def __init__(self, max_requests: int, window_s: float) -> None:
        self.max_requests = max_requests
        self.window_s = window_s
        self._stamps: list[list[float]] = []  # one mutable [time] per request in the window
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        self._stamps = [s for s in self._stamps if now - s[0] < self.window_s]

    def acquire(self, stats: RequestStats | None = None) -> Callable[[], None]:
        """Wait for a free place, take it, and return ``settle``: call it when the answer
        (or the failure) arrives."""
        with self._lock:
            while True:
                now = clock.now()
                self._expire(now)
                wait = max(0.0, self._blocked_until - now)
                if len(self._stamps) >= self.max_requests:
                    oldest = min(s[0] for s in self._stamps)
                    wait = max(wait, self.window_s - (now - oldest))
                if wait <= 0:
                    stamp = [now]
                    self._stamps.append(stamp)
                    return lambda: self._settle(stamp)
                if stats is not None:
                    stats.waited_s += wait
                clock.sleep(wait)

    def _settle(self, stamp: list[float]) -> None:
        with self._lock:
            stamp[0] = max(stamp[0], clock.now())

    def window_full(self) -> bool:
        """Whether this client has already sent ``max_requests`` within the window: the
        next :meth:`acquire` waits for the oldest to leave it anyway."""
        with self._lock:
            self._expire(clock.now())
            return len(self._stamps) >= self.max_requests

    def observe(self, remaining: int | None, reset_s: float | None) -> None:
        """The server says ``remaining`` requests are left for ``reset_s`` seconds."""
        if remaining is not None and reset_s is not None and remaining <= 0:
            with self._lock:
                self._blocked_until = max(self._blocked_until, clock.now() + reset_s)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, clock.now() + seconds)


class DailyBudget:
    """Caps the share of the vendor's daily allowance one run may use.

    Vendors report the allowance in headers (``limit`` and ``remaining``); the first
    observation fixes this run's ceiling at ``max_share * limit``.
    """

    def __init__(self, max_share: float, *, vendor: str) -> None:
        self.max_share = max_share
        self.vendor = vendor
        self.limit: int | None = None
        self.remaining: int | None = None
        self.used_this_run = 0

    def observe(self, limit: int | None, remaining: int | None) -> None:
        if limit:
            self.limit = limit
        if remaining is not None:
            self.remaining = remaining

    def count(self, cost: int = 1) -> None:
        self.used_this_run += cost

    def check(self) -> None:
        if self.remaining is not None and self.remaining <= 0:
            raise QuotaExhausted(
                f"{self.vendor}: the daily API allowance is used up; state is saved, "
                "run 'hub sync' again after the vendor's daily reset",
                resume_after="daily reset",
            )
        if self.limit and self.used_this_run >= self.max_share * self.limit:
            raise QuotaExhausted(
                f"{self.vendor}: this run used {self.used_this_run} requests, its cap of "
                f"{self.max_share:.0%} of the daily {self.limit}; state is saved, run "
                "'hub sync' again to continue or raise options.max_daily_share",
                resume_after="next run",
            )


AuthHeaders = Callable[[], Mapping[str, str]]


class ApiClient:
    """A requests session with the project's rules for talking to a CRM API.

    ``classify(response)`` decides what a response means; ``auth_headers()`` yields the
    current credentials; ``refresh_auth()`` (optional) renews them after a 401.
    """

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        classify: Callable[[requests.Response], Verdict],
        auth_headers: AuthHeaders,
        refresh_auth: Callable[[], None] | None = None,
        limiter: RollingWindowLimiter | None = None,
        budget: DailyBudget | None = None,
        observe: Callable[[requests.Response], None] | None = None,
        stats: RequestStats | None = None,
        secrets: Iterable[str] = (),
        max_attempts: int = 8,
        timeout_s: float = 60.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.vendor = vendor
        self.classify = classify
        self.auth_headers = auth_headers
        self.refresh_auth = refresh_auth
        self.limiter = limiter
        self.budget = budget
        self.observe = observe
        self.stats = stats or RequestStats()
        self._secrets = [s for s in secrets if s]
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.session = requests.Session()

    def add_secret(self, value: str | None) -> None:
        if value:
            self._secrets.append(value)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", r"\1***", text)

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        cost: int = 1,
        expect_json: bool = False,
    ) -> requests.Response:
        """Send one logical request, retrying what is retryable; return the final response.

        ``endpoint`` is the stats label (a path template such as ``/v1/deals/{id}/flow``);
        it also names the endpoint in errors, without query strings or tokens. With
        ``expect_json`` a body that is not JSON (truncated, an HTML error page) is retried,
        and the decoded body is left on ``response.hub_payload``.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        label = f"{method} {endpoint or path.split('?')[0]}"
        refreshed = False

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetryableHTTPError) and exc.verdict.delay_s is not None:
                return exc.verdict.delay_s
            return min(self.backoff_max_s, self.backoff_base_s * 2 ** (state.attempt_number - 1))

        def attempt() -> requests.Response:
            nonlocal refreshed
            if self.budget is not None:
                self.budget.check()
            settle = self.limiter.acquire(self.stats) if self.limiter is not None else None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers={**(headers or {}), **self.auth_headers()},
                    timeout=self.timeout_s,
                )
            except requests.RequestException as exc:  # connection, timeout, chunked encoding
                self.stats.record(label, type(exc).__name__)
                raise RetryableHTTPError(
                    Verdict(Action.RETRY, reason=f"{type(exc).__name__} on {label}"), None
                ) from None
            finally:
                if settle is not None:
                    settle()  # the answer is in: the request's place in the window counts from now
            self.stats.record(label, response.status_code)
            if response.status_code == 429:
                self.stats.throttled += 1
            if self.budget is not None:
                self.budget.count(cost)
            if self.observe is not None:
                self.observe(response)
            verdict = self.classify(response)
            if verdict.action is Action.OK:
                if expect_json:
                    try:
                        response.hub_payload = response.json()  # type: ignore[attr-defined]
                    except ValueError:
                        raise RetryableHTTPError(
                            Verdict(Action.RETRY, reason=f"unreadable JSON body from {label}"),
                            response.status_code,
                        ) from None
                return response
            if verdict.action is Action.RETRY:
                raise RetryableHTTPError(verdict, response.status_code)
            if verdict.action is Action.REFRESH_AUTH:
                if self.refresh_auth is None or refreshed:
                    raise AuthError(
                        f"{self.vendor}: credentials rejected on {label} "
                        f"(HTTP {response.status_code}: {self.redact(verdict.reason)}); "
                        "check the token in hub.yml's credentials"
                    )
                refreshed = True
                self.refresh_auth()
                raise RetryableHTTPError(Verdict(Action.RETRY, 0.0, "token refreshed"), 401)
            if verdict.action is Action.STOP:
                raise QuotaExhausted(f"{self.vendor}: {self.redact(verdict.reason)}")
            raise SourceError(
                f"{self.vendor}: {label} failed with HTTP {response.status_code}: "
                f"{self.redact(verdict.reason)}"
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            sleep=clock.sleep,
            retry=retry_if_exception_type(RetryableHTTPError),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except RetryableHTTPError as exc:
            raise RetriesExhausted(
                f"{self.vendor}: {label} still failing after {self.max_attempts} attempts "
                f"({self.redact(str(exc))}); the run stopped with its state saved, "
                "so rerunning resumes"
            ) from None

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, expect_json=True, **kwargs).hub_payload  # type: ignore[attr-defined]

    def post_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, expect_json=True, **kwargs).hub_payload  # type: ignore[attr-defined]


def header_int(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None
