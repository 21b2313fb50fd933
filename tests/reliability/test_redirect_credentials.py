"""No credential follows a redirect to another origin (issue #18, item 3).

Each connector's real client objects, built by its own modules with its own auth mode,
talk to a server (the origin) that redirects their request to a second server, which
records everything that reaches it. Nothing secret may be in what it recorded: no
Authorization, no ``x-api-token``, no cookie the origin set, no token in the query string
(a server may echo one into its Location), no OAuth form body. A redirect that stays on
the origin still carries the credentials, and one that leaves it is still followed.

"Another origin" is tried both as another port on 127.0.0.1 (requests keeps cookies and
custom headers there) and as another host name (``localhost``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from connectors.base import SourceContext
from connectors.http import RequestStats
from connectors.hubspot.client import HubspotApi, OAuthAuth, PrivateAppAuth
from connectors.hubspot.options import HubspotOptions
from connectors.pipedrive.client import build_client, get_payload
from connectors.registry import get_connector
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.options import SalesforceOptions
from models.config import load_config
from models.errors import AuthError, SourceError
from tests.harness import VirtualClock, write_hub_yml
from tests.reliability.hostile import Answer, HostileServer

HS_TOKEN = "pat-na1-0badc0de-0000-4000-8000-redirect0001"
HS_CLIENT_SECRET = "hs-client-secret-redirect-7f3a9c"
HS_REFRESH = "na1-refresh-redirect-0b5e-44aa"
HS_ACCESS = "CKX-access-redirect-3c1d9e8f7a6b5c4d"
PD_TOKEN = "5f0e1d2c3b4a59687766554433221100redir0ok"
SF_CLIENT_SECRET = "sf-secret-redirect-Q2w9e+Zx=="
SF_REFRESH = "5Aep861redirect.refresh.token=="
SF_ACCESS = "00Dredirect!AQ4AQGvX.access.token.value"
COOKIE = "sid-cookie-redirect-9a8b7c6d"

ALL_SECRETS = [
    HS_TOKEN,
    HS_CLIENT_SECRET,
    HS_REFRESH,
    HS_ACCESS,
    PD_TOKEN,
    SF_CLIENT_SECRET,
    SF_REFRESH,
    SF_ACCESS,
    COOKIE,
]


@pytest.fixture(autouse=True)
def _virtual_time(monkeypatch: pytest.MonkeyPatch) -> None:
    VirtualClock().install(monkeypatch)


@pytest.fixture
def origin() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def other() -> Iterator[HostileServer]:
    with HostileServer(fallback=Answer(200, {"results": [], "success": True, "data": []})) as s:
        yield s


@pytest.fixture(params=["other-port", "other-host"])
def elsewhere(request: pytest.FixtureRequest, other: HostileServer) -> str:
    """The base URL the origin redirects to."""
    if request.param == "other-host":
        return other.url.replace("127.0.0.1", "localhost")
    return other.url


def leaked(server: HostileServer) -> list[str]:
    """The secrets that reached ``server`` in any form (raw, or URL-encoded in a query
    string or a form body)."""
    seen = server.texts()
    forms = {s: (s, quote(s, safe=""), quote_plus(s)) for s in ALL_SECRETS}
    return [s for s, variants in forms.items() if any(v in seen for v in variants)]


def redirect(to: str, *, status: int = 302, cookie: bool = False) -> Answer:
    headers = {"Location": to}
    if cookie:
        headers["Set-Cookie"] = f"sid={COOKIE}; Path=/"
    return Answer(status, {"moved": True}, headers)


def set_cookie_first(origin: HostileServer, path: str) -> None:
    """The origin's first answer sets a session cookie, as Salesforce and edge proxies do."""
    origin.on(path, Answer(200, {"ok": True}, {"Set-Cookie": f"sid={COOKIE}; Path=/"}), times=1)


# ----- HubSpot --------------------------------------------------------------------------------


def test_hubspot_private_app_token_stays_home(
    origin: HostileServer, other: HostileServer, elsewhere: str
) -> None:
    set_cookie_first(origin, "/crm/v3/objects/deals")
    origin.on("/crm/v3/objects/deals", redirect(f"{elsewhere}/crm/v3/objects/deals?after=5"))
    stats = RequestStats()
    api = HubspotApi(HubspotOptions(base_url=origin.url), PrivateAppAuth(HS_TOKEN), stats)

    api.get("/crm/v3/objects/deals", endpoint="/crm/v3/objects/deals")  # sets the cookie
    page = api.get("/crm/v3/objects/deals", endpoint="/crm/v3/objects/deals")

    assert page == {"results": [], "success": True, "data": []}  # followed, answered there
    assert [r.target for r in other.received] == ["/crm/v3/objects/deals?after=5"]
    assert leaked(other) == [], other.texts()
    assert f"Bearer {HS_TOKEN}" == origin.received[1].headers["authorization"]
    assert COOKIE in origin.received[1].headers.get("cookie", "")  # the origin's own cookie
    assert any("without credentials" in w for w in stats.warnings), stats.warnings


