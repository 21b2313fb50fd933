"""Shared plumbing: machine line, JSON output, sandboxes in their own processes, timed children.

Every figure is one JSON object on stdout (``emit``). Peak RSS of a measured process comes
from ``os.wait4`` (that child's own ``ru_maxrss``), so neither the benchmark driver nor a
sandbox inflates it.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HUB_ENV = {"RUNTIME__LOG_LEVEL": "ERROR", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def emit(record: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(record, default=str), flush=True)
    return record


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        mem = "?"
    return {
        "machine": f"{os.cpu_count()} cores {cpu}, {mem}",
        "python": platform.python_version(),
        "date": datetime.now(UTC).date().isoformat(),
        "load_avg": [round(x, 1) for x in os.getloadavg()],
    }


def hub_executable() -> list[str]:
    """``hub`` of this interpreter's environment (falls back to ``python -m hub.cli``)."""
    candidate = Path(sys.executable).with_name("hub")
    return [str(candidate)] if candidate.exists() else [sys.executable, "-m", "hub.cli"]


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: int
    returncode: int
    stdout: str = ""
    stderr: str = ""
    cpu_s: float = 0.0  # the process's own user + system CPU: steadier than wall time under load


def run_measured(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    timeout_s: float | None = None,
    on_tick: Any = None,
    env: dict[str, str] | None = None,
) -> Measured:
    """Run ``cmd`` to completion; wall time and that process's own peak RSS (wait4)."""
    env = {**os.environ, **HUB_ENV, **(env or {})}
    out_path = Path(cwd or ".") / f".bench-{os.getpid()}-{time.monotonic_ns()}.log"
    with open(out_path, "w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()
        if on_tick is not None:

            def ticker() -> None:
                while not done.wait(1.0):
                    on_tick(time.perf_counter() - started)

            threading.Thread(target=ticker, daemon=True).start()
        if timeout_s is not None:

            def kill_if_running() -> None:
                if proc.poll() is None:
                    proc.kill()

            timer = threading.Timer(timeout_s, kill_if_running)
            timer.daemon = True
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    out_path.unlink(missing_ok=True)
    cpu_s = round(usage.ru_utime + usage.ru_stime, 1)
    return Measured(
        round(seconds, 1), round(usage.ru_maxrss / 1024), proc.returncode, text, cpu_s=cpu_s
    )


@dataclass
class Sandbox:
    kind: str
    proc: subprocess.Popen[str]
    info: dict[str, Any]
    stats_log: list[tuple[float, int]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    def source_entry(self, name: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """The hub.yml source entry the sandbox process gave (its own credentials), renamed."""
        entry = json.loads(json.dumps(self.info["source"]))  # a deep copy
        entry["name"] = name
        entry["options"].update(options or {})
        return entry

    def stats(self, timeline: bool = False) -> dict[str, Any]:
        url = f"{self.base_url}/_sandbox/stats" + ("?timeline=1" if timeline else "")
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())

    def reset_stats(self) -> None:
        req = urllib.request.Request(f"{self.base_url}/_sandbox/stats", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()

    def mutate(self, **spec: Any) -> dict[str, Any]:
        req = urllib.request.Request(
            f"{self.base_url}/_sandbox/mutate",
            method="POST",
            data=json.dumps(spec).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read())

    def peak_rss_mb(self) -> int | None:
        try:
            import psutil

            return round(psutil.Process(self.proc.pid).memory_info().rss / 2**20)
        except Exception:  # noqa: BLE001 - a figure we can live without
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sandbox(
    kind: str,
    *,
    deals: int,
    activities_per_deal: float,
    rate_limits: bool = False,
    source_index: int = 0,
    n_sources: int = 1,
    seed: int = 42,
    knobs: dict[str, Any] | None = None,
) -> Sandbox:
    """Start ``python -m bench.serve`` and wait until its world is seeded and serving."""
    cmd = [
        sys.executable,
        "-m",
        "bench.serve",
        kind,
        "--deals",
        str(deals),
        "--activities-per-deal",
        str(activities_per_deal),
        "--seed",
        str(seed),
        "--source-index",
        str(source_index),
        "--n-sources",
        str(n_sources),
        "--rate-limits" if rate_limits else "--no-rate-limits",
    ]
    for name, value in (knobs or {}).items():
        cmd += ["--knob", f"{name}={json.dumps(value)}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **HUB_ENV})
    return Sandbox(kind, proc, {})


def wait_ready(sandbox: Sandbox) -> Sandbox:
    assert sandbox.proc.stdout is not None
    line = sandbox.proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{sandbox.kind} sandbox exited with {sandbox.proc.wait()}")
    sandbox.info = json.loads(line)
    return sandbox


def write_config(folder: Path, sources: list[dict[str, Any]]) -> Path:
    from connectors.synthetic import WorldSpec
    from hub.generate import demo_config

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hub.yml"
    path.write_text(
        yaml.safe_dump(demo_config(WorldSpec(), sources), sort_keys=False), encoding="utf-8"
    )
    return path


def count_status(stats: dict[str, Any], *codes: int) -> int:
    """Requests answered with one of ``codes`` (keys look like 'GET /path 429')."""
    return sum(n for key, n in stats["requests"].items() if int(key.rsplit(" ", 1)[1]) in codes)


def source_runs(config: Path, limit: int = 20) -> dict[str, dict[str, Any]]:
    """The newest hub_runs row per source (rows, requests, 429s, seconds), via hub.status."""
    from hub.status import recent_runs
    from models.config import load_config

    out: dict[str, dict[str, Any]] = {}
    for r in recent_runs(load_config(config), limit):
        if r.source_name and r.source_name not in out:
            out[r.source_name] = {
                "status": r.status,
                "rows": dict(r.rows),
                "seconds": r.duration_s,
                "hub_requests": r.requests_total,
                "throttled": r.throttled,
                "retries": r.retries,
                "error": r.error,
            }
    return out


def last_run(config: Path) -> dict[str, Any]:
    runs = source_runs(config, 5)
    return next(iter(runs.values()), {})
