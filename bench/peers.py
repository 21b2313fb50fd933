"""Peer connectors from the package registry against the sandboxes, beside the hub's pull.

For each CRM: one sandbox process (``bench.serve``, the sandbox bench's knobs), then the
Airbyte source for that CRM (``airbyte-source-hubspot`` etc., each installed into its own
virtual environment under ``bench/out/peers/``) runs ``discover`` and a full ``read`` of
the streams comparable to what the hub pulls, then ``hub pull`` of the same sandbox. The
peers hard-code the vendors' hosts, so they reach the sandbox through ``bench.redirect``.

Per run: the sandbox's request count by status (every 4xx/5xx listed with its request),
wall time and peak RSS (``wait4``: the process and its reaped children) of peer and hub,
records per stream, and the hub/peer ratios.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Sandbox, emit, run_measured
from bench.redirect import Redirector
from bench.sandbox_bench import KINDS, pull_one, start_all

FULL = {"deals": 2_000, "activities_per_deal": 5.0}
QUICK = {"deals": 50, "activities_per_deal": 5.0}
VENVS = Path(__file__).parent / "out" / "peers"
START = "2000-01-01T00:00:00Z"


@dataclass(frozen=True)
class Peer:
    packages: tuple[str, ...]  # pinned, CDK too: docs/benchmarks.md's figures are for these
    command: str
    hosts: tuple[str, ...]
    streams: tuple[str, ...]  # the streams comparable to what the hub pulls
    python: str = "3.11"  # the Python its venv is made from

    def config(self, kind: str, credentials: dict[str, str]) -> dict[str, Any]:
        if kind == "hubspot":
            access = {"credentials_title": "Private App Credentials"}
            return {"credentials": {**access, "access_token": credentials["token"]}}
        if kind == "pipedrive":
            return {"api_token": credentials["api_token"], "replication_start_date": START}
        return {**credentials, "is_sandbox": False, "start_date": START}


PEERS = {
    "hubspot": Peer(
        ("airbyte-source-hubspot==5.7.0", "airbyte-cdk==6.61.6"),
        "source-hubspot",
        ("api.hubapi.com",),
        (
            "deals",
            "deal_pipelines",
            "owners",
            *(f"engagements_{t}" for t in ("calls", "emails", "meetings", "notes", "tasks")),
        ),
    ),
    "pipedrive": Peer(
        ("airbyte-source-pipedrive==2.3.7", "airbyte-cdk==6.61.6"),
        "source-pipedrive",
        ("api.pipedrive.com",),
        ("deals", "pipelines", "stages", "users", "activities", "notes"),
        # Requires-Python says <3.12, but its extractor dataclass fails Python 3.11's
        # mutable-default check (ValueError at import), so 3.10.
        python="3.10",
    ),
    "salesforce": Peer(
        ("airbyte-source-salesforce==2.10.3", "airbyte-cdk==7.39.1"),
        "source-salesforce",
        ("login.salesforce.com",),
        ("Opportunity", "OpportunityHistory", "OpportunityStage", "User", "Task", "Event"),
    ),
}


# The Airbyte CDK sends prepared requests, which skip REQUESTS_CA_BUNDLE, so requests trusts
# certifi's file alone. This start-up line of the peer's venv points certifi at the bench's
# throwaway CA while BENCH_CA_BUNDLE is set (only in the peer's environment during a run).
CA_HOOK = (
    "import os, certifi; certifi.where = (lambda where: lambda: "
    "os.environ.get('BENCH_CA_BUNDLE') or where())(certifi.where)\n"
)


def interpreter(version: str) -> str:
    """``python3.10`` etc.: pyenv's build if there is one (its shim may refuse), else PATH's."""
    builds = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return str(builds[-1]) if builds else f"python{version}"


def install(kind: str) -> Path:
    """The peer's own virtual environment (made once; ``bench/out`` is git-ignored)."""
    peer = PEERS[kind]
    venv = VENVS / kind
    python = venv / "bin" / "python"
    if not (venv / "bin" / peer.command).exists():
        subprocess.run([interpreter(peer.python), "-m", "venv", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *peer.packages], check=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "bench_ca.pth").write_text(CA_HOOK)
    return venv / "bin" / peer.command


