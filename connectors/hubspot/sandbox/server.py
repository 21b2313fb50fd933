"""FakeHubspot: a stateful fake of the HubSpot CRM API v3/v4 over real HTTP.

Seeded from the synthetic world, it serves what the connector and writer call, with
HubSpot's shapes and habits: property values as strings, ``paging.next.after`` cursors,
``propertiesWithHistory`` entries with ``sourceType``, a 10,000-result search cap (400
beyond it), 207 multi-status bodies, 429 bodies naming a ``policyName``, the recycle bin,
``X-HubSpot-RateLimit-*`` headers (daily ones only for private apps; none on search), a
190-per-10-s burst limit and 5 searches a second when rate limits are on, OAuth refresh,
and a pipeline edit that moves ``hs_lastmodifieddate`` on every deal in it.

Vendor knobs (constructor keywords): ``daily_limit``, ``burst_max``, ``search_cap``,
``request_line_max``; the knobs every sandbox takes are a ``SandboxSpec``.
"""

from __future__ import annotations

import base64
import json
import uuid
from bisect import bisect_right
from collections import deque
from math import ceil
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode

from connectors.hubspot import settings
from connectors.hubspot.client import split_for_url
from connectors.hubspot.sandbox import legacy, vocab
from connectors.hubspot.sandbox.companies import COMPANY_TYPE_IDS, v3_types, v4_types
from connectors.hubspot.sandbox.mutate import HubspotMutations
from connectors.hubspot.sandbox.store import (
    RENEWALS,
    RENEWALS_STAGE_MAP,
    Obj,
    iso,
    parse_ms,
)
from connectors.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer
from connectors.sandbox.spec import SandboxSpec
from connectors.synthetic import World, WorldSpec

__all__ = ["RENEWALS", "RENEWALS_STAGE_MAP", "FakeHubspot"]

_ERROR_CATEGORY = {404: "OBJECT_NOT_FOUND", 500: "INTERNAL_ERROR"}
# HubSpot documents no URL limit; Airbyte's source found by experiment that it refuses URLs
# past about 16,300 characters (source-hubspot, PROPERTIES_PARAM_MAX_LENGTH). Cloudflare in
# front of it allows 32 KB, so the refusal comes from behind; its body is not documented.
REQUEST_LINE_MAX = 16_300
_URI_TOO_LONG = "<html><body><h1>414 Request-URI Too Long</h1></body></html>"


def _error(status: int, category: str, message: str, **extra: Any) -> SandboxResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return SandboxResponse(status, body)


def _unknown_type(name: str) -> SandboxResponse:
    return _error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")


def _not_found(object_id: str) -> SandboxResponse:
    return _error(
        404,
        "OBJECT_NOT_FOUND",
        "Object not found.  objectId are usually numeric.",
        context={"id": [object_id]},
    )


def _flag(request: SandboxRequest, name: str) -> bool:
    """HubSpot reads booleans case-blind: ``archived=True`` (as Python clients send it)
    means true."""
    return (request.arg(name) or "").lower() == "true"


def _names(request: SandboxRequest, name: str) -> list[str] | None:
    """A list parameter, repeated (``a=x&a=y``, as generated clients send it) or
    comma-joined (``a=x,y``); None when absent or empty."""
    names = [n for value in request.query.get(name, []) for n in value.split(",") if n]
    return names or None


def _sort(sort: Any) -> tuple[str, bool]:
    """(property, descending) of one search sort: an object ``{propertyName, direction}``
    or a string, ``-name`` for descending (the official SDKs type ``sorts`` as strings)."""
    if isinstance(sort, str):
        return sort.lstrip("-"), sort.startswith("-")
    direction = str(sort.get("direction", "ASCENDING")).upper()
    return sort.get("propertyName", "hs_object_id"), direction.startswith("DESC")


