"""One HTTP client for every API connector: auth, pacing, budgets, retries, counters.

Vendors differ in how they say "slow down" or "stop for today", so each connector passes
a ``classify`` function that turns a response into a :class:`Verdict`; everything else
(pacing under a rolling window, a cap on the share of the daily budget one run may use,
bounded retries with tenacity, per-endpoint counters for ``hub_runs``, token redaction,
and the guards against hostile servers in :class:`HttpLimits`) is the same for all of them
and lives here.

Sleeps go through :data:`clock` so tests can patch time without patching HTTP.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from connectors.http_guards import (
    ResponseTooLarge,
    deadline_scope,
    guarded_session,
    human_seconds,
    is_credential_header,
    origin,
    public_url,
    read_capped,
    retry_after_s,
    strip_credential_params,
)
from models.errors import AuthError, QuotaExhausted, RetriesExhausted, SourceError

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class HttpLimits:
    """How long and how much one request may take, whatever the server does.

    ``deadline_s`` bounds one attempt from connect to the last body byte (``timeout_s`` of
    :class:`ApiClient` only bounds each wait for the next byte, which a server trickling
    one byte at a time never exceeds). An attempt that times out either way is tried at
    most ``timeout_attempts`` times, because each one costs up to a deadline. A request
    sleeps at most ``max_wait_s`` in total on the server's word (``Retry-After``, reset
    headers); a server asking for more stops the run like a spent quota, state saved,
    instead of sleeping for hours. A body past ``max_response_bytes`` is abandoned.
    """

    deadline_s: float = 120.0
    timeout_attempts: int = 3
    max_wait_s: float = 900.0
    max_response_bytes: int = 64 * 1024 * 1024
    max_redirects: int = 5


DEFAULT_LIMITS = HttpLimits()


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


class WaitRefused(Exception):
    """The pacer would have to hold a request back longer than it may wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"wait of {seconds} s refused")
        self.seconds = seconds


