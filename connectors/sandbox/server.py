"""The shared machinery of every CRM sandbox: real HTTP on 127.0.0.1, counters, faults.

A sandbox is a stateful fake of one CRM's API. Each kind subclasses
:class:`SandboxServer`, registers its vendor routes with :meth:`route`, and says how its
vendor answers a throttled, failing or unauthorised request. This base serves it over
real HTTP/1.1 (keep-alive, so connection reuse is exercised like the real thing) in a
background thread, and adds the three control endpoints every sandbox has:

* ``GET  /_sandbox/stats``  requests per endpoint and status code, as JSON (``?timeline=1``
  adds answers per tenth of a second)
* ``POST /_sandbox/faults`` fault knobs (see :class:`FaultPlan`)
* ``POST /_sandbox/mutate`` realistic changes; the answer says what changed

Benchmark knob ``page_cache`` (off by default): list endpoints of a kind may then keep the
filtered, sorted rows of a listing between its pages (see :meth:`cached_rows`), so paging
a 100,000-record world costs O(page), not O(world), per request. The cache is dropped by
any request that may write (not GET, not a search or batch read) and by ``/_sandbox/mutate``;
changes made by calling the sandbox's Python methods directly bypass it, hence off by default.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from connectors.sandbox.spec import SandboxSpec

log = logging.getLogger(__name__)


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class SandboxResponse:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":"), default=str).encode()


@dataclass
class FaultPlan:
    """Fault knobs, as posted to ``/_sandbox/faults``; rates are 0-1 per request."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_slow: float = 0.0
    slow_s: float = 1.0
    rate_truncate: float = 0.0
    rate_drop: float = 0.0
    expire_token_after: int | None = None  # requests until the current token expires
    quota_exhausted: bool = False  # the daily allowance is gone
    path_pattern: str | None = None  # only requests whose path matches
    seed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultPlan:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault knobs {unknown}; valid: {sorted(known)}")
        return cls(**data)


Handler = Callable[[SandboxRequest], SandboxResponse]