def messages(output: str) -> list[dict[str, Any]]:
    """The Airbyte protocol messages among a peer's output lines."""
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def configured_catalog(catalog: dict[str, Any], wanted: tuple[str, ...]) -> dict[str, Any]:
    """Select ``wanted``; full refresh where a stream offers it (a first sync either way)."""
    chosen = []
    for stream in catalog["streams"]:
        if stream["name"] not in wanted:
            continue
        modes = stream.get("supported_sync_modes", ["full_refresh"])
        mode = "full_refresh" if "full_refresh" in modes else "incremental"
        chosen.append(
            {
                "stream": stream,
                "sync_mode": mode,
                "destination_sync_mode": "overwrite" if mode == "full_refresh" else "append",
                "cursor_field": stream.get("default_cursor_field", []),
            }
        )
    return {"streams": chosen}


def sandbox_errors(stats: dict[str, Any]) -> dict[str, int]:
    """Requests the sandbox answered 4xx/5xx, keyed 'GET /path 404'."""
    return {k: n for k, n in stats["requests"].items() if int(k.rsplit(" ", 1)[1]) >= 400}


def run_peer(kind: str, box: Sandbox, folder: Path, env: dict[str, str]) -> dict[str, Any]:
    peer = PEERS[kind]
    executable = str(install(kind))
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.json"
    config.write_text(json.dumps(peer.config(kind, box.info["source"]["credentials"])))
    box.reset_stats()
    discover = run_measured([executable, "discover", "--config", str(config)], cwd=folder, env=env)
    catalogs = [m["catalog"] for m in messages(discover.stdout) if m.get("type") == "CATALOG"]
    record: dict[str, Any] = {"bench": "peers", "crm": kind, "who": peer.packages[0]}
    if not catalogs:
        stats = box.stats()
        return emit(
            {
                **record,
                "exit": discover.returncode,
                "failed": "discover gave no catalog",
                "requests": stats["total"],
                "sandbox_4xx_5xx": sandbox_errors(stats),
                "by_endpoint": stats["requests"],
                "output_tail": discover.stdout[-3000:],
            }
        )
    catalog = folder / "catalog.json"
    catalog.write_text(json.dumps(configured_catalog(catalogs[0], peer.streams)))
    read = run_measured(
        [executable, "read", "--config", str(config), "--catalog", str(catalog)],
        cwd=folder,
        env=env,
    )
    stats = box.stats()
    out = messages(read.stdout)
    rows = Counter(m["record"]["stream"] for m in out if m.get("type") == "RECORD")
    errors = [
        str(m["trace"]["error"].get("message"))[:300]
        for m in out
        if m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR"
    ]
    record |= {
        "seconds": round(discover.seconds + read.seconds, 1),
        "discover_s": discover.seconds,
        "requests": stats["total"],
        "sandbox_4xx_5xx": sandbox_errors(stats),
        "peak_rss_mb": max(discover.peak_rss_mb, read.peak_rss_mb),
        "rows": dict(rows),
        "rows_total": sum(rows.values()),
        "exit": read.returncode,
        "errors": errors,
        "by_endpoint": stats["requests"],
    }
    return emit(record)


def run(
    *,
    deals: int,
    activities_per_deal: float,
    kinds: tuple[str, ...] = KINDS,
    keep: str | None = None,
) -> list[dict[str, Any]]:
    root = Path(keep or tempfile.mkdtemp(prefix="hub-bench-peers-"))
    boxes = start_all(kinds, deals=deals, activities_per_deal=activities_per_deal)
    routes = {h: int(boxes[k].base_url.rsplit(":", 1)[1]) for k in kinds for h in PEERS[k].hosts}
    redirector = Redirector(routes, root / "tls")
    env = redirector.start()
    results = []
    try:
        for kind in kinds:
            peer = run_peer(kind, boxes[kind], root / kind / "peer", env)
            hub = pull_one(boxes[kind], root / kind / "hub")
            results += [peer, hub]
            if peer.get("exit") == 0:  # ratios only for a peer that read everything
                emit(
                    {
                        "bench": "peers-vs-hub",
                        "crm": kind,
                        "peer": peer["who"],
                        "requests_hub_per_peer": ratio(hub["requests"], peer["requests"]),
                        "seconds_hub_per_peer": ratio(hub["seconds"], peer["seconds"]),
                        "rss_hub_per_peer": ratio(hub["peak_rss_mb"], peer["peak_rss_mb"]),
                        "peer_4xx_5xx": sum(peer["sandbox_4xx_5xx"].values()),
                        "refused_hosts": redirector.refused,
                    }
                )
    finally:
        redirector.stop()
        for box in boxes.values():
            box.stop()
    return results


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None
