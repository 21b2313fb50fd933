"""Servers that hang, stall, ask for absurd waits or send unbounded bodies (issue #18, item 8).

Real HTTP on 127.0.0.1 against :mod:`tests.reliability.hostile`, through the connectors'
own client objects. Sleeps run on the virtual clock; the deadline tests use small real
deadlines (the network does not follow the virtual clock) and fail, rather than hang,
when a request is not over in time.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.http import ApiClient, HttpLimits, RequestStats
from connectors.hubspot.client import HubspotApi, PrivateAppAuth
from connectors.hubspot.options import HubspotOptions
from connectors.pipedrive.client import build_client, get_payload
from connectors.registry import get_connector
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.options import SalesforceOptions
from models.config import load_config
from models.errors import QuotaExhausted, RetriesExhausted, SourceError
from tests.harness import VirtualClock, write_hub_yml
from tests.reliability.hostile import Answer, HostileServer, Huge, Stall, Trickle

TOKEN = "pat-na1-5f5f5f5f-hang-4000-8000-hostile00001"
PD_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0hang0tok"
DEALS = "/crm/v3/objects/deals"
THROTTLED = {"status": "error", "category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING"}
CAP_S = HttpLimits().max_wait_s


@pytest.fixture
def vclock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    return VirtualClock().install(monkeypatch)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer(fallback=Answer(200, {"results": []})) as hostile:
        yield hostile


def hubspot(server: HostileServer, **options: Any) -> HubspotApi:
    return HubspotApi(
        HubspotOptions(base_url=server.url, **options), PrivateAppAuth(TOKEN), RequestStats()
    )


def get_deals(api: HubspotApi) -> Any:
    return api.get(DEALS, endpoint=DEALS)


def pipedrive(server: HostileServer, folder: Path) -> ApiClient:
    entry = {
        "name": "pd_hostile",
        "kind": "pipedrive",
        "credentials": {"api_token": PD_TOKEN},
        "options": {"base_url": server.url},
    }
    config = load_config(write_hub_yml(folder, {"sources": [entry]}))
    ctx = get_connector("pipedrive").context(config, config.source("pd_hostile"))
    return build_client(ctx, ctx.options)  # type: ignore[arg-type]


def finishes_within(seconds: float, call: Callable[[], Any]) -> tuple[BaseException | None, float]:
    """Run ``call`` in a thread: (what it raised, how long it took). Fails the test if it
    is still running after ``seconds``, instead of hanging with it."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    started = time.perf_counter()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"the request was still waiting after {seconds} s")
    return outcome[0], time.perf_counter() - started


def clean(message: str) -> str:
    assert TOKEN not in message and PD_TOKEN not in message, message
    return message


# ----- deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_trickling_server_ends_at_the_deadline(
    server: HostileServer, vclock: VirtualClock, phase: str
) -> None:
    """One byte every 0.25 s never trips the 60 s read timeout; the 1.5 s deadline ends
    each attempt, and only two attempts are made."""
    server.on(DEALS, Trickle(every_s=0.25, phase=phase))
    api = hubspot(server)
    api.client.limits = HttpLimits(deadline_s=1.5, timeout_attempts=2)

    raised, took = finishes_within(15, lambda: get_deals(api))

    assert isinstance(raised, RetriesExhausted), raised
    message = clean(str(raised))
    assert f"GET {DEALS} timed out 2 times" in message
    assert "no complete answer within 1.5 s" in message
    assert len(server.received) == 2
    assert 3.0 <= took < 6.0, took


def test_a_body_stalled_midway_costs_three_attempts_not_eight(
    server: HostileServer, vclock: VirtualClock
) -> None:
    server.on(DEALS, Stall(length=10_000, sent=100))
    api = hubspot(server, timeout_s=0.5)

    raised, took = finishes_within(15, lambda: get_deals(api))

    assert isinstance(raised, RetriesExhausted), raised
    message = clean(str(raised))
    assert f"GET {DEALS} timed out 3 times (no byte for 0.5 s)" in message
    assert len(server.received) == HttpLimits().timeout_attempts == 3
    assert took < 3.0, took


