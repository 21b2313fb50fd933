"""A loopback HTTPS redirector: peer connectors that hard-code vendor hosts reach the sandboxes.

The peers (Airbyte's HubSpot, Pipedrive and Salesforce sources) have no base-URL option:
they call ``https://api.hubapi.com`` and the like. Run with ``HTTPS_PROXY`` pointing here,
they send ``CONNECT api.hubapi.com:443``; the redirector answers it, terminates TLS with a
certificate for that host signed by a throwaway CA made at start (trusted only through the
peer's ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``) and pipes the decrypted HTTP unchanged to
the sandbox on 127.0.0.1. A host it has no route for is refused, so nothing leaves loopback.
"""

from __future__ import annotations

import datetime
import select
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    hosts: list[str],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Redirector:
    """``routes``: vendor host -> sandbox port on 127.0.0.1. ``folder`` receives the CA file."""

    routes: dict[str, int]
    folder: Path
    refused: list[str] = field(default_factory=list)

    def start(self) -> dict[str, str]:
        """Listen on a free loopback port; the environment a peer process needs to use us."""
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("bench throwaway CA", ca_key, None, ca_key, [])
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate("bench sandbox", key, ca, ca_key, sorted(self.routes))
        self.folder.mkdir(parents=True, exist_ok=True)
        ca_file, chain_file = self.folder / "ca.pem", self.folder / "leaf.pem"
        ca_file.write_bytes(_pem(ca))
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        chain_file.write_bytes(_pem(leaf) + _pem(ca) + key_pem)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(chain_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()
        proxy = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        return {
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(ca_file),
            "SSL_CERT_FILE": str(ca_file),
            "BENCH_CA_BUNDLE": str(ca_file),
        }

    def stop(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = head.split(b" ", 2)[:2]
            host = target.decode().rsplit(":", 1)[0]
            if method != b"CONNECT" or host not in self.routes:
                self.refused.append(f"{method.decode()} {target.decode()}")
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            try:
                secure = self.tls.wrap_socket(client, server_side=True)
                upstream = socket.create_connection(("127.0.0.1", self.routes[host]))
            except OSError:
                return
            with secure, upstream:
                _relay(secure, upstream)


def _relay(secure: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Copy both ways in one thread (an SSL socket is not for two threads) until one closes."""
    peers = {secure: upstream, upstream: secure}
    while True:
        ready = [secure] if secure.pending() else select.select(list(peers), [], [], 300)[0]
        if not ready:
            return
        for src in ready:
            try:
                data = src.recv(65536)
                if not data:
                    return
                peers[src].sendall(data)
            except ssl.SSLWantReadError:  # a partial TLS record: wait for the rest
                continue
            except OSError:  # ssl.SSLError included
                return