class FakeHubspot(HubspotMutations, SandboxServer):
    kind: ClassVar[str] = "hubspot"
    TOKEN: ClassVar[str] = "pat-na1-11111111-2222-4333-8444-sandbox000001"
    APP_ID: ClassVar[str] = "4200042"
    CLIENT_ID: ClassVar[str] = "sandbox-client-0001"
    CLIENT_SECRET: ClassVar[str] = "sandbox-secret-7f3a9c"  # noqa: S105 - a fake
    REFRESH_TOKEN: ClassVar[str] = "na1-refresh-5d2e-4b1f-sandbox"  # noqa: S105 - a fake
    OAUTH_APP_ID: ClassVar[str] = "4200043"

    def __init__(
        self,
        spec: SandboxSpec | None = None,
        /,
        *,
        daily_limit: int = 650_000,
        burst_max: int = 190,
        search_cap: int = settings.SEARCH_RESULT_CAP,
        request_line_max: int = REQUEST_LINE_MAX,
        **knobs: Any,
    ) -> None:
        super().__init__(spec, **knobs)
        spec = self.spec
        self.daily_limit = daily_limit
        self.burst_max = burst_max
        self.search_cap = search_cap
        self.request_line_max = request_line_max
        self.daily_used = 0
        self.request_log: list[str] = []
        self._burst: deque[float] = deque()
        self._search: deque[float] = deque()
        self._last_ms = 0
        self._next_id = {
            "deals": 12_340_000_000,
            "activity": 51_000_000_000,
            "companies": 88_000_000_000,
        }
        self.access_tokens: dict[str, float] = {}
        self.expired_tokens: set[str] = set()
        self.refresh_tokens = {self.REFRESH_TOKEN}
        self.objects: dict[str, dict[str, Obj]] = {
            t: {} for t in (settings.DEALS, settings.COMPANIES, *settings.ACTIVITY_OBJECTS)
        }
        self.links: dict[str, dict[str, set[str]]] = {t: {} for t in settings.ACTIVITY_OBJECTS}
        # n_deals is this sandbox's share: the world holds every source's slice.
        self.world = World(
            WorldSpec(
                seed=spec.seed,
                n_deals=spec.n_deals * spec.n_sources,
                activities_per_deal=spec.activities_per_deal,
                duplicate_share=spec.duplicate_share,
                signal=spec.signal,
            )
        )
        self.source_index, self.n_sources = spec.source_index, spec.n_sources
        self._seed_metadata()
        self._seed_world()
        self._register()

    def credentials(self) -> dict[str, str]:
        return {"token": self.TOKEN}

    def source_options(self) -> dict[str, Any]:
        """Every custom deal and company property (``all``)."""
        return {
            "base_url": self.base_url,
            "app_id": self.APP_ID,
            "deal_properties": "all",
            "company_properties": "all",
        }

    def source_config(self, name: str) -> dict[str, Any]:
        """The renewals pipeline's stages are portal-specific ids: the entry maps them."""
        return {**super().source_config(name), "stage_map": {RENEWALS: dict(RENEWALS_STAGE_MAP)}}

    @classmethod
    def page_minimum(cls, counts: dict[str, int]) -> int:
        """Deals with history at 50 a page (plus a batch read per 100 when their property
        list overflows a URL) and their companies (one association call per 1,000), the
        recycle bins, companies at 100 a page (batch reads likewise), activities at 100 a
        page plus one association call per 1,000, owners (live and archived) and three
        metadata calls (pipelines, deal and company properties)."""
        n = 3
        n += max(1, ceil(counts["owners_live"] / settings.OWNERS_PAGE_MAX))
        n += max(1, ceil(counts["owners_archived"] / settings.OWNERS_PAGE_MAX))
        n += max(1, ceil(counts["deals_archived"] / settings.LIST_WITH_HISTORY_MAX))
        n += ceil(counts["deals_live"] / settings.LIST_WITH_HISTORY_MAX)
        n += ceil(counts["deals_live"] / settings.ASSOCIATIONS_BATCH_MAX)
        if counts.get("deal_properties_past_url"):  # read by batch, 100 ids a call
            n += ceil(counts["deals_live"] / settings.BATCH_READ_MAX)
            n += ceil(counts["deals_archived"] / settings.BATCH_READ_MAX)
        companies, binned = counts.get("companies_live", 0), counts.get("companies_archived", 0)
        n += max(1, ceil(companies / settings.LIST_PAGE_MAX))
        n += max(1, ceil(binned / settings.LIST_PAGE_MAX))
        if counts.get("company_properties_past_url"):
            n += ceil(companies / settings.BATCH_READ_MAX) + ceil(binned / settings.BATCH_READ_MAX)
        for t in settings.ACTIVITY_OBJECTS:
            n += ceil(counts[f"{t}_live"] / settings.LIST_PAGE_MAX)
            n += ceil(counts[f"{t}_live"] / settings.ASSOCIATIONS_BATCH_MAX)
        return n

    def counts(self) -> dict[str, int]:
        """The store's counts, plus how many of the deal and company properties the hub
        asks for (``source_options``: every custom one) do not fit in a list request's URL."""
        with self.lock:
            stages = [s["id"] for p in self.pipelines for s in p["stages"]]
            deal_custom = [p["name"] for p in self.properties if not p.get("hubspotDefined")]
            company_custom = [
                p["name"] for p in self.company_properties if not p.get("hubspotDefined")
            ]
        deals = [
            *settings.DEAL_PROPERTIES,
            *(settings.DATE_ENTERED_PREFIX + str(s) for s in stages),
            *deal_custom,
        ]
        companies = [
            *settings.COMPANY_PROPERTIES,
            *settings.SHARED_STANDARD_FIELDS[settings.COMPANIES],
            *company_custom,
        ]
        return {
            **super().counts(),
            "deal_properties_past_url": len(split_for_url(deals)[1]),
            "company_properties_past_url": len(split_for_url(companies)[1]),
        }

    def oauth_credentials(self) -> dict[str, str]:
        return {
            "client_id": self.CLIENT_ID,
            "client_secret": self.CLIENT_SECRET,
            "refresh_token": self.REFRESH_TOKEN,
        }

    def _rate_body(self, policy: str, message: str) -> dict[str, Any]:
        return {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "groupName": f"api-calls:{self.APP_ID}",
        }

    def throttled_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(
            429,
            self._rate_body(
                "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
            ),
        )

    def server_error_response(self, request: SandboxRequest) -> SandboxResponse:
        status = self._rng.choice((500, 502, 503, 504))
        return SandboxResponse(
            status,
            {
                "status": "error",
                "message": "internal error",
                "correlationId": str(uuid.uuid4()),
                "category": "INTERNAL_ERROR",
            },
        )

    def quota_exhausted_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(429, self._rate_body("DAILY", "You have reached your daily limit."))

    def error_response(self, request: SandboxRequest, status: int, message: str) -> SandboxResponse:
        return _error(status, _ERROR_CATEGORY.get(status, "VALIDATION_ERROR"), message)

    def _bearer(self, request: SandboxRequest) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def check_auth(self, request: SandboxRequest) -> SandboxResponse | None:
        """The front end's checks, first of all: the request line's length, then the token."""
        target = f"{request.path}?{urlencode(request.query, doseq=True)}"
        if len(f"{request.method} {target} HTTP/1.1") > self.request_line_max:
            return SandboxResponse(414, _URI_TOO_LONG, content_type="text/html")
        if request.path == "/oauth/v1/token":
            return None
        token = self._bearer(request)
        if token == self.TOKEN or token in self.access_tokens:
            return None
        if token in self.expired_tokens:
            return _error(
                401,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired 2 minute(s) ago.",
            )
        return _error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 "
            "authentication and you can find more details at "
            "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )

    def expire_tokens(self) -> None:
        self.expired_tokens.update(self.access_tokens)
        self.access_tokens.clear()

    def rate_limit(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path == "/oauth/v1/token":
            return None
        if self.daily_used >= self.daily_limit:
            return self.quota_exhausted_response(request)
        now = self.now_s()
        while self._burst and now - self._burst[0] >= 10.0:
            self._burst.popleft()
        if len(self._burst) >= self.burst_max:
            return self.throttled_response(request)
        if request.path.endswith("/search"):
            while self._search and now - self._search[0] >= 1.0:
                self._search.popleft()
            if len(self._search) >= 5:
                return SandboxResponse(
                    429, self._rate_body("SECONDLY", "You have reached your secondly limit.")
                )
            self._search.append(now)
        self._burst.append(now)
        return None

    def decorate(self, request: SandboxRequest, response: SandboxResponse) -> None:
        if request.path.startswith(("/_sandbox", "/oauth/")) or response.status == 414:
            return  # the front end refused it: HubSpot's API never saw the call
        if response.status != 429 or (response.body or {}).get("policyName") != "DAILY":
            self.daily_used += 1
        if request.path.endswith("/search"):
            return  # HubSpot's search responses carry no rate-limit headers
        now = self.now_s()
        used = sum(1 for t in self._burst if now - t < 10.0)
        response.headers.update(
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": str(self.burst_max),
                "X-HubSpot-RateLimit-Remaining": str(max(0, self.burst_max - used)),
            }
        )
        if self._bearer(request) == self.TOKEN:  # OAuth calls get no daily headers
            response.headers.update(
                {
                    "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                    "X-HubSpot-RateLimit-Daily-Remaining": str(
                        max(0, self.daily_limit - self.daily_used)
                    ),
                }
            )

    def dispatch(self, request: SandboxRequest) -> tuple[SandboxResponse, str]:
        if len(request.path) > 1:  # HubSpot serves /crm/v3/owners/ as /crm/v3/owners
            request.path = request.path.rstrip("/")
        query = "&".join(f"{k}={v}" for k, vs in request.query.items() for v in vs)
        if not request.path.startswith("/_sandbox/"):
            with self.lock:
                self.request_log.append(f"{request.method} {request.path}?{query}")
        return super().dispatch(request)

    def reset_daily(self) -> None:
        """The portal's midnight: the daily allowance is whole again."""
        with self.lock:
            self.daily_used = 0

    def _register(self) -> None:
        self.route("POST", "/oauth/v1/token", self._token)
        self.route("GET", "/crm/v3/pipelines/deals", self._pipelines)
        self.route("GET", "/crm/v3/owners", self._owners)
        self.route("GET", "/crm/v3/owners/{owner_id}", self._owner)
        for path in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
            self.route("GET", path, self._schemas)
        self.route("GET", "/crm/v3/properties/deals", self._properties)
        self.route("GET", "/crm/v3/properties/companies", self._company_properties)
        self.route("POST", "/crm/v3/properties/deals", self._create_property)
        self.route("GET", "/crm/v3/properties/deals/groups", self._groups)
        self.route("POST", "/crm/v3/properties/deals/groups", self._create_group)
        self.route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/read", self._assoc)
        self.route("POST", "/crm/v3/objects/deals/batch/read", self._batch_read)
        self.route("POST", "/crm/v3/objects/companies/batch/read", self._batch_read)
        self.route("POST", "/crm/v3/objects/deals/batch/update", self._batch_update)
        self.route("POST", "/crm/v3/objects/{object_type}/search", self._search_objects)
        self.route("GET", "/crm/v3/objects/{object_type}", self._list)
        self.route("GET", "/crm/v3/objects/{object_type}/{object_id}", self._get)
        self.route("GET", settings.RECENT_ENGAGEMENTS, self._recent_engagements)
        self.route("GET", "/properties/v2/{object_type}/properties", self._properties_v2)
        self.route("GET", "/crm-pipelines/v1/pipelines/deals", self._pipelines_v1)

    def _token(self, request: SandboxRequest) -> SandboxResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return SandboxResponse(
                400,
                {
                    "status": "BAD_GRANT_TYPE",
                    "message": "grant_type must be refresh_token",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        if (
            form.get("client_id") != self.CLIENT_ID
            or form.get("client_secret") != self.CLIENT_SECRET
        ):
            return SandboxResponse(
                400,
                {
                    "status": "BAD_CLIENT_ID",
                    "message": "missing or unknown client id",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        if form.get("refresh_token") not in self.refresh_tokens:
            return SandboxResponse(
                400,
                {
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        token = f"CJ{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.access_tokens[token] = self.now_s() + 1800
        return SandboxResponse(
            200,
            {
                "token_type": "bearer",
                "refresh_token": form["refresh_token"],
                "access_token": token,
                "expires_in": 1800,
            },
        )

    def _pipelines(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(200, {"results": self.pipelines})

    def _pipelines_v1(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(200, {"results": [legacy.pipeline_v1(p) for p in self.pipelines]})

    def _properties_v2(self, request: SandboxRequest) -> SandboxResponse:
        name = request.params["object_type"]
        object_type = self._object_type(name) or legacy.UNHELD_ALIASES.get(name.lower())
        if object_type is None:
            return _unknown_type(name)
        if object_type == settings.DEALS:
            props = [self._with_options(p) for p in self.properties]
        elif object_type == settings.COMPANIES:
            props = self.company_properties
        else:
            props = legacy.default_properties(object_type, self.properties[0]["createdAt"])
        return SandboxResponse(200, [legacy.property_v2(p) for p in props])

    def _cursor_page(
        self,
        items: list[Any],
        request: SandboxRequest,
        max_limit: int,
        key: Any,
        render: Any,
        default_limit: int = 10,
        sorted_keys: list[int] | None = None,
        clamp: int | None = None,
    ) -> SandboxResponse:
        try:
            limit = int(request.arg("limit", str(default_limit)) or default_limit)
        except ValueError:
            return _error(400, "VALIDATION_ERROR", "limit must be an integer")
        if limit < 1 or limit > max_limit:
            return _error(
                400, "VALIDATION_ERROR", f"limit must be between 1 and {max_limit}, got {limit}"
            )
        limit = min(limit, clamp or limit)
        after = request.arg("after")
        # sorted_keys: ``items`` is already sorted by ``key`` (the page_cache knob).
        ordered = items if sorted_keys is not None else sorted(items, key=key)
        start = 0
        if after:
            try:
                last = int(base64.urlsafe_b64decode(after.encode()).decode())
            except ValueError:
                return _error(400, "VALIDATION_ERROR", f"invalid paging cursor '{after}'")
            if sorted_keys is not None:
                start = bisect_right(sorted_keys, last)
            else:
                ordered = [i for i in ordered if key(i) > last]
        page = ordered[start : start + limit]
        body: dict[str, Any] = {"results": [render(i) for i in page]}
        if len(ordered) - start > limit:
            token = base64.urlsafe_b64encode(str(key(page[-1])).encode()).decode()
            query = urlencode({**request.query, "after": [token]}, doseq=True, safe="=")
            body["paging"] = {
                "next": {"after": token, "link": f"{self.base_url}{request.path}?{query}"}
            }
        return SandboxResponse(200, body)

    def _owners(self, request: SandboxRequest) -> SandboxResponse:
        archived, email = _flag(request, "archived"), request.arg("email")
        items = [
            o
            for o in self.owners
            if o["archived"] == archived and (email is None or o["email"].lower() == email.lower())
        ]
        return self._cursor_page(
            items,
            request,
            settings.OWNERS_PAGE_MAX,
            lambda o: int(o["id"]),
            lambda o: o,
            default_limit=100,
        )

    def _owner(self, request: SandboxRequest) -> SandboxResponse:
        key = "userId" if request.arg("idProperty") == "userId" else "id"
        owner_id, archived = request.params["owner_id"], _flag(request, "archived")
        for owner in self.owners:
            if str(owner[key]) == owner_id and owner["archived"] == archived:
                return SandboxResponse(200, owner)
        return _not_found(owner_id)

    def _schemas(self, request: SandboxRequest) -> SandboxResponse:
        """Custom object definitions: this portal has none."""
        return SandboxResponse(200, {"results": []})

    def _object_type(self, name: str) -> str | None:
        """The served object type ``name`` spells (``deals``, ``deal``, ``0-3``), if any."""
        plural = vocab.object_type(name)
        return plural if plural in self.objects else None

    def _render(self, obj: Obj, request: SandboxRequest) -> dict[str, Any]:
        """One record as a list or get answers it: the requested ``properties``,
        ``propertiesWithHistory`` and ``associations`` (those with no links are left out)."""
        out = obj.to_json(
            _names(request, "properties"), bool(_names(request, "propertiesWithHistory"))
        )
        linked = {}
        for name in _names(request, "associations") or []:
            to_type = vocab.object_type(name)
            links = self._linked(obj.object_type, to_type, obj.id) if to_type else []
            if links and to_type:
                linked[to_type] = {
                    "results": [
                        {"id": i, "type": kind}
                        for i, primary, _ in links
                        for kind in self._v3_types(obj.object_type, to_type, primary)
                    ]
                }
        if linked:
            out["associations"] = linked
        return out

    @staticmethod
    def _v3_types(from_type: str, to_type: str, primary: bool) -> list[str]:
        if (from_type, to_type) in COMPANY_TYPE_IDS:
            return v3_types(from_type, to_type, primary)
        return [vocab.association_label(from_type, to_type)]

    def _linked(
        self, from_type: str, to_type: str, obj_id: str
    ) -> list[tuple[str, bool, str | None]]:
        """(id, primary, label) of the live ``to_type`` records linked to one record:
        activity <-> deal (never primary nor labelled) and deal <-> company."""
        if (from_type, to_type) == (settings.DEALS, settings.COMPANIES):
            return self.deal_companies(obj_id)
        if (from_type, to_type) == (settings.COMPANIES, settings.DEALS):
            return self.company_deals(obj_id)
        ids: set[str] = set()
        if to_type == "deals" and from_type in self.links:
            ids = self.links[from_type].get(obj_id, set())
        elif from_type == "deals" and to_type in self.links:
            ids = {a for a, deals in self.links[to_type].items() if obj_id in deals}
        live = self.objects.get(to_type, {})
        return [
            (i, False, None)
            for i in sorted((i for i in ids if i in live and not live[i].archived), key=int)
        ]

    def _get(self, request: SandboxRequest) -> SandboxResponse:
        object_type = self._object_type(request.params["object_type"])
        if object_type is None:
            return _unknown_type(request.params["object_type"])
        object_id = request.params["object_id"]
        obj = self.objects[object_type].get(object_id)
        if obj is None or obj.archived != _flag(request, "archived"):
            return _not_found(object_id)
        return SandboxResponse(200, self._render(obj, request))

    def _list(self, request: SandboxRequest) -> SandboxResponse:
        object_type = self._object_type(request.params["object_type"])
        if object_type is None:
            if request.params["object_type"].lower() in legacy.UNHELD_ALIASES:
                return SandboxResponse(200, {"results": []})  # a portal with none of them
            return _unknown_type(request.params["object_type"])
        archived = _flag(request, "archived")
        if self.page_cache:
            items, keys = self.cached_rows(
                ("list", object_type, archived), lambda: self._sorted_objects(object_type, archived)
            )
        else:
            items = [o for o in self.objects[object_type].values() if o.archived == archived]
            keys = None
        return self._cursor_page(
            items,
            request,
            settings.LIST_PAGE_MAX,
            lambda o: int(o.id),
            lambda o: self._render(o, request),
            sorted_keys=keys,
            # history shrinks the page to 50
            clamp=settings.LIST_WITH_HISTORY_MAX
            if _names(request, "propertiesWithHistory")
            else None,
        )

    def _sorted_objects(self, object_type: str, archived: bool) -> tuple[list[Obj], list[int]]:
        items = sorted(
            (o for o in self.objects[object_type].values() if o.archived == archived),
            key=lambda o: int(o.id),
        )
        return items, [int(o.id) for o in items]

    def _properties(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(200, {"results": [self._with_options(p) for p in self.properties]})

    def _company_properties(self, request: SandboxRequest) -> SandboxResponse:
        """``hubspot_owner_id`` lists the portal's owners as options, as HubSpot does."""
        owners = [o for o in self.owners if not o["archived"]]
        options = [
            {
                "label": f"{o['firstName']} {o['lastName']}".strip(),
                "value": o["id"],
                "displayOrder": k,
                "hidden": False,
                "description": "",
            }
            for k, o in enumerate(owners)
        ]
        props = [
            {**p, "options": options} if p["name"] == "hubspot_owner_id" else p
            for p in self.company_properties
        ]
        return SandboxResponse(200, {"results": props})

    def _with_options(self, prop: dict[str, Any]) -> dict[str, Any]:
        """``pipeline`` and ``dealstage`` are enumerations whose options are the portal's
        pipelines and stages as they are now."""
        if prop["name"] == "pipeline":
            rows = self.pipelines
        elif prop["name"] == "dealstage":
            rows = [s for p in self.pipelines for s in p["stages"]]
        else:
            return prop
        options = [
            {
                "label": r["label"],
                "value": r["id"],
                "displayOrder": r["displayOrder"],
                "hidden": r["archived"],
                "description": "",
            }
            for r in rows
        ]
        field_type = "radio" if prop["name"] == "dealstage" else "select"
        return {**prop, "type": "enumeration", "fieldType": field_type, "options": options}

    def _create_property(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            return _error(400, "VALIDATION_ERROR", f"Missing required fields: {missing}")
        if any(p["name"] == body["name"] for p in self.properties):
            return _error(
                409, "OBJECT_ALREADY_EXISTS", f"Property named '{body['name']}' already exists."
            )
        if not any(g["name"] == body["groupName"] for g in self.groups):
            return _error(400, "VALIDATION_ERROR", f"group '{body['groupName']}' does not exist")
        prop = {
            "options": [],
            "hubspotDefined": False,
            "calculated": False,
            "hidden": False,
            "hasUniqueValue": False,
            "description": "",
            "displayOrder": -1,
            "archived": False,
            "createdAt": iso(self.tick()),
            "updatedAt": iso(self.tick()),
            **body,
        }
        self.properties.append(prop)
        return SandboxResponse(201, prop)

    def _groups(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(200, {"results": self.groups})

    def _create_group(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        if not body.get("name") or not body.get("label"):
            return _error(400, "VALIDATION_ERROR", "name and label are required")
        if any(g["name"] == body["name"] for g in self.groups):
            return _error(
                409, "OBJECT_ALREADY_EXISTS", f"Group named '{body['name']}' already exists."
            )
        group = {"displayOrder": -1, "archived": False, **body}
        self.groups.append(group)
        return SandboxResponse(201, group)

    def _assoc(self, request: SandboxRequest) -> SandboxResponse:
        """v4 batch read, either direction between deals and activities; a record with no
        links (or a standard type the sandbox does not hold) is a NO_ASSOCIATIONS_FOUND
        error in a 207, never a 400."""
        names = request.params["from_type"], request.params["to_type"]
        inputs = (request.json() or {}).get("inputs", [])
        if len(inputs) > settings.ASSOCIATIONS_BATCH_MAX:
            return _error(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(inputs)} exceeds the limit of 1000.",
            )
        from_type, to_type = (vocab.object_type(n) for n in names)
        if from_type is None or to_type is None:
            return _unknown_type(names[0] if from_type is None else names[1])
        results, errors = [], []
        for item in inputs:
            obj_id = str(item.get("id"))
            obj = self.objects.get(from_type, {}).get(obj_id)
            linked = self._linked(from_type, to_type, obj_id) if obj and not obj.archived else []
            if not linked:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "context": {"fromObjectId": [obj_id]},
                        "message": f"No {to_type} is associated with "
                        f"{vocab.singular(from_type)} {obj_id}.",
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": obj_id},
                    "to": [
                        {
                            "toObjectId": int(i),
                            "associationTypes": self._v4_types(from_type, to_type, primary, label),
                        }
                        for i, primary, label in linked
                    ],
                }
            )
        return self._multi(results, errors)

    @staticmethod
    def _v4_types(from_type: str, to_type: str, primary: bool, label: str | None) -> list[Any]:
        if (from_type, to_type) in COMPANY_TYPE_IDS:
            return v4_types(from_type, to_type, primary, label)
        type_id = vocab.ASSOCIATION_TYPE_IDS.get((from_type, to_type))
        return [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]

    def _multi(self, results: list[Any], errors: list[Any]) -> SandboxResponse:
        stamp = iso(self.tick())
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp,
            "completedAt": stamp,
        }
        if errors:  # the spec requires every key of a StandardError
            filled = [{"context": {}, "links": {}, "errors": [], **e} for e in errors]
            body.update(errors=filled, numErrors=len(errors))
        return SandboxResponse(207 if errors else 200, body)

    def _batch_read(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        inputs = body.get("inputs", [])
        history = body.get("propertiesWithHistory") or []
        with_history = bool(history)
        cap = settings.BATCH_READ_WITH_HISTORY_MAX if with_history else settings.BATCH_READ_MAX
        if len(inputs) > cap:
            return _error(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(inputs)} exceeds the limit of {cap}"
                + (" when propertiesWithHistory is requested." if with_history else "."),
            )
        archived = request.arg("archived", "false") == "true"
        props = body.get("properties") or None
        object_type = request.path.split("/")[4]
        results, missing = [], []
        for item in inputs:
            obj = self.objects[object_type].get(str(item.get("id")))
            if obj is None or obj.archived != archived:
                missing.append(str(item.get("id")))
            else:
                results.append(obj.to_json(props, history))
        errors = (
            [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {vocab.singular(object_type).upper()} "
                    "objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
            if missing
            else []
        )
        return self._multi(results, errors)

    def _batch_update(self, request: SandboxRequest) -> SandboxResponse:
        inputs = (request.json() or {}).get("inputs", [])
        if len(inputs) > settings.BATCH_UPDATE_MAX:
            return _error(
                400, "VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the limit of 100."
            )
        known = {p["name"]: p for p in self.properties}
        invalid = []
        for item in inputs:  # one invalid value fails the whole batch, as HubSpot does
            obj = self.objects["deals"].get(str(item.get("id")))
            props = item.get("properties") or {}
            for name, value in props.items():
                if name not in known:
                    invalid.append(
                        {
                            "isValid": False,
                            "message": f'Property "{name}" does not exist',
                            "error": "PROPERTY_DOESNT_EXIST",
                            "name": name,
                        }
                    )
                elif name == "dealstage":
                    pipeline = props.get("pipeline") or (obj.props.get("pipeline") if obj else None)
                    found = self._stage(str(value))
                    if found is None or found[0] != pipeline:
                        invalid.append(
                            {
                                "isValid": False,
                                "error": "INVALID_OPTION",
                                "name": name,
                                "message": f"{value} was not one of the allowed options "
                                f"for pipeline {pipeline}",
                            }
                        )
                elif known[name]["type"] == "number" and value not in (None, ""):
                    try:
                        float(value)
                    except (TypeError, ValueError):
                        invalid.append(
                            {
                                "isValid": False,
                                "error": "INVALID_FLOAT",
                                "name": name,
                                "message": f"{value} is not a valid number",
                            }
                        )
        if invalid:  # HubSpot's message embeds the invalid list as JSON
            return _error(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid: " + json.dumps(invalid, separators=(",", ":")),
                errors=[
                    {
                        "message": i["message"],
                        "code": i["error"],
                        "context": {"propertyName": [i["name"]]},
                    }
                    for i in invalid
                ],
            )
        token = self._bearer(request)
        app_id = self.APP_ID if token == self.TOKEN else self.OAUTH_APP_ID
        results, errors = [], []
        for item in inputs:
            deal_id = str(item.get("id"))
            obj = self.objects["deals"].get(deal_id)
            if obj is None or obj.archived:
                error = {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Object not found. objectId are usually numeric. {deal_id}",
                    "context": {"ids": [deal_id]},
                }
                if item.get("objectWriteTraceId"):
                    error["objectWriteTraceId"] = item["objectWriteTraceId"]
                errors.append(error)
                continue
            ms = self.tick()
            props = dict(item.get("properties") or {})
            stage = props.pop("dealstage", None)
            props.pop("pipeline", None)
            for name, value in props.items():
                obj.record(name, None if value is None else str(value), ms, ("INTEGRATION", app_id))
            if stage is not None and stage != obj.props.get("dealstage"):
                self._move(obj, str(stage), ms, source=("INTEGRATION", app_id, None))
            obj.touch(ms)
            results.append(obj.to_json(["dealstage", "pipeline", *props]))
        return self._multi(results, errors)

    def _recent_engagements(self, request: SandboxRequest) -> SandboxResponse:
        """The legacy feed: newest first, last 30 days only, at most 10,000 records,
        ``offset`` paging, one engagement shape for every activity type."""
        count = int(request.arg("count", "20") or 20)
        if not 1 <= count <= settings.RECENT_ENGAGEMENTS_PAGE_MAX:
            return _error(400, "VALIDATION_ERROR", f"count must be between 1 and 100, got {count}")
        floor = int(self.now_s() * 1000) - settings.RECENT_ENGAGEMENTS_DAYS * 86_400_000
        since = max(int(request.arg("since", "0") or 0), floor)
        hits = sorted(
            (
                (object_type, o)
                for object_type in settings.ACTIVITY_OBJECTS
                for o in self.objects[object_type].values()
                if not o.archived and o.lastmod_ms > since
            ),
            key=lambda pair: (-pair[1].lastmod_ms, -int(pair[1].id)),
        )[: settings.SEARCH_RESULT_CAP]
        offset = int(request.arg("offset", "0") or 0)
        page = hits[offset : offset + count]
        kinds = {
            "calls": "CALL",
            "emails": "EMAIL",
            "meetings": "MEETING",
            "notes": "NOTE",
            "tasks": "TASK",
        }
        results = []
        for object_type, o in page:
            kind = kinds[object_type]
            if object_type == "emails" and o.props.get("hs_email_direction") == "INCOMING_EMAIL":
                kind = "INCOMING_EMAIL"
            owner = o.props.get("hubspot_owner_id")
            results.append(
                {
                    "engagement": {
                        "id": int(o.id),
                        "portalId": 62515,
                        "active": True,
                        "createdAt": o.created_ms,
                        "lastUpdated": o.lastmod_ms,
                        "ownerId": int(owner) if owner else None,
                        "type": kind,
                        "timestamp": parse_ms(str(o.props.get("hs_timestamp"))),
                    },
                    "associations": {
                        "contactIds": [],
                        "companyIds": [],
                        "ownerIds": [],
                        "ticketIds": [],
                        "workflowIds": [],
                        "dealIds": sorted(int(d) for d in self.links[object_type].get(o.id, ())),
                    },
                    "attachments": [],
                    "metadata": {},
                }
            )
        more = offset + count < len(hits)
        return SandboxResponse(
            200,
            {"results": results, "hasMore": more, "offset": offset + len(page), "total": len(hits)},
        )

    def _search_objects(self, request: SandboxRequest) -> SandboxResponse:
        object_type = self._object_type(request.params["object_type"])
        if object_type is None:
            return _unknown_type(request.params["object_type"])
        body = request.json() or {}
        limit = int(body.get("limit", 10))
        if not 1 <= limit <= settings.SEARCH_PAGE_MAX:
            return _error(400, "VALIDATION_ERROR", f"limit must be between 1 and 200, got {limit}")
        groups = body.get("filterGroups") or []
        if (
            len(groups) > 5
            or any(len(g.get("filters", [])) > 10 for g in groups)
            or sum(len(g.get("filters", [])) for g in groups) > 25
        ):
            return _error(
                400,
                "VALIDATION_ERROR",
                "Too many filters: at most 5 filterGroups, 10 filters per group and "
                "25 filters in total.",
            )
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            return _error(400, "VALIDATION_ERROR", "Only one sort is supported.")
        after = int(body.get("after") or 0)
        if after + limit > self.search_cap:
            return _error(
                400,
                "VALIDATION_ERROR",
                f"Search paging beyond {self.search_cap} results is not supported "
                f"(after={after}, limit={limit}); narrow the query.",
            )
        terms = str(body.get("query") or "").lower().split()
        hits = [
            o
            for o in self.objects[object_type].values()
            if not o.archived
            and (
                not groups
                or any(all(self._matches(o, f) for f in g.get("filters", [])) for g in groups)
            )
            and (not terms or self._mentions(o, terms))
        ]
        if sorts:
            name, desc = _sort(sorts[0])
            present = [o for o in hits if self._value(o, name) is not None]
            absent = [o for o in hits if self._value(o, name) is None]
            present.sort(key=lambda o: (self._value(o, name), int(o.id)), reverse=desc)
            hits = present + absent
        else:
            hits.sort(key=lambda o: int(o.id))
        page = hits[after : after + limit]
        props = body.get("properties") or None
        out: dict[str, Any] = {
            "total": len(hits),
            "results": [
                {k: v for k, v in o.to_json(props).items() if k != "archivedAt"} for o in page
            ],
        }
        if after + limit < len(hits):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return SandboxResponse(200, out)

    @staticmethod
    def _mentions(obj: Obj, terms: list[str]) -> bool:
        """A search ``query``: every term starts a word of one of the type's default
        searchable properties, case-blind."""
        words = [
            word
            for name in vocab.SEARCHABLE.get(obj.object_type, ())
            for word in str(obj.props.get(name) or "").lower().split()
        ]
        return all(any(w.startswith(t) for w in words) for t in terms)
