"""Faults, cross-CRM and end to end: every sandbox × every fault, through the orchestrator.

Each CRM sandbox serves one fixed state. A clean ``run_pull`` of it gives the reference
warehouse; then, for each fault, a fresh warehouse is pulled through ``hub.pull.run_pull``
(the same call ``hub sync`` makes) while the sandbox misbehaves. The run must either
complete with exactly the reference data (row counts and content checksums per table,
no duplicate keys), or stop cleanly (``stopped``/``failed`` with a one-line message that
says what happened and that a rerun continues) — and then a later run without the fault
must complete it to exactly the reference data. Waits (back-off, Retry-After, pacing) go
through the virtual clock (``tests.harness.VirtualClock``), so storms cost no real time.

The per-connector suites (tests/<kind>/test_faults.py, test_resilience.py) test each
mechanism in depth against one sandbox each; this one runs every CRM the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox import SandboxServer
from hub.pull import SourceRun, run_pull
from models.config import HubConfig
from tests.harness import SandboxHub, VirtualClock, set_faults, start_sandbox, stop_quietly
from tests.reliability.harness import (
    AS_OF,
    SANDBOX_KINDS,
    diff_prints,
    fingerprint,
)

N_DEALS = 40


# ----- the vendor-specific part of "the daily quota runs out after N more requests" ---------


def exhaust_quota_after(kind: str, server: Any, requests_left: int) -> None:
    with server.lock:
        if kind == "hubspot":
            server.daily_limit = server.daily_used + requests_left
        elif kind == "pipedrive":  # budget in tokens; list calls cost 10-20, the flow 40
            server.daily_tokens = server.tokens_used + 20 * requests_left
        else:
            server.daily_limit = server.api_usage + requests_left


def restore_quota(kind: str, server: Any) -> None:
    with server.lock:
        if kind == "hubspot":
            server.daily_limit = server.daily_used + 650_000
        elif kind == "pipedrive":
            server.daily_tokens = server.tokens_used + 1_000_000
        else:
            server.daily_limit = server.api_usage + 100_000


# ----- the faults --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    plan: dict[str, Any] = field(default_factory=dict)  # posted to /_sandbox/faults
    oauth: bool = False  # use the sandbox's OAuth app (tokens that expire) instead of a token
    quota_after: float | None = (
        None  # the daily allowance runs out after this share of a clean run's requests
    )
    expect_retries: bool = True  # the client must have retried something
    expect_stop: bool = False  # the run must stop cleanly; a later run completes it
    stop_words: tuple[str, ...] = ()  # the stop message must say this


FAULTS: dict[str, Fault] = {
    "429-storm": Fault({"rate_429": 0.35, "seed": 1}),
    "5xx": Fault({"rate_5xx": 0.3, "seed": 2}),
    "slow": Fault({"rate_slow": 0.25, "slow_s": 0.15, "seed": 3}, expect_retries=False),
    "truncated-bodies": Fault({"rate_truncate": 0.3, "seed": 4}),
    "dropped-connections": Fault({"rate_drop": 0.3, "seed": 5}),
    "mixed-storm": Fault(
        {
            "rate_429": 0.15,
            "rate_5xx": 0.1,
            "rate_truncate": 0.1,
            "rate_drop": 0.1,
            "rate_slow": 0.1,
            "slow_s": 0.05,
            "seed": 6,
        }
    ),
    "token-expiry-mid-run": Fault(
        {"expire_token_after": 7, "seed": 7}, oauth=True, expect_retries=False
    ),
    "quota-gone-at-start": Fault(
        {"quota_exhausted": True}, expect_retries=False, expect_stop=True, stop_words=("daily",)
    ),
    "quota-runs-out-mid-run": Fault(
        quota_after=0.5,
        expect_retries=False,
        expect_stop=True,
        stop_words=("daily", "state is saved"),
    ),
}


# ----- one sandbox per kind, with its clean reference warehouse ------------------------------


@dataclass
class Crm:
    kind: str
    server: SandboxServer
    root: Path
    reference: dict[str, Any]
    clean_requests: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}_flt"

    def config(self, folder: Path, *, oauth: bool = False) -> HubConfig:
        hub = SandboxHub(self.server, folder, self.name, top={"as_of": AS_OF})
        if oauth and hasattr(self.server, "oauth_credentials"):
            hub.credentials = dict(self.server.oauth_credentials())
        return hub.config()

    def pull(self, folder: Path, *, oauth: bool = False) -> SourceRun:
        (run,) = run_pull(self.config(folder, oauth=oauth))
        return run

    def faults(self, **plan: Any) -> None:
        set_faults(self.server, **plan)

    def prints(self, folder: Path) -> dict[str, Any]:
        return {
            t: p
            for t, p in fingerprint(folder / ".hub" / "hub.duckdb").items()
            if t.startswith(f"src_{self.name}.")
        }


@pytest.fixture(scope="module", autouse=True)
def virtual_time() -> Iterator[VirtualClock]:
    """Storms of retries cost no real time (module-wide: the clean references pull too)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield VirtualClock().install(monkeypatch)


