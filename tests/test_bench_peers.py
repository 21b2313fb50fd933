"""The peer bench's plumbing without the peers: the loopback redirector and the catalog choice.

The peers themselves come from the package index, so ``python -m bench peers`` is run by
hand (docs/benchmarks.md); these check what it relies on, offline.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bench.peers import configured_catalog
from bench.redirect import Redirector


class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = f"{self.path} via {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_vendor_host_reaches_the_sandbox_over_trusted_tls(tmp_path: Path, echo_port: int) -> None:
    redirector = Redirector({"api.hubapi.com": echo_port}, tmp_path)
    env = redirector.start()
    try:
        with requests.Session() as session:
            session.trust_env = False
            session.proxies = {"https": env["HTTPS_PROXY"]}
            session.verify = env["REQUESTS_CA_BUNDLE"]
            for _ in range(2):  # the same tunnel carries a second request
                response = session.get("https://api.hubapi.com/crm/v3/owners?limit=1")
                assert response.status_code == 200
                assert response.text == "/crm/v3/owners?limit=1 via api.hubapi.com"
            with pytest.raises(requests.exceptions.ProxyError):
                session.get("https://example.com/")  # no route: refused, never dialled
        assert redirector.refused == ["CONNECT example.com:443"]
    finally:
        redirector.stop()


def test_catalog_selects_the_wanted_streams_full_refresh_where_offered() -> None:
    catalog = {
        "streams": [
            {"name": "deals", "supported_sync_modes": ["full_refresh", "incremental"]},
            {
                "name": "owners",
                "supported_sync_modes": ["incremental"],
                "default_cursor_field": ["u"],
            },
            {"name": "tickets", "supported_sync_modes": ["full_refresh"]},
        ]
    }
    chosen = configured_catalog(catalog, ("deals", "owners"))["streams"]
    assert [(c["stream"]["name"], c["sync_mode"]) for c in chosen] == [
        ("deals", "full_refresh"),
        ("owners", "incremental"),
    ]
    assert chosen[1]["cursor_field"] == ["u"]
