"""A tiny scriptable HTTP/1.1 server on 127.0.0.1 for what no vendor sandbox does on purpose:
redirect to another host, trickle bytes, stall mid-body, send an unbounded body, ask the
client to come back tomorrow.

A test scripts it per path (:meth:`HostileServer.on`); what no rule matches is forwarded
to an upstream (a real sandbox) or answered 404. Every request that reaches it is recorded
with its headers and body, so a test can check exactly what a client sent to it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Received:
    method: str
    target: str  # path and query string, as sent
    headers: dict[str, str]  # lower-cased names
    body: bytes
    peer_port: int = 0  # the client's port: one per connection

    def text(self) -> str:
        """Everything the client sent, as one string to search for secrets."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.target}\n{head}\n\n{self.body.decode('latin-1')}"


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # bytes sent as is; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass
class Trickle:
    """One byte every ``every_s`` seconds: of the header block, or of a 1 kB JSON body."""

    every_s: float
    phase: str = "body"  # "headers" | "body"


@dataclass
class Stall:
    """Headers announcing ``length`` bytes, the first ``sent`` of them, then silence."""

    length: int = 10_000
    sent: int = 100


@dataclass
class Huge:
    """A body of ``size`` bytes, with a Content-Length or chunked (no length announced)."""

    size: int
    chunked: bool = False


@dataclass
class Forward:
    """Pass the request on to ``upstream`` (base URL) and relay its answer."""

    upstream: str


Reply = Answer | Trickle | Stall | Huge | Forward
Script = Reply | Callable[[Received], Reply]


@dataclass
class _Rule:
    method: str | None
    path: re.Pattern[str]
    script: Script
    times: int | None  # None: every time


class HostileServer:
    def __init__(self, *, fallback: Reply | None = None) -> None:
        self.fallback: Reply = fallback or Answer(404, {"error": "no rule"})
        self.received: list[Received] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(
        self, path: str, script: Script, *, method: str | None = None, times: int | None = None
    ) -> HostileServer:
        """Answer requests whose path matches the regex ``path`` (searched) with ``script``."""
        with self._lock:
            self._rules.append(_Rule(method, re.compile(path), script, times))
        return self

    def forget_rules(self) -> None:
        """Serve everything from the fallback from now on (the server behaves again)."""
        with self._lock:
            self._rules.clear()

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def texts(self) -> str:
        with self._lock:
            return "\n---\n".join(r.text() for r in self.received)

    # ----- serving ------------------------------------------------------------------------

    def _reply_for(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            path = urlsplit(request.target).path
            for rule in self._rules:
                if rule.times == 0 or (rule.method and rule.method != request.method):
                    continue
                if rule.path.search(path):
                    if rule.times is not None:
                        rule.times -= 1
                    script = rule.script
                    break
            else:
                script = self.fallback
        return script(request) if callable(script) else script

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # headers and body are separate writes: no Nagle delay
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    self.client_address[1],
                )
                reply = hostile._reply_for(request)
                try:
                    hostile._send(self, request, reply)
                except OSError:  # the client gave up (that is what a deadline does)
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        return Handler

    def _send(self, out: BaseHTTPRequestHandler, request: Received, reply: Reply) -> None:
        if isinstance(reply, Forward):
            reply = _forward(reply.upstream, request)
        if isinstance(reply, Answer):
            payload = reply.payload()
            out.send_response_only(reply.status)  # no Date/Server of its own: a test may set them
            headers = dict(reply.headers)
            names = {k.lower() for k in headers}
            if "content-type" not in names:
                headers["Content-Type"] = "application/json"
            if "date" not in names:
                headers["Date"] = out.date_time_string()
            for name, value in headers.items():
                out.send_header(name, value)
            out.send_header("Content-Length", str(len(payload)))
            out.end_headers()
            out.wfile.write(payload)
            return
        out.close_connection = True
        wfile = out.wfile
        if isinstance(reply, Trickle):
            body = json.dumps({"data": ["x" * 1000]}).encode()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            prefix, slow = (b"", head + body) if reply.phase == "headers" else (head, body)
            wfile.write(prefix)
            wfile.flush()
            for i in range(len(slow)):
                if self._stopping.wait(reply.every_s):
                    return
                wfile.write(slow[i : i + 1])
                wfile.flush()
        elif isinstance(reply, Stall):
            wfile.write(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {reply.length}\r\n\r\n".encode()
                + b"[" * reply.sent
            )
            wfile.flush()
            self._stopping.wait()  # until the server stops; the client must not wait that long
        elif isinstance(reply, Huge):
            length = (
                "Transfer-Encoding: chunked" if reply.chunked else f"Content-Length: {reply.size}"
            )
            wfile.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n\r\n".encode()
            )
            block = b" " * 65_536
            left = reply.size
            while left > 0 and not self._stopping.is_set():
                piece = block[: min(left, len(block))]
                wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if reply.chunked else piece)
                left -= len(piece)
            if reply.chunked:
                wfile.write(b"0\r\n\r\n")
            wfile.flush()
        with contextlib.suppress(OSError):
            out.connection.shutdown(socket.SHUT_RDWR)


def _forward(upstream: str, request: Received) -> Answer:
    parts = urlsplit(upstream)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP}
        conn.request(request.method, request.target, body=request.body or None, headers=headers)
        response = conn.getresponse()
        body = response.read()
        kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
        return Answer(response.status, body, kept)
    finally:
        conn.close()