def test_hubspot_oauth_access_token_stays_home(
    origin: HostileServer, other: HostileServer, elsewhere: str
) -> None:
    origin.on(
        "/oauth/v1/token",
        Answer(200, {"access_token": HS_ACCESS, "refresh_token": HS_REFRESH, "expires_in": 1800}),
    )
    origin.on("/crm/v3/objects/deals", redirect(f"{elsewhere}/crm/v3/objects/deals", cookie=True))
    stats = RequestStats()
    auth = OAuthAuth(
        base_url=origin.url,
        client_id="hs-client",
        client_secret=HS_CLIENT_SECRET,
        refresh_token=HS_REFRESH,
        stats=stats,
        timeout_s=5,
    )
    api = HubspotApi(HubspotOptions(base_url=origin.url), auth, stats)

    api.get("/crm/v3/objects/deals", endpoint="/crm/v3/objects/deals")

    assert len(other.received) == 1
    assert leaked(other) == [], other.texts()
    assert origin.received[-1].headers["authorization"] == f"Bearer {HS_ACCESS}"


def test_hubspot_oauth_form_never_follows_a_307(
    origin: HostileServer, other: HostileServer, elsewhere: str
) -> None:
    """A 307/308 keeps the method and the body: the refresh form (client secret, refresh
    token) would be posted to the other host. The client refuses to follow it."""
    origin.on("/oauth/v1/token", redirect(f"{elsewhere}/oauth/v1/token", status=307))
    auth = OAuthAuth(
        base_url=origin.url,
        client_id="hs-client",
        client_secret=HS_CLIENT_SECRET,
        refresh_token=HS_REFRESH,
        stats=RequestStats(),
        timeout_s=5,
    )
    with pytest.raises(AuthError) as caught:
        auth.refresh()

    assert other.received == []
    message = str(caught.value)
    assert "POST /oauth/v1/token was redirected to" in message
    assert "not followed" in message
    assert not [s for s in ALL_SECRETS if s in message], message


def test_a_redirect_within_the_origin_keeps_the_credentials(origin: HostileServer) -> None:
    origin.on("/crm/v3/objects/deals$", redirect("/crm/v3/objects/deals-moved"))
    origin.on("/crm/v3/objects/deals-moved", Answer(200, {"results": [{"id": "1"}]}))
    api = HubspotApi(HubspotOptions(base_url=origin.url), PrivateAppAuth(HS_TOKEN), RequestStats())

    page = api.get("/crm/v3/objects/deals", endpoint="/crm/v3/objects/deals")

    assert page == {"results": [{"id": "1"}]}
    assert [r.headers.get("authorization") for r in origin.received] == [f"Bearer {HS_TOKEN}"] * 2


def test_a_rejected_token_after_a_redirect_says_where_it_went(
    origin: HostileServer, other: HostileServer
) -> None:
    """The other host answers 401 (it got no token): the error says why, names the
    endpoint and the host, and does not refresh or retry against it."""
    other.fallback = Answer(401, {"category": "INVALID_AUTHENTICATION", "message": "no token"})
    origin.on("/crm/v3/objects/deals", redirect(f"{other.url}/crm/v3/objects/deals"))
    api = HubspotApi(HubspotOptions(base_url=origin.url), PrivateAppAuth(HS_TOKEN), RequestStats())

    with pytest.raises(AuthError) as caught:
        api.get("/crm/v3/objects/deals", endpoint="/crm/v3/objects/deals")

    message = str(caught.value)
    assert "GET /crm/v3/objects/deals" in message
    assert f"redirect to {other.url}/crm/v3/objects/deals" in message
    assert HS_TOKEN not in message
    assert len(other.received) == 1


# ----- Pipedrive ------------------------------------------------------------------------------


def pipedrive_context(
    folder: Path, origin: HostileServer, credentials: dict[str, str]
) -> SourceContext:
    entry: dict[str, Any] = {
        "name": "pd_redirect",
        "kind": "pipedrive",
        "credentials": credentials,
        "options": {"base_url": origin.url, "oauth_token_url": f"{origin.url}/oauth/token"},
    }
    config = load_config(write_hub_yml(folder, {"sources": [entry]}))
    return get_connector("pipedrive").context(
        config, config.source("pd_redirect"), stats=RequestStats()
    )


def test_pipedrive_api_token_header_stays_home(
    origin: HostileServer, other: HostileServer, elsewhere: str, tmp_path: Path
) -> None:
    """requests itself drops Authorization on a host change but keeps custom headers such
    as Pipedrive's ``x-api-token``, and cookies when only the port changes."""
    set_cookie_first(origin, "/api/v1/users")
    origin.on("/api/v1/users", redirect(f"{elsewhere}/api/v1/users?start=0"))
    ctx = pipedrive_context(tmp_path, origin, {"api_token": PD_TOKEN})
    client = build_client(ctx, ctx.options)  # type: ignore[arg-type]

    get_payload(client, "users")  # sets the cookie
    payload = get_payload(client, "users")

    assert payload["success"] is True
    assert [r.target for r in other.received] == ["/api/v1/users?start=0"]
    assert leaked(other) == [], other.texts()
    assert origin.received[-1].headers["x-api-token"] == PD_TOKEN