@pytest.fixture(scope="module")
def crms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Crm]]:
    servers: dict[str, SandboxServer] = {}
    out: dict[str, Crm] = {}
    try:
        for index, kind in enumerate(SANDBOX_KINDS):
            servers[kind] = start_sandbox(
                kind, n_deals=N_DEALS, seed=31, source_index=index, n_sources=3
            )
            root = tmp_path_factory.mktemp(f"faults-{kind}")
            crm = Crm(kind, servers[kind], root, {})
            run = crm.pull(root / "clean")
            assert run.status == "ok", run.error
            crm.reference = crm.prints(root / "clean")
            crm.clean_requests = run.stats.total
            assert crm.reference[f"src_{crm.name}.deals"].rows == N_DEALS
            out[kind] = crm
        yield out
    finally:
        stop_quietly(servers.values())


CASES = [(kind, fault) for kind in SANDBOX_KINDS for fault in FAULTS]


@pytest.mark.parametrize(("kind", "fault_name"), CASES, ids=[f"{k}-{f}" for k, f in CASES])
def test_a_faulty_crm_gives_the_clean_data_or_a_clean_stop_then_the_clean_data(
    crms: dict[str, Crm], kind: str, fault_name: str
) -> None:
    crm, fault = crms[kind], FAULTS[fault_name]
    folder = crm.root / fault_name
    plan = dict(fault.plan)
    if kind == "salesforce" and ("rate_429" in plan or "quota_exhausted" in plan):
        # Salesforce throttles and counts the allocation on its REST API, not on login.
        plan["path_pattern"] = "^/services/data/"
    try:
        crm.faults(**plan)
        if fault.quota_after is not None:
            exhaust_quota_after(
                kind, crm.server, max(2, int(crm.clean_requests * fault.quota_after))
            )
        run = crm.pull(folder, oauth=fault.oauth)
    finally:
        crm.faults()
        restore_quota(kind, crm.server)

    message = run.error or ""
    assert "Traceback" not in message and "\n" not in message.strip(), message
    if fault.expect_stop:
        assert run.status == "stopped", (run.status, message)
        for word in fault.stop_words:
            assert word in message, message
    if fault.expect_retries and run.status == "ok":
        assert run.stats.retries > 0, "the fault never reached the client"
    if run.status != "ok":
        # A clean stop: one line naming the CRM and what to do; then a later run finishes.
        assert run.status in ("stopped", "failed"), run.status
        assert kind.split("_")[0] in message.lower() or crm.name in message, message
        assert any(
            w in message for w in ("rerun", "run 'hub sync' again", "state is saved", "resum")
        ), message
        again = crm.pull(folder, oauth=fault.oauth)
        assert again.status == "ok", again.error
    problems = diff_prints(crm.reference, crm.prints(folder))
    assert not problems, "\n".join(problems)
