"""Transport guards of :class:`connectors.http.ApiClient` against servers that misbehave.

requests only bounds each socket operation: a server that sends one byte every 20 s, or
a redirect to some other host, or a 10 GB body, or ``Retry-After: 100000``, is followed
faithfully. This module holds the pieces the client uses to refuse that:

* :class:`Deadline`: a real-time end for one attempt (connect, send, headers and body).
  A single watchdog thread shuts down the sockets of an attempt whose deadline passed, so
  a read blocked on a trickling server returns at once instead of waiting for the next
  byte; :func:`guarded_session` is a ``requests.Session`` whose connections register
  their sockets with the deadline of the attempt running in the thread.
* :func:`retry_after_s`: ``Retry-After`` read robustly (delay-seconds, HTTP-date, and the
  garbage some servers send: ``inf``, ``nan``, negative numbers).
* :func:`origin`, :func:`strip_credential_params`: what "another host" means for a
  redirect, and the query parameters that never follow one there.
* :func:`read_capped`: a body read in chunks and abandoned past a size cap.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# ----- deadlines --------------------------------------------------------------------------------


class Deadline:
    """The moment one attempt must be over, and the sockets it uses until then."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.closed:
                return
            self._sockets.append(sock)
            late = self.expired
        if late:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (a shutdown, unlike close, does that on every
    platform). The base-class call works on a TLS socket's descriptor too."""
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every deadline of the process, earliest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="http-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is deadline:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].closed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_watchdog = _Watchdog()
_current = threading.local()


@contextmanager
def deadline_scope(seconds: float) -> Iterator[Deadline]:
    """Run one attempt under a deadline of ``seconds`` from now (real time: the network
    does not follow a test's virtual clock)."""
    deadline = Deadline(seconds)
    previous = getattr(_current, "deadline", None)
    _current.deadline = deadline
    _watchdog.add(deadline)
    try:
        yield deadline
    finally:
        deadline.close()
        _current.deadline = previous


def _watch_current(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(sock)  # before TLS: a handshake that trickles is covered too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _watch_current(self.sock)  # a kept-alive connection from the pool
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _watch_current(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def guarded_session() -> requests.Session:
    """A session whose sockets a :func:`deadline_scope` in the calling thread can cut."""
    session = requests.Session()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# ----- Retry-After ------------------------------------------------------------------------------


def retry_after_s(response: requests.Response) -> tuple[str | None, float | None]:
    """(the raw ``Retry-After`` value, the seconds it asks for).

    RFC 9110 allows whole seconds or an HTTP-date; a date is measured from the response's
    own ``Date`` (both come from the server's clock) or, without one, from ours. A number
    with a fraction is taken as meant. ``inf`` (or a number too large to be one) asks for
    forever and comes back as ``math.inf``; ``nan``, negative numbers and anything
    unreadable come back as ``None``: the caller then backs off as if none was sent.
    """
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None, None
    text = raw.strip()
    try:
        seconds = float(text)
    except ValueError:
        return raw, _seconds_until(text, response.headers.get("Date"))
    if math.isnan(seconds) or seconds < 0:
        return raw, None
    return raw, seconds


def _seconds_until(http_date: str, server_now: str | None) -> float | None:
    when = _http_date(http_date)
    if when is None:
        return None
    now = _http_date(server_now) if server_now else None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _http_date(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_seconds(seconds: float) -> str:
    """``27 h 47 min``, ``15 min``, ``2.5 s``; ``forever`` for infinity."""
    if math.isinf(seconds):
        return "forever"
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds >= 48 * 3600:
        return f"{seconds / 86400:,.1f} days"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


# ----- redirects --------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that carry a credential in the APIs the hub talks to or their peers
# (Pipedrive's api_token, HubSpot's retired hapikey, OAuth's access_token...).
CREDENTIAL_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "api_token",
        "apikey",
        "assertion",
        "client_secret",
        "code",
        "hapikey",
        "key",
        "password",
        "refresh_token",
        "session_id",
        "sid",
        "token",
    }
)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def strip_credential_params(url: str, secrets: Iterable[str]) -> tuple[str, list[str]]:
    """``url`` without its credential query parameters (by name, or by a value holding a
    known secret), and the names removed; the fragment goes too."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    known = [s for s in secrets if s]
    kept, removed = [], []
    for name, value in pairs:
        if name.lower() in CREDENTIAL_PARAMS or any(s in value or s in name for s in known):
            removed.append(name)
        else:
            kept.append((name, value))
    if not removed:
        return urlunsplit(parts._replace(fragment="")), []
    return urlunsplit(parts._replace(query=urlencode(kept), fragment="")), removed


_TOKENISH = re.compile(r"(?i)^(authorization|cookie|x-api-token|x-api-key|api-key|apikey)$")


def is_credential_header(
    name: str, value: str, auth_names: Iterable[str], secrets: Iterable[str]
) -> bool:
    """Whether a request header must not travel to another host: one the connector's auth
    produced, a well-known credential header, or one whose value holds a known secret."""
    lowered = name.lower()
    return (
        lowered in {n.lower() for n in auth_names}
        or bool(_TOKENISH.match(name))
        or any(s and s in value for s in secrets)
    )


def public_url(url: str) -> str:
    """A URL fit for a message: scheme, host, port and path, no query string."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


# ----- bodies -----------------------------------------------------------------------------------

CHUNK_BYTES = 64 * 1024


class ResponseTooLarge(Exception):
    def __init__(self, limit: int, declared: int | None) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit
        self.declared = declared


def read_capped(response: requests.Response, limit: int) -> None:
    """Read a streamed body into ``response.content``, or close the connection and raise
    :class:`ResponseTooLarge` as soon as it passes ``limit`` bytes (decoded: a small
    gzip that inflates to gigabytes is stopped too)."""
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise ResponseTooLarge(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            response.close()
            raise ResponseTooLarge(limit, None)
        chunks.append(chunk)
    response._content = b"".join(chunks)  # what requests itself does when not streaming
