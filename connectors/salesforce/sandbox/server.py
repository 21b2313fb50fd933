"""FakeSalesforce: a stateful, faithful fake of the parts of the Salesforce API the hub uses.

OAuth token endpoint (refresh token, JWT bearer verified against the connected app's
certificate, client credentials), the versions list, SOQL ``/query`` and ``/queryAll`` with
snapshot cursors and ``nextRecordsUrl`` (in the client's API version), Bulk 2.0 query jobs
(``Sforce-Locator`` paging, abort, delete, list), describe and global describe, record GET,
``/limits``, sObject Collections and Composite updates with ``If-Unmodified-Since``. Every
authenticated API response carries ``Sforce-Limit-Info``; the daily allocation is enforced
with 403 ``REQUEST_LIMIT_EXCEEDED``; every error, a sandbox fault included, uses Salesforce's
``[{message, errorCode, fields}]`` shape.

Vendor knobs (constructor keywords): ``daily_limit``, ``api_usage``, ``api_bursts``,
``lock_row_rate``, ``version``, ``currency``; the knobs every sandbox takes are a
``SandboxSpec``. Limit modes (keywords, or ``mutate``): ``bulk_outcome`` ends every new
Bulk 2.0 query job ``Failed`` or ``Aborted``, or keeps it ``InProgress``; a REST query
locator expires after ``locator_idle_s`` of inactivity (the cheat sheet's 2 days since
API 56.0; 900 s before) and, with ``max_open_cursors`` (10 per user before 56.0), opening
one cursor too many releases the oldest. Either answers 400 ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

import base64
import csv
import io
import secrets
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from math import ceil
from typing import Any
from urllib.parse import parse_qs, urlencode

from connectors.salesforce.sandbox import soql
from connectors.salesforce.sandbox.describe import (
    OTHER_LIMITS,
    SOBJECT_DEFAULTS,
    describe_field,
    release_label,
)
from connectors.salesforce.sandbox.store import (
    KEY_PREFIX,
    RELATIONS,
    STAGE_INFO,
    UPDATEABLE,
    Org,
    Rec,
)
from connectors.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer
from connectors.sandbox.spec import SandboxSpec

DATA = "/services/data/{v}"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RUNNING = ("UploadComplete", "InProgress")  # Bulk 2.0 job states that may still abort
# what a full sync pages through, one SOQL listing each
PAGED_OBJECTS = (
    "Opportunity",
    "OpportunityHistory",
    "Task",
    "Event",
    "User",
    "OpportunityStage",
    "Account",
)
DESCRIBED_OBJECTS = ("Opportunity", "Account")  # a sync reads their describe once
# "the maximum length for the combined URI and headers is 16,384 bytes": a longer URI
# gets 414, a longer URI plus headers 431, from the front end (limits cheat sheet; the
# body is the Jetty page clients quote in their issues).
MAX_URI_AND_HEADERS = 16_384
_TOO_LONG = {
    414: "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>",
    431: "<h1>Bad Message 431</h1><pre>reason: Request Header Fields Too Large</pre>",
}


def sf_error(
    status: int, code: str, message: str, fields: list[str] | None = None
) -> SandboxResponse:
    return SandboxResponse(
        status, [{"message": message, "errorCode": code, "fields": fields or []}]
    )


def rest_value(value: Any, ftype: str) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, date):
        return value.isoformat()
    if ftype == "int" and isinstance(value, float):
        return int(value)  # anything else (garbage a test stored) goes out as it is
    return value


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class FakeSalesforce(SandboxServer):
    kind = "salesforce"

    def __init__(
        self,
        spec: SandboxSpec | None = None,
        /,
        *,
        daily_limit: int = 100_000,
        api_usage: int = 1_000,
        api_bursts: bool = False,
        lock_row_rate: float = 0.0,
        version: str = "60.0",
        currency: str | None = None,
        bulk_outcome: str = "JobComplete",
        locator_idle_s: float = 2 * 86_400,
        max_open_cursors: int | None = None,
        extra_custom_fields: int = 0,
        **knobs: Any,
    ) -> None:
        super().__init__(spec, **knobs)
        spec = self.spec
        seed = spec.seed
        self.org = Org(
            seed=seed,
            n_deals=spec.n_deals * spec.n_sources,
            source_index=spec.source_index,
            n_sources=spec.n_sources,
            now=self.now(),
            currency=currency,
            activities_per_deal=spec.activities_per_deal,
            duplicate_share=spec.duplicate_share,
            signal=spec.signal,
            extra_custom_fields=extra_custom_fields,
        )
        self.daily_limit = daily_limit
        self.api_usage = api_usage
        self.api_bursts = api_bursts
        self.lock_row_rate = lock_row_rate
        self.version = version
        self.client_id = f"3MVG9sandbox{seed:04d}.connectedapp"
        self.client_secret = f"sandbox-secret-{seed:04d}"
        self.refresh_token = f"5Aep861sandbox{seed:04d}refresh"
        self.username = "hub.integration@northwind-sales.example"
        self.tokens: set[str] = set()
        self.bulk_outcome = bulk_outcome
        self.locator_idle_s = locator_idle_s
        self.max_open_cursors = max_open_cursors
        self._cursors: dict[str, tuple[str, list[Rec]]] = {}  # oldest first
        self._cursor_used: dict[str, datetime] = {}
        self.query_log: list[str] = []  # every SOQL statement received, for tests
        self.path_log: list[str] = []  # every request path and query string, for tests
        self._jobs: dict[str, dict[str, Any]] = {}
        self._private_pem: str | None = None
        self._public_pem: str | None = None
        self._register()

    # ----- credentials ------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    def source_options(self) -> dict[str, Any]:
        return {
            "login_url": self.base_url,
            "multi_currency": True,
            "lost_reason_field": "Loss_Reason__c",
        }

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {obj: len(self.org.tables[obj]) for obj in PAGED_OBJECTS}

    @classmethod
    def page_minimum(cls, counts: dict[str, int]) -> int:
        """The REST minimum, 2,000 records a query page, plus the token request and one
        describe of Opportunity and Account; the Bulk API 2.0 path that large first syncs
        take can go below it."""
        pages = sum(ceil(counts[obj] / 2000) for obj in PAGED_OBJECTS)
        return 1 + len(DESCRIBED_OBJECTS) + pages

    def world_deal_ids(self) -> dict[str, str]:
        """{Opportunity Id: world deal_id} of the seeded opportunities (a migrated copy's is
        ``M...``); opportunities created later by ``mutate`` have none."""
        with self.lock:
            return dict(self.org.world_deals)

    def world_account_ids(self) -> dict[str, str]:
        """{Account Id: world account_id}: the company each Account was seeded from."""
        with self.lock:
            return dict(self.org.world_accounts)

    def jwt_credentials(self) -> dict[str, str]:
        """client_id, username and the private key of the connected app's certificate."""
        if self._private_pem is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._private_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            self._public_pem = (
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
        return {
            "client_id": self.client_id,
            "username": self.username,
            "private_key": self._private_pem,
        }

    @property
    def integration_user_id(self) -> str:
        return self.org.integration_user

    def expected_canonical(self, source_name: str) -> dict[str, list[Rec]]:
        with self.lock:
            return self.org.expected_canonical(source_name)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # ----- routes -------------------------------------------------------------------------
    def _register(self) -> None:
        self.route("POST", "/services/oauth2/token", self.token)
        for versions in ("/services/data", "/services/data/"):
            self.route("GET", versions, self.versions, label="/services/data/")
        for root in (f"{DATA}/sobjects", f"{DATA}/sobjects/"):
            self.route("GET", root, self.describe_global, label=f"{DATA}/sobjects/")
        for resource in ("query", "queryAll"):
            self.route("GET", f"{DATA}/{resource}", self.query, label=f"{DATA}/{resource}")
            self.route("GET", f"{DATA}/{resource}/", self.query, label=f"{DATA}/{resource}")
            self.route(
                "GET",
                f"{DATA}/{resource}/{{locator}}",
                self.query_more,
                label=f"{DATA}/{resource}/{{locator}}",
            )
        self.route("GET", f"{DATA}/sobjects/{{obj}}/describe", self.describe)
        self.route("GET", f"{DATA}/sobjects/{{obj}}/describe/", self.describe)
        self.route("GET", f"{DATA}/sobjects/{{obj}}/{{id}}", self.get_record)
        self.route("PATCH", f"{DATA}/sobjects/{{obj}}/{{id}}", self.patch_one)
        self.route("PATCH", f"{DATA}/composite/sobjects", self.patch_collection)
        self.route("POST", f"{DATA}/composite", self.composite)
        self.route("POST", f"{DATA}/jobs/query", self.bulk_create)
        self.route("GET", f"{DATA}/jobs/query", self.bulk_list)
        self.route("GET", f"{DATA}/jobs/query/{{id}}", self.bulk_status)
        self.route("PATCH", f"{DATA}/jobs/query/{{id}}", self.bulk_abort)
        self.route("DELETE", f"{DATA}/jobs/query/{{id}}", self.bulk_delete)
        self.route("GET", f"{DATA}/jobs/query/{{id}}/results", self.bulk_results)
        for limits in (f"{DATA}/limits", f"{DATA}/limits/"):
            self.route("GET", limits, self.limits, label=f"{DATA}/limits")

    # ----- vendor hooks ---------------------------------------------------------------------
    def check_auth(self, request: SandboxRequest) -> SandboxResponse | None:
        """The front end's checks first (the URI and header sizes), then the session."""
        with self.lock:
            self.path_log.append(
                request.path
                + "?"
                + "&".join(f"{k}={v}" for k, vs in request.query.items() for v in vs)
            )
        too_long = self.uri_too_long(request)
        if too_long is not None:
            return too_long
        if not request.path.startswith("/services/data/v"):
            return None  # the versions list answers without a session, as Salesforce's
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if token not in self.tokens:
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return None

    @staticmethod
    def uri_too_long(request: SandboxRequest) -> SandboxResponse | None:
        """414 for a request URI over 16,384 bytes, 431 when URI plus headers are."""
        uri = len(request.path.encode())
        if request.query:
            uri += 1 + len(urlencode(request.query, doseq=True))
        headers = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
        status = 414 if uri > MAX_URI_AND_HEADERS else 431
        if uri + headers <= MAX_URI_AND_HEADERS:
            return None
        return SandboxResponse(status, _TOO_LONG[status], content_type="text/html")

    def rate_limit(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path.startswith("/services/data") and self.api_usage >= self.daily_limit:
            return self.quota_exhausted_response(request)
        return None

    def quota_exhausted_response(self, request: SandboxRequest) -> SandboxResponse:
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def throttled_response(self, request: SandboxRequest) -> SandboxResponse:
        """Salesforce has no 429; too many concurrent long requests is its throttle."""
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")

    def server_error_response(self, request: SandboxRequest) -> SandboxResponse:
        return sf_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable.")

    def error_response(self, request: SandboxRequest, status: int, message: str) -> SandboxResponse:
        """A request the sandbox cannot serve: Salesforce's 404/405 for an unknown resource,
        else what Salesforce answers when it fails inside, a 500 in its error shape."""
        if status == 404:
            return self.not_found(request)
        return sf_error(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact "
            f"support: {secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} (sandbox)",
        )

    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        allowed = sorted(
            {method for method, regex, _, _ in self._routes if regex.match(request.path)}
        )
        if allowed:
            return sf_error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}",
            )
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def decorate(self, request: SandboxRequest, response: SandboxResponse) -> None:
        if not request.path.startswith("/services/data/v") or response.status in (401, *_TOO_LONG):
            return  # an unauthenticated call, or one the front end refused, is nobody's usage
        limited = (
            isinstance(response.body, list)
            and response.body
            and isinstance(response.body[0], dict)
            and (
                response.body[0].get("errorCode")
                in ("REQUEST_LIMIT_EXCEEDED", "INVALID_SESSION_ID")
            )
        )
        if response.status < 500 and not limited:
            self.api_usage += 1
        info = f"api-usage={self.api_usage}/{self.daily_limit}"
        if self.api_bursts:
            info += "; api-bursts=1/100"
        response.headers["Sforce-Limit-Info"] = info

    def mutate(self, spec: dict[str, Any]) -> dict[str, Any]:
        if "daily_limit" in spec:
            self.daily_limit = int(spec["daily_limit"])
        if "api_usage" in spec:
            self.api_usage = int(spec["api_usage"])
        if "lock_row_rate" in spec:
            self.lock_row_rate = float(spec["lock_row_rate"])
        modes = {"bulk_outcome", "locator_idle_s", "max_open_cursors"}
        for mode in modes & set(spec):
            setattr(self, mode, spec[mode])
        knobs = {"daily_limit", "api_usage", "lock_row_rate"} | modes
        if set(spec) <= knobs | {"seed"} and set(spec) & knobs:
            return {"daily_limit": self.daily_limit, "api_usage": self.api_usage}
        return self.org.mutate(spec, self.now())

    # ----- OAuth ------------------------------------------------------------------------------
    def token(self, request: SandboxRequest) -> SandboxResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")

        def refused(description: str, error: str = "invalid_grant") -> SandboxResponse:
            return SandboxResponse(400, {"error": error, "error_description": description})

        if grant == "refresh_token":
            if (
                form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
            ):
                return refused("invalid client credentials", "invalid_client")
            if form.get("refresh_token") != self.refresh_token:
                return refused("expired access/refresh token")
        elif grant == "client_credentials":
            if (
                form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
            ):
                return refused("invalid client credentials", "invalid_client")
        elif grant == JWT_GRANT:
            problem = self._check_assertion(form.get("assertion", ""))
            if problem:
                return refused(problem)
        else:
            return refused(f"grant type not supported: {grant}", "unsupported_grant_type")
        access = f"{self.org.org_id[:15]}!AR{secrets.token_urlsafe(48)}"
        self.tokens.add(access)
        base = self.base_url
        body = {
            "access_token": access,
            "instance_url": base,
            "id": f"{base}/id/{self.org.org_id}/{self.org.integration_user}",
            "token_type": "Bearer",
            "issued_at": str(int(self.now().timestamp() * 1000)),
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        if grant != JWT_GRANT:
            body["scope"] = "api refresh_token" if grant == "refresh_token" else "api"
        return SandboxResponse(200, body)

    def _check_assertion(self, assertion: str) -> str | None:
        import jwt

        if self._public_pem is None:
            return "the connected app has no certificate; call jwt_credentials() first"
        try:
            claims = jwt.decode(
                assertion,
                self._public_pem,
                algorithms=["RS256"],
                audience=[
                    "https://login.salesforce.com",
                    "https://test.salesforce.com",
                    self.base_url,
                ],
                issuer=self.client_id,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            return f"invalid assertion: {exc}"
        if claims["sub"] != self.username:
            return "user hasn't approved this consumer"
        if claims["exp"] > self.now().timestamp() + 300:
            return "invalid assertion: exp is more than 3 minutes ahead"
        return None

    # ----- SOQL -----------------------------------------------------------------------------------
    def _get(self, rec: Rec, obj: str, name: str) -> Any:
        if "." not in name:
            return rec.get(name)
        rel, _, child = name.partition(".")
        lookup, target = RELATIONS[obj][rel]
        parent = self.org.tables[target].get(rec.get(lookup) or "")
        return parent.get(child) if parent else None

    def _run(self, text: str, all_rows: bool) -> tuple[soql.Query, list[Rec]]:
        self.query_log.append(text)
        query = soql.parse(text, self.org.schema, RELATIONS, self.now())
        obj = query.obj
        rows = [
            r
            for r in self.org.iter_records(obj, all_rows=all_rows)
            if soql.matches(query.where, lambda n, r=r: self._get(r, obj, n))  # type: ignore[misc]
        ]
        if query.order:
            rows.sort(key=soql.order_key(query, lambda r, n: self._get(r, obj, n)))
        if query.is_aggregate:
            rows = soql.aggregate(query, rows, lambda r, n: self._get(r, obj, n))
        end = None if query.limit is None else query.offset + query.limit
        return query, rows[query.offset : end]

    def _render(self, query: soql.Query, rec: Rec, version: str) -> Rec:
        obj = query.obj
        if query.is_aggregate:
            return {"attributes": {"type": "AggregateResult"}} | {
                k: rest_value(v, "") for k, v in rec.items()
            }
        out: Rec = {
            "attributes": {
                "type": obj,
                "url": f"/services/data/{version}/sobjects/{obj}/{rec['Id']}",
            }
        }
        for name in query.fields:
            if "." in name:
                rel, _, child = name.partition(".")
                lookup, target = RELATIONS[obj][rel]
                parent = self.org.tables[target].get(rec.get(lookup) or "")
                if parent is None:
                    out[rel] = None
                    continue
                node = out.setdefault(
                    rel,
                    {
                        "attributes": {
                            "type": target,
                            "url": f"/services/data/{version}/sobjects/{target}/{parent['Id']}",
                        }
                    },
                )
                node[child] = rest_value(parent.get(child), self.org.schema[target][child])
            else:
                out[name] = rest_value(rec.get(name), self.org.schema[obj][name])
        return out

    def query(self, request: SandboxRequest) -> SandboxResponse:
        text = request.arg("q")
        if not text:
            return sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        all_rows = "/queryAll" in request.path
        try:
            query, rows = self._run(text, all_rows)
        except soql.SoqlError as exc:
            return sf_error(400, exc.code, exc.message)
        version = request.params["v"]
        if query.count_only:
            return SandboxResponse(200, {"totalSize": len(rows), "done": True, "records": []})
        # a snapshot, as Salesforce's cursor
        records = [self._render(query, r, version) for r in rows]
        cursor_id = "01g" + secrets.token_hex(8).upper()[:15]
        self._cursors[cursor_id] = ("queryAll" if all_rows else "query", records)
        self._cursor_used[cursor_id] = self.now()
        while self.max_open_cursors is not None and len(self._cursors) > self.max_open_cursors:
            self._close_cursor(next(iter(self._cursors)))  # the oldest is released
        return self._page(cursor_id, 0, self._batch_size(request), version)

    def _close_cursor(self, cursor_id: str) -> None:
        self._cursors.pop(cursor_id, None)
        self._cursor_used.pop(cursor_id, None)

    def _batch_size(self, request: SandboxRequest) -> int:
        options = request.headers.get("sforce-query-options", "")
        for part in options.split(","):
            key, _, value = part.strip().partition("=")
            if key == "batchSize" and value.isdigit():
                return min(2000, max(200, int(value)))
        return 2000

    def _page(self, cursor_id: str, offset: int, size: int, version: str) -> SandboxResponse:
        resource, records = self._cursors[cursor_id]
        chunk = records[offset : offset + size]
        done = offset + size >= len(records)
        body: Rec = {"totalSize": len(records), "done": done}
        if not done:
            body["nextRecordsUrl"] = (
                f"/services/data/{version}/{resource}/{cursor_id}-{offset + size}"
            )
        else:
            self._close_cursor(cursor_id)
        body["records"] = chunk
        return SandboxResponse(200, body)

    def query_more(self, request: SandboxRequest) -> SandboxResponse:
        cursor_id, _, offset = request.params["locator"].partition("-")
        used = self._cursor_used.get(cursor_id)
        if used and (self.now() - used).total_seconds() >= self.locator_idle_s:
            self._close_cursor(cursor_id)  # expired after inactivity
        if cursor_id not in self._cursors or not offset.isdigit():
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self._cursor_used[cursor_id] = self.now()
        return self._page(cursor_id, int(offset), self._batch_size(request), request.params["v"])

    # ----- Bulk API 2.0 ---------------------------------------------------------------------------
    def bulk_create(self, request: SandboxRequest) -> SandboxResponse:
        spec = request.json() or {}
        operation = spec.get("operation")
        if operation not in ("query", "queryAll"):
            return sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        try:
            query, rows = self._run(str(spec.get("query", "")), operation == "queryAll")
        except soql.SoqlError as exc:
            return sf_error(400, exc.code, exc.message)
        if query.is_aggregate or query.count_only or query.offset:
            return sf_error(
                400,
                "API_ERROR",
                "Aggregate functions, GROUP BY and OFFSET are not supported in Bulk API 2.0 queries",
            )
        job_id = "750" + secrets.token_hex(8).upper()[:15]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(query.fields)
        info = {
            "id": job_id,
            "operation": operation,
            "object": query.obj,
            "createdById": self.org.integration_user,
            "createdDate": rest_value(self.now(), "datetime"),
            "systemModstamp": rest_value(self.now(), "datetime"),
            "state": "UploadComplete",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        # The matched rows are kept by reference and written as CSV page by page: holding
        # every job's CSV text cost ~1 GB per 100k opportunities in the scale benchmark.
        self._jobs[job_id] = {
            "info": info,
            "header": out.getvalue(),
            "query": query,
            "rows": rows,
            "polls": 0,
            "outcome": self.bulk_outcome,
        }
        return SandboxResponse(200, dict(info))

    def _job(self, request: SandboxRequest) -> dict[str, Any] | None:
        return self._jobs.get(request.params["id"])

    def bulk_status(self, request: SandboxRequest) -> SandboxResponse:
        job = self._job(request)
        if job is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        job["polls"] += 1
        if job["info"]["state"] in RUNNING:  # the first poll sees it run, the next its end
            ending = job["outcome"] if job["polls"] > 1 else "InProgress"
            job["info"]["state"] = ending
            if ending == "Failed":
                job["info"]["errorMessage"] = (
                    "Failed to process query: QUERY_TIMEOUT: Your query request was running "
                    "for too long."
                )
        body = {
            **job["info"],
            "numberRecordsProcessed": len(job["rows"]),
            "retries": 0,
            "totalProcessingTime": 250,
        }
        return SandboxResponse(200, body)

    def bulk_list(self, request: SandboxRequest) -> SandboxResponse:
        """Every query job, newest last; one page (Salesforce pages at 1,000 jobs)."""
        return SandboxResponse(
            200,
            {
                "done": True,
                "records": [dict(job["info"]) for job in self._jobs.values()],
                "nextRecordsUrl": None,
            },
        )

    def bulk_abort(self, request: SandboxRequest) -> SandboxResponse:
        """Only ``{"state": "Aborted"}``, and only while the job runs, as Salesforce."""
        job = self._job(request)
        if job is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        state = (request.json() or {}).get("state")
        if state != "Aborted":
            return sf_error(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
        if job["info"]["state"] not in RUNNING:
            return sf_error(
                400, "INVALIDJOBSTATE", f"Job is already {job['info']['state']}; it cannot abort"
            )
        job["info"].update(state="Aborted", systemModstamp=rest_value(self.now(), "datetime"))
        return SandboxResponse(200, dict(job["info"]))

    def bulk_delete(self, request: SandboxRequest) -> SandboxResponse:
        job = self._job(request)
        if job is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if job["info"]["state"] in RUNNING:
            return sf_error(
                400,
                "API_ERROR",
                "Error encountered when deleting the job because the job is not terminated",
            )
        del self._jobs[request.params["id"]]
        return SandboxResponse(204)

    def bulk_results(self, request: SandboxRequest) -> SandboxResponse:
        job = self._jobs.get(request.params["id"])
        if job is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if job["info"]["state"] != "JobComplete":
            return sf_error(400, "API_ERROR", f"Job is {job['info']['state']}, not JobComplete")
        locator = request.arg("locator")
        offset = int(base64.b64decode(locator).decode()) if locator else 0
        size = int(request.arg("maxRecords") or 100_000)
        page = job["rows"][offset : offset + size]
        nxt = offset + size
        headers = {
            "Sforce-Locator": base64.b64encode(str(nxt).encode()).decode()
            if nxt < len(job["rows"])
            else "null",
            "Sforce-NumberOfRecords": str(len(page)),
        }
        return SandboxResponse(
            200,
            job["header"] + self._csv_lines(job["query"], page),
            headers,
            content_type="text/csv",
        )

    def _csv_lines(self, query: soql.Query, rows: list[Rec]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for rec in rows:
            writer.writerow([csv_value(self._get(rec, query.obj, f)) for f in query.fields])
        return out.getvalue()

    def limits(self, request: SandboxRequest) -> SandboxResponse:
        """The org's limits; DailyApiRequests counts this call too, as its Sforce-Limit-Info
        header does (both are read after the call is counted)."""
        used = self.api_usage + 1
        body = {name: {"Max": top, "Remaining": top} for name, top in OTHER_LIMITS.items()}
        body["DailyApiRequests"] = {"Max": self.daily_limit, "Remaining": self.daily_limit - used}
        jobs = len(self._jobs)
        body["DailyBulkV2QueryJobs"] = {"Max": 10_000, "Remaining": 10_000 - jobs}
        return SandboxResponse(200, dict(sorted(body.items())))

    def versions(self, request: SandboxRequest) -> SandboxResponse:
        """Every API version up to the org's: 31.0 is the oldest one still served."""
        newest = int(float(self.version))
        return SandboxResponse(
            200,
            [
                {
                    "label": release_label(n),
                    "url": f"/services/data/v{n}.0",
                    "version": f"{n}.0",
                }
                for n in range(31, newest + 1)
            ],
        )

    def _sobject_summary(self, obj: str, version: str) -> Rec:
        writable = obj == "Opportunity"
        base = f"/services/data/{version}/sobjects/{obj}"
        return {
            **SOBJECT_DEFAULTS,
            "name": obj,
            "label": obj,
            "labelPlural": f"{obj}s",
            "keyPrefix": KEY_PREFIX.get(obj),
            "createable": writable,
            "updateable": writable,
            "deletable": writable,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def describe_global(self, request: SandboxRequest) -> SandboxResponse:
        version = request.params["v"]
        return SandboxResponse(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    self._sobject_summary(obj, version) for obj in sorted(self.org.schema)
                ],
            },
        )

    def get_record(self, request: SandboxRequest) -> SandboxResponse:
        """``GET /sobjects/{type}/{id}``: every field, or those named in ``fields=``."""
        obj, rec_id = request.params["obj"], request.params["id"]
        if obj not in self.org.schema:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        rec = self.org.tables[obj].get(rec_id)
        if rec is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if rec.get("IsDeleted"):
            return sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
        wanted = request.arg("fields")
        query = soql.Query(obj, list(self.org.schema[obj]))
        if wanted:
            try:
                query = soql.parse(
                    f"SELECT {wanted} FROM {obj}", self.org.schema, RELATIONS, self.now()
                )
            except soql.SoqlError as exc:
                return sf_error(400, exc.code, exc.message)
        return SandboxResponse(200, self._render(query, rec, request.params["v"]))

    # ----- describe and writes --------------------------------------------------------------------
    def describe(self, request: SandboxRequest) -> SandboxResponse:
        obj = request.params["obj"]
        if obj not in self.org.schema:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        fields = [
            describe_field(obj, name, ftype, self._picklist(obj, name), self.org.label(obj, name))
            for name, ftype in self.org.schema[obj].items()
        ]
        body = {
            **self._sobject_summary(obj, request.params["v"]),
            "fields": fields,
            "recordTypeInfos": [],
            "childRelationships": [],
        }
        return SandboxResponse(200, body)

    def _picklist(self, obj: str, name: str) -> list[Rec]:
        """Opportunity.StageName lists the org's stages; the others their (value, label)
        pairs, none marked default."""
        if (obj, name) != ("Opportunity", "StageName"):
            pairs = self.org.picklists.get((obj, name), ())
            return [
                {
                    "active": True,
                    "defaultValue": False,
                    "label": label,
                    "validFor": None,
                    "value": value,
                }
                for value, label in pairs
            ]
        stages = sorted(self.org.tables["OpportunityStage"].values(), key=lambda s: s["SortOrder"])
        return [
            {
                "active": s["IsActive"],
                "defaultValue": False,
                "label": s["MasterLabel"],
                "validFor": None,
                "value": s["ApiName"],
            }
            for s in stages
        ]

    def _update(
        self, obj: str, rec_id: str, values: Rec, unmodified_since: str | None
    ) -> tuple[int, list[Rec] | None]:
        """One record update: (HTTP status, error list or None), as Salesforce decides it."""
        if obj != "Opportunity":
            return 400, [
                {
                    "statusCode": "INVALID_TYPE",
                    "message": f"sObject type '{obj}' is not updateable here",
                    "fields": [],
                }
            ]
        opp = self.org.tables["Opportunity"].get(rec_id)
        if opp is None:
            return 404, [
                {
                    "statusCode": "NOT_FOUND",
                    "message": "The requested resource does not exist",
                    "fields": [],
                }
            ]
        if opp["IsDeleted"]:
            return 400, [
                {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
            ]
        for name in values:
            if name not in self.org.schema["Opportunity"]:
                return 400, [
                    {
                        "statusCode": "INVALID_FIELD",
                        "message": f"No such column '{name}' on sobject of type Opportunity",
                        "fields": [name],
                    }
                ]
            if name not in UPDATEABLE:
                return 400, [
                    {
                        "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "message": f"Unable to create/update fields: {name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        "fields": [name],
                    }
                ]
        if "StageName" in values and values["StageName"] not in STAGE_INFO:
            return 400, [
                {
                    "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    "message": f"Stage: bad value for restricted picklist field: {values['StageName']}",
                    "fields": ["StageName"],
                }
            ]
        if unmodified_since:
            try:
                since = parsedate_to_datetime(unmodified_since)
            except (TypeError, ValueError):
                return 400, [
                    {
                        "statusCode": "MALFORMED_HEADER",
                        "message": "If-Unmodified-Since is not a valid HTTP date",
                        "fields": [],
                    }
                ]
            if opp["LastModifiedDate"] > since:
                return 412, [
                    {
                        "statusCode": "PRECONDITION_FAILED",
                        "message": "The requested resource has been modified since the If-Unmodified-Since date",
                        "fields": [],
                    }
                ]
        if self.chance(self.lock_row_rate):
            return 400, [
                {
                    "statusCode": "UNABLE_TO_LOCK_ROW",
                    "message": "unable to obtain exclusive access to this record",
                    "fields": [],
                }
            ]
        typed: Rec = {}
        for name, value in values.items():
            if self.org.schema["Opportunity"][name] == "date" and isinstance(value, str):
                value = date.fromisoformat(value)
            typed[name] = value
        self.org.update_opportunity(
            rec_id, typed, by=self.org.integration_user, at=self.now().replace(microsecond=0)
        )
        return 204, None

    def patch_one(self, request: SandboxRequest) -> SandboxResponse:
        status, errors = self._update(
            request.params["obj"],
            request.params["id"],
            request.json() or {},
            request.headers.get("if-unmodified-since"),
        )
        if errors is None:
            return SandboxResponse(204)
        return SandboxResponse(
            status,
            [
                {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                for e in errors
            ],
        )

    def patch_collection(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        records = body.get("records") or []
        if len(records) > 200:
            return sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        results = []
        for rec in records:
            rec = dict(rec)
            attrs = rec.pop("attributes", None) or {}
            rec_id = rec.pop("id", None) or rec.pop("Id", None)
            if not attrs.get("type") or not rec_id:
                results.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "INVALID_FIELD",
                                "message": "attributes.type and id are required",
                                "fields": [],
                            }
                        ],
                    }
                )
                continue
            status, errors = self._update(attrs["type"], rec_id, rec, None)
            results.append(
                {"id": rec_id, "success": True, "errors": []}
                if errors is None
                else {"success": False, "errors": errors}
            )
        if body.get("allOrNone") and any(not r["success"] for r in results):
            results = [
                r
                if not r["success"]
                else {
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                            "fields": [],
                        }
                    ],
                }
                for r in results
            ]
        return SandboxResponse(200, results)

    def composite(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        subs = body.get("compositeRequest") or []
        if len(subs) > 25:
            return sf_error(400, "INVALID_API_INPUT", "Maximum number of subrequests allowed is 25")
        out = []
        prefix = f"/services/data/v{self.version}/sobjects/"
        for sub in subs:
            url = str(sub.get("url", ""))
            headers = {k.lower(): v for k, v in (sub.get("httpHeaders") or {}).items()}
            if (
                sub.get("method") != "PATCH"
                or not url.startswith(prefix)
                or url[len(prefix) :].count("/") != 1
            ):
                out.append(
                    {
                        "body": [
                            {
                                "errorCode": "NOT_FOUND",
                                "message": "The requested resource does not exist",
                            }
                        ],
                        "httpHeaders": {},
                        "httpStatusCode": 404,
                        "referenceId": sub.get("referenceId"),
                    }
                )
                continue
            obj, rec_id = url[len(prefix) :].split("/")
            status, errors = self._update(
                obj, rec_id, sub.get("body") or {}, headers.get("if-unmodified-since")
            )
            out.append(
                {
                    "body": None
                    if errors is None
                    else [
                        {
                            "errorCode": e["statusCode"],
                            "message": e["message"],
                            "fields": e["fields"],
                        }
                        for e in errors
                    ],
                    "httpHeaders": {},
                    "httpStatusCode": status,
                    "referenceId": sub.get("referenceId"),
                }
            )
        return SandboxResponse(200, {"compositeResponse": out})