def test_deadline_is_total_across_redirects(server: HostileServer, vclock: VirtualClock) -> None:
    """Hops of a redirect chain share one attempt's deadline."""
    server.on(DEALS, Answer(302, None, {"Location": "/slow"}))
    server.on("/slow", Trickle(every_s=0.25))
    api = hubspot(server)
    api.client.limits = HttpLimits(deadline_s=1.0, timeout_attempts=1)

    raised, _ = finishes_within(10, lambda: get_deals(api))

    assert isinstance(raised, RetriesExhausted)
    assert "no complete answer within 1 s" in str(raised)


def test_kept_alive_connections_are_still_reused(server: HostileServer) -> None:
    """Streaming each body under the size cap still hands the connection back."""
    api = hubspot(server)
    for _ in range(5):
        get_deals(api)
    assert len({r.peer_port for r in server.received}) == 1


# ----- Retry-After ------------------------------------------------------------------------------


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "asked"),
    [
        ("100000", "27 h 47 min"),
        ("1e12", "11,574,074.1 days"),
        ("date", "27 h 47 min"),
    ],
)
def test_retry_after_past_the_cap_stops_the_run_without_sleeping(
    server: HostileServer, vclock: VirtualClock, retry_after: str, asked: str
) -> None:
    headers = {"Retry-After": retry_after}
    if retry_after == "date":
        now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the server's clock, not ours
        headers = {
            "Date": http_date(now),
            "Retry-After": http_date(now + timedelta(seconds=100_000)),
        }
    server.on(DEALS, Answer(429, THROTTLED, headers))
    api = hubspot(server)

    with pytest.raises(QuotaExhausted) as caught:
        get_deals(api)

    message = clean(str(caught.value))
    assert f"GET {DEALS} answered HTTP 429 asking to wait {asked}" in message
    assert "longer than the 15 min this client waits" in message
    assert "state saved" in message
    assert sum(vclock.slept) == 0
    assert len(server.received) == 1
    assert any("asking to wait" in w for w in api.stats.warnings)


def test_retry_after_inf_stops_instead_of_crashing(server: HostileServer) -> None:
    """Real clock: ``time.sleep(inf)`` raised OverflowError out of the client."""
    server.on(DEALS, Answer(429, THROTTLED, {"Retry-After": "inf"}))

    with pytest.raises(QuotaExhausted) as caught:
        get_deals(hubspot(server))

    assert "asking to wait forever (Retry-After: inf)" in clean(str(caught.value))


@pytest.mark.parametrize("retry_after", ["nan", "-30", "soon"])
def test_unreadable_retry_after_backs_off_and_says_so(
    server: HostileServer, vclock: VirtualClock, retry_after: str
) -> None:
    server.on(DEALS, Answer(429, THROTTLED, {"Retry-After": retry_after}), times=1)
    api = hubspot(server)

    assert get_deals(api) == {"results": []}

    assert vclock.slept and all(0 < s <= 10 for s in vclock.slept), vclock.slept
    assert any(f"unreadable Retry-After {retry_after!r}" in w for w in api.stats.warnings)