class SandboxServer:
    """Base class; subclasses set ``kind`` and register routes in ``__init__``."""

    kind: ClassVar[str] = "base"

    def __init__(self, spec: SandboxSpec | None = None, /, **knobs: Any) -> None:
        """``spec``, with any of its fields overridden by keyword (``FakeX(n_deals=50)``)."""
        self.spec = replace(spec or SandboxSpec(), **knobs)
        self.port = self.spec.port
        self.page_cache = self.spec.page_cache
        self._page_cache: dict[Any, Any] = {}
        self.rate_limits = self.spec.rate_limits
        self.seed = self.spec.seed
        self.faults = FaultPlan()
        self.stats: Counter[str] = Counter()
        # first and last answer time (epoch seconds) per stats key, and answers per tenth of
        # a second: rate benchmarks read these rather than polling the counters
        self.stat_spans: dict[str, list[float]] = {}
        self.stat_timeline: dict[str, Counter[int]] = {}
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self._rng = random.Random(self.seed)
        self._requests_since_token = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.time_offset_s = 0.0  # tests can move the sandbox's clock forward

    # ----- vendor hooks ---------------------------------------------------------------
    def throttled_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(429, {"error": "too many requests"})

    def server_error_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(503, {"error": "service unavailable"})

    def quota_exhausted_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(429, {"error": "daily limit reached"})

    def error_response(self, request: SandboxRequest, status: int, message: str) -> SandboxResponse:
        """The vendor's error body for a request the sandbox cannot serve: an unsupported
        route (404) or a sandbox bug (500). Kinds override it so that any client, not only
        ours, sees its vendor's error shape and never a Python traceback."""
        return SandboxResponse(status, {"error": message})

    def check_auth(self, request: SandboxRequest) -> SandboxResponse | None:
        """Return an error response when the request's credentials are not accepted."""
        return None

    def expire_tokens(self) -> None:
        """Invalidate the access tokens issued so far (a fault knob)."""

    def rate_limit(self, request: SandboxRequest) -> SandboxResponse | None:
        """Apply the vendor's real limits; return the 429 (or 403) when over them."""
        return None

    def decorate(self, request: SandboxRequest, response: SandboxResponse) -> None:
        """Add headers the vendor puts on every response (rate-limit counters...)."""

    def mutate(self, spec: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{self.kind} sandbox has no mutate")

    def credentials(self) -> dict[str, str]:
        """What to put in hub.yml's credentials to reach this sandbox."""
        return {}

    def source_options(self) -> dict[str, Any]:
        """The hub.yml ``options`` that point a source of this kind at this running sandbox."""
        return {}

    def source_config(self, name: str) -> dict[str, Any]:
        """A hub.yml ``sources`` entry that reaches this running sandbox, with the
        credentials this instance accepts (no token is written down beside the connector)."""
        return {
            "name": name,
            "kind": self.kind,
            "credentials": self.credentials(),
            "options": self.source_options(),
        }

    def counts(self) -> dict[str, int]:
        """Record counts that the page-size minimum depends on (see :meth:`page_minimum`)."""
        raise NotImplementedError(f"{self.kind} sandbox has no counts")

    @classmethod
    def page_minimum(cls, counts: dict[str, int]) -> int:
        """The fewest requests the vendor's page sizes allow for a full sync of ``counts``:
        the yardstick of the connectors' cost tests and of the benchmarks."""
        raise NotImplementedError(f"{cls.kind} sandbox has no page minimum")

    # ----- helpers for subclasses -----------------------------------------------------
    def route(
        self, method: str, pattern: str, handler: Handler, *, label: str | None = None
    ) -> None:
        """Register ``handler`` for ``method`` and a path pattern like ``/v1/deals/{id}/flow``."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), label or pattern, handler))

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.time_offset_s, tz=UTC)

    def cached_rows(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()`` once per ``key`` while nothing was written (``page_cache`` on), else
        every time. Callers pass a key naming the listing without its cursor."""
        if not self.page_cache:
            return build()
        if key not in self._page_cache:
            self._page_cache[key] = build()
        return self._page_cache[key]

    def _may_write(self, request: SandboxRequest) -> bool:
        if request.method == "GET":
            return False
        return not (request.method == "POST" and request.path.endswith(("/search", "/batch/read")))

    def chance(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    # ----- lifecycle -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> str:
        server = self

        class _Handler(_RequestHandler):
            sandbox = server

        self._httpd = _Server(("127.0.0.1", self.port), _Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        if self._httpd is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- dispatch ----------------------------------------------------------------------
    def stats_json(self, timeline: bool = False) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {
                "requests": dict(self.stats),
                "total": sum(self.stats.values()),
                "spans": {k: list(v) for k, v in self.stat_spans.items()},
            }
            if timeline:  # {key: {tenth of a second since the epoch: answers}}
                out["timeline"] = {k: dict(v) for k, v in self.stat_timeline.items()}
            return out

    def reset_stats(self) -> None:
        with self.lock:
            self.stats.clear()
            self.stat_spans.clear()
            self.stat_timeline.clear()

    def _control(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path == "/_sandbox/stats":
            if request.method == "DELETE":
                self.reset_stats()
                return SandboxResponse(204)
            return SandboxResponse(200, self.stats_json(timeline=request.arg("timeline") == "1"))
        if request.path == "/_sandbox/faults" and request.method == "POST":
            try:
                plan = FaultPlan.from_json(request.json() or {})
            except (ValueError, TypeError) as exc:
                return SandboxResponse(400, {"error": str(exc)})
            with self.lock:
                self.faults = plan
                self._rng = random.Random(plan.seed)
                self._requests_since_token = 0
            return SandboxResponse(200, asdict(plan))
        if request.path == "/_sandbox/mutate" and request.method == "POST":
            with self.lock:
                self._page_cache.clear()
                return SandboxResponse(200, self.mutate(request.json() or {}))
        return None

    def dispatch(self, request: SandboxRequest) -> tuple[SandboxResponse, str]:
        """Answer one request; returns the response and a fault marker for the transport
        ("" or one of "drop", "truncate")."""
        control = self._control(request)
        if control is not None:
            return control, ""
        label, handler, match = self._route_for(request)
        with self.lock:
            transport_fault, response, delay_s = self._faulted(request)
        if delay_s:
            time.sleep(delay_s)  # outside the lock: a slow response must not freeze the others
        if response is None:
            response = self.check_auth(request)
        if response is None and self.rate_limits:
            with self.lock:
                response = self.rate_limit(request)
        if response is None:
            if handler is None or match is None:
                response = self.not_found(request)
            else:
                request.params = match.groupdict()
                with self.lock:
                    if self._page_cache and self._may_write(request):
                        self._page_cache.clear()
                    response = self._handled(handler, request)
        with self.lock:
            self.decorate(request, response)
            key = f"{request.method} {label} {response.status}"
            self.stats[key] += 1
            answered = time.time()
            self.stat_spans.setdefault(key, [answered, answered])[1] = answered
            self.stat_timeline.setdefault(key, Counter())[int(answered * 10)] += 1
        return response, transport_fault

    def _route_for(
        self, request: SandboxRequest
    ) -> tuple[str, Handler | None, re.Match[str] | None]:
        """(stats label, handler, path match) of the first route that fits, if any."""
        for method, regex, label, handler in self._routes:
            match = regex.match(request.path)
            if match and method == request.method:
                return label, handler, match
        return request.path, None, None

    def _handled(self, handler: Handler, request: SandboxRequest) -> SandboxResponse:
        """``handler``'s answer; a sandbox bug becomes a 500 in the vendor's shape, and its
        traceback goes to the sandbox's log, never to the client."""
        try:
            return handler(request)
        except Exception:
            log.exception("%s sandbox failed on %s %s", self.kind, request.method, request.path)
            return self.error_response(request, 500, "internal error")

    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(request, 404, f"no route for {request.method} {request.path}")

    def _faulted(self, request: SandboxRequest) -> tuple[str, SandboxResponse | None, float]:
        """(transport fault, fault response, delay before answering) for one request."""
        plan = self.faults
        if plan.path_pattern and not re.search(plan.path_pattern, request.path):
            return "", None, 0.0
        if plan.expire_token_after is not None:
            self._requests_since_token += 1
            if self._requests_since_token > plan.expire_token_after:
                self._requests_since_token = 0
                self.expire_tokens()
        if plan.quota_exhausted:
            return "", self.quota_exhausted_response(request), 0.0
        delay = plan.slow_s if self.chance(plan.rate_slow) else 0.0
        if self.chance(plan.rate_drop):
            return "drop", SandboxResponse(0), delay
        if self.chance(plan.rate_429):
            return "", self.throttled_response(request), delay
        if self.chance(plan.rate_5xx):
            return "", self.server_error_response(request), delay
        if self.chance(plan.rate_truncate):
            return "truncate", None, delay
        return "", None, delay


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _RequestHandler(BaseHTTPRequestHandler):
    sandbox: ClassVar[SandboxServer]
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle plus delayed
        # ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        return

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = SandboxRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response, transport_fault = self.sandbox.dispatch(request)
        except Exception:  # a sandbox bug must show as a 500, not a hung client
            log.exception("%s sandbox failed on %s", self.sandbox.kind, self.path)
            response = self.sandbox.error_response(request, 500, "internal error")
            transport_fault = ""
        if transport_fault == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = response.encoded()
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if transport_fault == "truncate" and len(payload) > 1:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