@pytest.mark.parametrize("param", ["api_token", "hapikey", "echoed"])
def test_a_token_the_server_echoes_into_its_location_is_removed(
    origin: HostileServer, other: HostileServer, tmp_path: Path, param: str
) -> None:
    """Pipedrive's (and its peers') ``api_token`` query parameter, HubSpot's retired
    ``hapikey``, or any parameter holding the token: a server that copies it into the
    Location must not get it sent to the other host. The other parameters stay."""
    origin.on("/api/v1/users", redirect(f"{other.url}/api/v1/users?start=0&{param}={PD_TOKEN}"))
    ctx = pipedrive_context(tmp_path, origin, {"api_token": PD_TOKEN})
    client = build_client(ctx, ctx.options)  # type: ignore[arg-type]

    get_payload(client, "users")

    assert [r.target for r in other.received] == ["/api/v1/users?start=0"]
    assert leaked(other) == [], other.texts()
    assert any(param in w and "removed" in w for w in ctx.stats.warnings), ctx.stats.warnings
    assert not [s for s in ALL_SECRETS if s in " ".join(ctx.stats.warnings)]


def test_pipedrive_oauth_bearer_stays_home(
    origin: HostileServer, other: HostileServer, elsewhere: str, tmp_path: Path
) -> None:
    origin.on("/oauth/token", Answer(200, {"access_token": HS_ACCESS, "refresh_token": "r2"}))
    origin.on("/api/v1/users", redirect(f"{elsewhere}/api/v1/users", cookie=True))
    ctx = pipedrive_context(
        tmp_path,
        origin,
        {"client_id": "pd-client", "client_secret": SF_CLIENT_SECRET, "refresh_token": SF_REFRESH},
    )
    client = build_client(ctx, ctx.options)  # type: ignore[arg-type]

    get_payload(client, "users")

    assert len(other.received) == 1
    assert leaked(other) == [], other.texts()
    assert origin.received[-1].headers["authorization"] == f"Bearer {HS_ACCESS}"


def test_pipedrive_oauth_refresh_form_never_follows_a_307(
    origin: HostileServer, other: HostileServer, tmp_path: Path
) -> None:
    origin.on("/oauth/token", redirect(f"{other.url}/oauth/token", status=307))
    ctx = pipedrive_context(
        tmp_path,
        origin,
        {"client_id": "pd-client", "client_secret": SF_CLIENT_SECRET, "refresh_token": SF_REFRESH},
    )
    client = build_client(ctx, ctx.options)  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="redirect"):
        get_payload(client, "users")
    assert leaked(other) == [], other.texts()


# ----- Salesforce -----------------------------------------------------------------------------


def salesforce_client(origin: HostileServer) -> SalesforceClient:
    secrets = {
        "client_id": "3MVG9redirect",
        "client_secret": SF_CLIENT_SECRET,
        "refresh_token": SF_REFRESH,
    }
    return SalesforceClient(SalesforceOptions(login_url=origin.url), secrets.get, RequestStats())


def test_salesforce_bearer_stays_home(
    origin: HostileServer, other: HostileServer, elsewhere: str
) -> None:
    origin.on(
        "/services/oauth2/token",
        Answer(
            200,
            {
                "access_token": SF_ACCESS,
                "instance_url": origin.url,
                "id": f"{origin.url}/id/00Dxx0000001gPL/005xx000001X8Uz",
            },
        ),
    )
    origin.on(
        "/services/data/v60.0/query/",
        redirect(
            f"{elsewhere}/services/data/v60.0/query/?q=SELECT+Id&sid={SF_ACCESS}", cookie=True
        ),
    )
    other.fallback = Answer(200, {"totalSize": 0, "done": True, "records": []})
    client = salesforce_client(origin)

    pages = list(client.query("SELECT Id FROM Opportunity"))

    assert pages == [[]]
    assert len(other.received) == 1
    assert leaked(other) == [], other.texts()
    assert other.received[0].target == "/services/data/v60.0/query/?q=SELECT+Id"
    assert origin.received[-1].headers["authorization"] == f"Bearer {SF_ACCESS}"


def test_salesforce_token_form_never_follows_a_307(
    origin: HostileServer, other: HostileServer, elsewhere: str
) -> None:
    origin.on("/services/oauth2/token", redirect(f"{elsewhere}/services/oauth2/token", status=308))
    client = salesforce_client(origin)

    with pytest.raises(SourceError) as caught:
        list(client.query("SELECT Id FROM Opportunity"))

    assert other.received == []
    assert "POST /services/oauth2/token was redirected" in str(caught.value)
    assert not [s for s in ALL_SECRETS if s in str(caught.value)]