def test_retry_after_as_an_http_date_is_honoured(
    server: HostileServer, vclock: VirtualClock, tmp_path: Path
) -> None:
    """Pipedrive's own 429 has no Retry-After (the connector waits its 2 s window); a
    proxy in front may send one, as a date: waiting less only earns another 429."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    later = {"Date": http_date(now), "Retry-After": http_date(now + timedelta(seconds=30))}
    server.on(
        "/api/v1/users", Answer(429, {"success": False, "error": "slow down"}, later), times=1
    )
    server.fallback = Answer(200, {"success": True, "data": []})
    client = pipedrive(server, tmp_path)

    assert get_payload(client, "users")["data"] == []
    assert vclock.slept == [30.0]


def test_waits_add_up_to_the_cap_per_request(server: HostileServer, vclock: VirtualClock) -> None:
    """Each Retry-After of 400 s is under the cap; the third would pass it in total."""
    server.on(DEALS, Answer(429, THROTTLED, {"Retry-After": "400"}))
    api = hubspot(server)

    with pytest.raises(QuotaExhausted) as caught:
        get_deals(api)

    assert vclock.slept == [400.0, 400.0]
    assert "asking to wait 7 min (Retry-After: 400) after 13 min of waiting" in str(caught.value)
    assert len(server.received) == 3


def test_a_rate_limit_reset_of_a_day_stops_instead_of_pacing(
    server: HostileServer, vclock: VirtualClock, tmp_path: Path
) -> None:
    """Pipedrive says "0 left, reset in 100000 s" on a 200: the pacer would sleep 27.8 h
    before the next request."""
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "100000"}
    server.fallback = Answer(200, {"success": True, "data": []}, spent)
    client = pipedrive(server, tmp_path)
    get_payload(client, "users")

    with pytest.raises(QuotaExhausted) as caught:
        get_payload(client, "users")

    message = clean(str(caught.value))
    assert "rate-limit headers hold GET /api/v1/users back for 27 h 47 min" in message
    assert sum(vclock.slept) == 0
    assert len(server.received) == 1


@pytest.mark.parametrize("status", [200, 429])
def test_an_infinite_rate_limit_reset_is_ignored(
    server: HostileServer, vclock: VirtualClock, tmp_path: Path, status: int
) -> None:
    """``int(float("inf"))`` raised OverflowError in the connector's header reading."""
    odd = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "inf", "x-ratelimit-limit": "nan"}
    server.on("/api/v1/users", Answer(status, {"success": status == 200, "data": []}, odd), times=1)
    server.fallback = Answer(200, {"success": True, "data": []})
    client = pipedrive(server, tmp_path)

    assert get_payload(client, "users")["data"] == []
    assert get_payload(client, "users")["data"] == []


def test_salesforce_503_retry_after_is_honoured(
    server: HostileServer, vclock: VirtualClock
) -> None:
    """Salesforce's classify backs off on a 503 by itself (0.5 s); its Retry-After wins."""
    server.on(
        "/services/oauth2/token",
        Answer(200, {"access_token": "00Dx!AQ.hang", "instance_url": server.url, "id": "x/005x"}),
    )
    server.on(
        "/query/",
        Answer(503, [{"errorCode": "SERVER_UNAVAILABLE"}], {"Retry-After": "120"}),
        times=1,
    )
    server.fallback = Answer(200, {"totalSize": 0, "done": True, "records": []})
    creds = {"client_id": "c", "client_secret": "s", "refresh_token": "r"}
    client = SalesforceClient(SalesforceOptions(login_url=server.url), creds.get)

    assert list(client.query("SELECT Id FROM Opportunity")) == [[]]
    assert vclock.slept == [120.0]


# ----- response size ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_past_the_size_cap_is_abandoned(
    server: HostileServer, vclock: VirtualClock, chunked: bool
) -> None:
    server.on(DEALS, Huge(3_000_000, chunked=chunked))
    api = hubspot(server)
    api.client.limits = HttpLimits(max_response_bytes=1_000_000)

    with pytest.raises(SourceError) as caught:
        get_deals(api)

    message = clean(str(caught.value))
    size = "more" if chunked else "3,000,000 bytes"
    assert (
        f"GET {DEALS} answered with a body of {size}, past this client's cap of 1,000,000"
        in message
    )
    assert len(server.received) == 1  # not retried: it would be as large again


def test_a_small_gzip_that_inflates_past_the_cap_is_abandoned(
    server: HostileServer, vclock: VirtualClock
) -> None:
    bomb = gzip.compress(b" " * 5_000_000)
    server.on(DEALS, Answer(200, bomb, {"Content-Encoding": "gzip"}))
    api = hubspot(server)
    api.client.limits = HttpLimits(max_response_bytes=1_000_000)

    with pytest.raises(SourceError) as caught:
        get_deals(api)

    assert len(bomb) < 10_000
    assert "past this client's cap of 1,000,000 bytes" in str(caught.value)


def test_the_default_cap_is_64_mib(server: HostileServer, vclock: VirtualClock) -> None:
    server.on(DEALS, Huge(64 * 1024 * 1024 + 1, chunked=True))

    with pytest.raises(SourceError) as caught:
        get_deals(hubspot(server))

    assert "cap of 67,108,864 bytes (HttpLimits.max_response_bytes)" in str(caught.value)