class _TimedOut(Exception):
    """One attempt got no complete answer in time (idle timeout or deadline)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # the stats label: ReadTimeout, ConnectTimeout, DeadlineExceeded


class _RedirectRefused(Exception):
    def __init__(self, target: str, why: str) -> None:
        super().__init__(why)
        self.target = target
        self.why = why


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
        self.max_wait_s = DEFAULT_LIMITS.max_wait_s  # the ApiClient using it sets its own
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
                if wait > self.max_wait_s:  # a server said "0 left, reset in a day"
                    raise WaitRefused(wait)
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
            self.pause(reset_s)

    def pause(self, seconds: float) -> None:
        """Hold every request back ``seconds`` (a NaN or negative pause is ignored; an
        infinite one makes the next :meth:`acquire` refuse to wait)."""
        if math.isnan(seconds) or seconds <= 0:
            return
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
    current credentials; ``refresh_auth()`` (optional) renews them after a 401. ``limits``
    (default :data:`DEFAULT_LIMITS`) bounds what a hostile or broken server can cost.

    Redirects are followed here, not by requests: within the request's origin (scheme,
    host and port) as usual; to another origin without any credential (the auth headers,
    any header holding a secret, cookies, credential query parameters), and never with a
    request body, which may hold one (an OAuth form).
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
        limits: HttpLimits | None = None,
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
        self.limits = limits or DEFAULT_LIMITS
        self.session = guarded_session()

    @property
    def limits(self) -> HttpLimits:
        return self._limits

    @limits.setter
    def limits(self, value: HttpLimits) -> None:
        self._limits = value
        if self.limiter is not None:
            self.limiter.max_wait_s = value.max_wait_s

    def add_secret(self, value: str | None) -> None:
        if value:
            self._secrets.append(value)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", r"\1***", text)

    def _warn(self, message: str) -> None:
        message = self.redact(message)
        if message not in self.stats.warnings:
            log.warning(message)
            self.stats.warnings.append(message)

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
        tries = timeouts = 0
        waited = 0.0  # slept on the server's word or backing off, for this request

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1

        def wait(state: RetryCallState) -> float:
            nonlocal waited
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetryableHTTPError) and exc.verdict.delay_s is not None:
                delay = exc.verdict.delay_s
            else:
                delay = self._backoff(state.attempt_number)
            waited += delay
            return delay

        def attempt() -> requests.Response:
            nonlocal refreshed, tries, timeouts
            tries += 1
            if self.budget is not None:
                self.budget.check()
            try:
                settle = self.limiter.acquire(self.stats) if self.limiter is not None else None
            except WaitRefused as exc:
                raise self._wait_refused(label, exc.seconds, None, None, 0.0) from None
            try:
                response, elsewhere = self._exchange(
                    method, url, params=params, json=json, data=data, headers=headers
                )
            except _TimedOut as exc:
                timeouts += 1
                self.stats.record(label, exc.kind)
                if timeouts >= self.limits.timeout_attempts:
                    raise RetriesExhausted(
                        f"{self.vendor}: {label} timed out {timeouts} times ({exc}); the "
                        "server answers too slowly or stalls mid-answer; the run stopped "
                        "with its state saved, so rerunning resumes"
                    ) from None
                raise RetryableHTTPError(
                    Verdict(Action.RETRY, reason=f"{label} timed out ({exc})"), None
                ) from None
            except ResponseTooLarge as exc:
                self.stats.record(label, "TooLarge")
                size = f"{exc.declared:,} bytes" if exc.declared else "more"
                raise SourceError(
                    f"{self.vendor}: {label} answered with a body of {size}, past this "
                    f"client's cap of {exc.limit:,} bytes (HttpLimits.max_response_bytes); "
                    "it was not read. A page that large is not expected: lower the page "
                    "size option, or raise the cap if the vendor really sends it"
                ) from None
            except _RedirectRefused as exc:
                self.stats.record(label, "Redirect")
                raise SourceError(
                    f"{self.vendor}: {label} was redirected to {exc.target}, {exc.why}; "
                    "not followed. If the vendor moved its API there, set the source's "
                    "base URL to that host"
                ) from None
            except requests.RequestException as exc:  # connection, chunked encoding
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
            where = f" (after a redirect to {elsewhere}, where no credential is sent)"
            where = where if elsewhere else ""
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
                delay = self._retry_delay(verdict, response, label, tries)
                if waited + delay > self.limits.max_wait_s:
                    raise self._wait_refused(
                        label, delay, response, retry_after_s(response)[0], waited
                    )
                raise RetryableHTTPError(
                    Verdict(Action.RETRY, delay, verdict.reason), response.status_code
                )
            if verdict.action is Action.REFRESH_AUTH:
                if self.refresh_auth is None or refreshed or elsewhere:
                    raise AuthError(
                        f"{self.vendor}: credentials rejected on {label}{where} "
                        f"(HTTP {response.status_code}: {self.redact(verdict.reason)}); "
                        "check the token in hub.yml's credentials"
                    )
                refreshed = True
                self.refresh_auth()
                raise RetryableHTTPError(Verdict(Action.RETRY, 0.0, "token refreshed"), 401)
            if verdict.action is Action.STOP:
                raise QuotaExhausted(f"{self.vendor}: {self.redact(verdict.reason)}")
            raise SourceError(
                f"{self.vendor}: {label} failed with HTTP {response.status_code}{where}: "
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

    def _backoff(self, attempt_number: int) -> float:
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt_number - 1))

    def _retry_delay(
        self, verdict: Verdict, response: requests.Response, label: str, tries: int
    ) -> float:
        """The connector's delay, or a back-off; never less than a readable Retry-After
        asks for (waiting less only earns another refusal)."""
        delay = verdict.delay_s
        if delay is None or math.isnan(delay) or delay < 0:
            delay = self._backoff(tries)
        raw, asked = retry_after_s(response)
        if raw is not None and asked is None:
            self._warn(
                f"{self.vendor}: {label} sent an unreadable Retry-After {raw[:40]!r}; "
                "backing off instead"
            )
            return max(delay, self._backoff(tries))
        return max(delay, asked) if asked is not None else delay

    def _wait_refused(
        self,
        label: str,
        delay: float,
        response: requests.Response | None,
        raw: str | None,
        waited: float,
    ) -> QuotaExhausted:
        """A spent-quota stop for a server that asks for a longer wait than we allow."""
        if response is None:
            asked = f"the server's rate-limit headers hold {label} back for {human_seconds(delay)}"
        else:
            said = f"Retry-After: {raw[:40]}" if raw is not None else verdict_source(response)
            asked = f"{label} answered HTTP {response.status_code} asking to wait " + (
                f"{human_seconds(delay)} ({said})"
            )
        already = f" after {human_seconds(waited)} of waiting" if waited else ""
        try:
            resume = datetime.now(UTC) + timedelta(seconds=delay)
            when = f"{resume:%Y-%m-%d %H:%M} UTC"
            rerun = f"rerun after {when}"
        except (OverflowError, ValueError):  # forever, or past the year 9999
            when, rerun = "the vendor's say-so", "rerun later"
        message = (
            f"{self.vendor}: {asked}{already}, longer than the "
            f"{human_seconds(self.limits.max_wait_s)} this client waits for one request "
            f"(HttpLimits.max_wait_s); the run stopped with its state saved: {rerun}"
        )
        self._warn(message)
        return QuotaExhausted(self.redact(message), resume_after=when)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
    ) -> tuple[requests.Response, str | None]:
        """One attempt within the deadline: send, follow redirects, read the body under
        the size cap. Returns the response and the origin it came from when a redirect
        left the request's own (None when it did not)."""
        auth = dict(self.auth_headers())
        sent = {**(headers or {}), **auth}
        home = origin(url)
        session, elsewhere = self.session, None
        foreign: list[requests.Session] = []
        limits = self.limits
        with deadline_scope(limits.deadline_s) as deadline:
            try:
                for _ in range(limits.max_redirects + 1):
                    response = session.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        data=data,
                        headers=sent,
                        timeout=(min(self.timeout_s, deadline.remaining()), self.timeout_s),
                        stream=True,
                        allow_redirects=False,
                    )
                    target = session.get_redirect_target(response)
                    if target is None:
                        read_capped(response, limits.max_response_bytes)
                        return response, elsewhere
                    response.close()  # its body is of no use; the connection goes
                    next_url = urljoin(response.url, target)
                    if origin(next_url)[0] not in ("http", "https"):
                        raise _RedirectRefused(public_url(next_url), "not an HTTP(S) URL")
                    if response.status_code not in (307, 308):  # what requests does
                        json = data = None
                        sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
                        if response.status_code != 301 or method == "POST":
                            method = "GET" if method != "HEAD" else method
                    params = None  # the Location carries the query now
                    if elsewhere is not None or origin(next_url) != home:
                        if json is not None or data is not None:
                            raise _RedirectRefused(
                                public_url(next_url),
                                "another origin (scheme, host or port), and the request body may hold a credential",
                            )
                        next_url = self._foreign_url(next_url)
                        sent = {
                            k: v
                            for k, v in sent.items()
                            if not is_credential_header(k, v, auth, self._secrets)
                        }
                        if elsewhere is None:  # cookies and pooled connections stay home
                            session = guarded_session()
                            foreign.append(session)
                        elsewhere = public_url(next_url)
                        self._warn(
                            f"{self.vendor}: a request was redirected to {elsewhere}; it went "
                            "on without credentials"
                        )
                    url = next_url
                raise _RedirectRefused(
                    public_url(url), f"past {limits.max_redirects} redirects in a row"
                )
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if deadline.expired:
                    raise _TimedOut(
                        "DeadlineExceeded",
                        f"no complete answer within {human_seconds(limits.deadline_s)}",
                    ) from None
                if _is_timeout(exc):
                    idle = human_seconds(self.timeout_s)
                    if _is_connect(exc):
                        raise _TimedOut("ConnectTimeout", f"no connection within {idle}") from None
                    raise _TimedOut("ReadTimeout", f"no byte for {idle}") from None
                if isinstance(exc, requests.RequestException):
                    raise
                raise requests.ConnectionError(type(exc).__name__) from None
            finally:
                for extra in foreign:
                    extra.close()

    def _foreign_url(self, url: str) -> str:
        stripped, removed = strip_credential_params(url, self._secrets)
        if removed:
            self._warn(
                f"{self.vendor}: a redirect to {public_url(url)} carried "
                f"{', '.join(sorted(set(removed)))} in its query string; removed"
            )
        return stripped

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, expect_json=True, **kwargs).hub_payload  # type: ignore[attr-defined]

    def post_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, expect_json=True, **kwargs).hub_payload  # type: ignore[attr-defined]


def verdict_source(response: requests.Response) -> str:
    """Which rate-limit headers a response carried, for a message (names, no values)."""
    names = [n for n in response.headers if "ratelimit" in n.lower() or "reset" in n.lower()]
    return ", ".join(names[:3]) or "the connector's reading of the response"


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
        return True
    return any(isinstance(arg, urllib3.exceptions.TimeoutError) for arg in exc.args)


def _is_connect(exc: BaseException) -> bool:
    return isinstance(exc, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError)


def header_int(response: requests.Response, name: str) -> int | None:
    """A header as an integer; None when absent or not a finite number (``inf``, ``nan``)."""
    value = response.headers.get(name)
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return int(number) if number is not None and math.isfinite(number) else None
