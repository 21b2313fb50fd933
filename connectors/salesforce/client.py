"""Talking to one org: auth, error classes, the daily allocation, SOQL paging and Bulk 2.0.

Salesforce has no per-second throttle and no 429 for the daily allocation: it reports usage
in ``Sforce-Limit-Info`` on every response and answers 403 ``REQUEST_LIMIT_EXCEEDED`` once
the org's rolling 24 h allocation is gone. The allocation is shared by every integration
in the org, so the client budgets its share (``max_daily_share``) from that header.

A REST query locator can expire (idle time; before API 56.0 also a cap of 10 open cursors
per user): :class:`LocatorExpired` tells the reader to query again from where it was. A
Bulk 2.0 query job that ends ``Failed`` or ``Aborted`` or outlives ``bulk_timeout_s`` is
aborted and deleted, and :class:`BulkJobFailed` tells the reader to use REST instead.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import requests

from connectors.http import Action, ApiClient, DailyBudget, RequestStats, Verdict, clock
from connectors.salesforce.auth import Token, TokenSource
from connectors.salesforce.options import SalesforceOptions
from connectors.salesforce.settings import BOOLEAN_FIELDS
from models.errors import AuthError, QuotaExhausted, RetriesExhausted, SourceError

Record = dict[str, Any]
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")  # no '$': newer orgs append '; api-bursts=x/y'
_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT"}


def parse_limit_info(value: str | None) -> tuple[int, int] | None:
    """``api-usage=N/M`` (optionally followed by ``; api-bursts=x/y``) -> (used, limit)."""
    match = _USAGE.search(value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def error_summary(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message) from Salesforce's ``[{message, errorCode, fields}]`` bodies."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "")), str(body[0].get("message", ""))
    if isinstance(body, dict):
        return str(body.get("errorCode") or body.get("error", "")), str(body.get("message", ""))
    return "", str(body)[:200]


def classify(response: requests.Response) -> Verdict:
    status = response.status_code
    if status < 300:
        return Verdict(Action.OK)
    code, message = error_summary(response)
    reason = f"{code}: {message}" if code else message
    if status == 401:
        return Verdict(Action.REFRESH_AUTH, reason=reason)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        if "concurrent" in message.lower():
            return Verdict(Action.RETRY, delay_s=20.0, reason=reason)
        return Verdict(
            Action.STOP,
            reason=f"the org's daily API allocation is used up ({message}); state is saved, "
            "run 'hub sync' again once the rolling 24 h usage drops",
        )
    if status in (406, 420, 429) or status >= 500 or code in _TRANSIENT_CODES:
        return Verdict(Action.RETRY, reason=reason or f"HTTP {status}")
    return Verdict(Action.FAIL, reason=reason)


class LocatorExpired(SourceError):
    """``INVALID_QUERY_LOCATOR``: the server-side cursor is gone; query again from the
    last row read."""


class BulkJobFailed(SourceError):
    """A Bulk 2.0 query job that will not complete (already aborted and deleted): read the
    same slice by REST."""


class BulkPage(list[Record]):
    """A page of Bulk 2.0 results. Unordered (a Bulk query has no ORDER BY: it would turn
    off PK chunking), so a cursor may move only after the last page."""


class SalesforceClient:
    """An authenticated session on the org's instance, with SOQL and Bulk 2.0 helpers."""

    def __init__(
        self,
        options: SalesforceOptions,
        credential: Callable[[str], str | None],
        stats: RequestStats | None = None,
    ) -> None:
        self.options = options
        self.stats = stats or RequestStats()
        self.tokens = TokenSource(
            login_url=options.login_url,
            flow=options.auth_flow,
            credential=credential,
            stats=self.stats,
            jwt_audience=options.jwt_audience,
        )
        self.budget = DailyBudget(options.max_daily_share, vendor="salesforce")
        self._token: Token | None = None
        self._api: ApiClient | None = None
        self.data_path = f"/services/data/v{options.api_version}"
        self.last_total_size = 0

    # ----- session ----------------------------------------------------------------------
    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._token = self.tokens.fetch()
            self._api = ApiClient(
                self._token.instance_url,
                vendor="salesforce",
                classify=classify,
                auth_headers=self._auth_headers,
                refresh_auth=self._refresh,
                budget=self.budget,
                observe=self._observe,
                stats=self.stats,
            )
            self._api.add_secret(self._token.access_token)
        return self._api

    @property
    def user_id(self) -> str | None:
        """The integration user (whose writes are the hub's own)."""
        _ = self.api
        return self.options.integration_user_id or (self._token.user_id if self._token else None)

    def _auth_headers(self) -> dict[str, str]:
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.access_token}"}

    def _refresh(self) -> None:
        self._token = self.tokens.fetch()
        assert self._api is not None
        self._api.add_secret(self._token.access_token)

    def _observe(self, response: requests.Response) -> None:
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage:
            used, limit = usage
            self.budget.observe(limit, limit - used)

    # ----- REST SOQL --------------------------------------------------------------------
    def soql_url_bytes(self, soql: str, all_rows: bool) -> int:
        resource = "queryAll" if all_rows else "query"
        return len(f"{self.api.base_url}{self.data_path}/{resource}/?{urlencode({'q': soql})}")

    def query(self, soql: str, *, all_rows: bool = False) -> Iterator[list[Record]]:
        """Pages of records; ``all_rows`` uses /queryAll so recycle-bin rows come too."""
        resource = "queryAll" if all_rows else "query"
        headers = {"Sforce-Query-Options": f"batchSize={self.options.page_size}"}
        page = self.api.get_json(
            f"{self.data_path}/{resource}/",
            params={"q": soql},
            headers=headers,
            endpoint=f"{self.data_path}/{resource}",
        )
        self.last_total_size = int(page.get("totalSize") or 0)
        while True:
            yield page["records"]
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            try:
                page = self.api.get_json(
                    next_url, headers=headers, endpoint=f"{self.data_path}/{resource}/{{locator}}"
                )
            except SourceError as exc:
                if "INVALID_QUERY_LOCATOR" in str(exc):
                    raise LocatorExpired(str(exc)) from None
                raise

    def count(self, soql: str, *, all_rows: bool) -> int:
        """``totalSize`` of a ``SELECT COUNT() ...`` query (one request, no records)."""
        for _ in self.query(soql, all_rows=all_rows):
            pass
        return self.last_total_size

    def describe(self, obj: str) -> dict[str, Any]:
        """``GET /sobjects/{obj}/describe``: the object's fields, types and picklists. An
        object the integration user may not read answers 404; the error says so."""
        try:
            return self.api.get_json(  # type: ignore[no-any-return]
                f"{self.data_path}/sobjects/{obj}/describe",
                endpoint=f"{self.data_path}/sobjects/{{obj}}/describe",
            )
        except (QuotaExhausted, AuthError, RetriesExhausted):
            raise
        except SourceError as exc:
            raise SourceError(
                f"{exc}; the hub reads the {obj} describe to type the fields it keeps: "
                f"grant the integration user Read on {obj}"
            ) from None

    def first_page(self, soql: str, *, all_rows: bool) -> tuple[int, Iterator[list[Record]]]:
        """(totalSize, pages) so a caller can switch to Bulk before paging on."""
        pages = self.query(soql, all_rows=all_rows)
        first = next(pages)
        total = self.last_total_size

        def chained() -> Iterator[list[Record]]:
            yield first
            yield from pages

        return total, chained()

    # ----- Bulk API 2.0 ------------------------------------------------------------------
    def bulk_query(self, soql: str, *, all_rows: bool = False) -> Iterator[BulkPage]:
        """Run a Bulk 2.0 query job to its end, then its CSV results page by page (by
        ``Sforce-Locator``). Raises :class:`BulkJobFailed` before any page when the job
        fails, is aborted or runs past ``bulk_timeout_s``; the job is deleted then."""
        jobs = f"{self.data_path}/jobs/query"
        job = self.api.post_json(
            jobs,
            json={
                "operation": "queryAll" if all_rows else "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
            endpoint=jobs,
        )
        job_path, job_label = f"{jobs}/{job['id']}", f"{jobs}/{{id}}"
        deadline = clock.now() + self.options.bulk_timeout_s
        delay = 0.5
        while job.get("state") != "JobComplete":
            ended = job.get("state") in ("Failed", "Aborted")
            if ended or clock.now() >= deadline:
                if not ended:
                    self.api.request(
                        "PATCH", job_path, json={"state": "Aborted"}, endpoint=job_label
                    )
                self.api.request("DELETE", job_path, endpoint=job_label)
                why = (
                    f"ended {job['state']}: {job.get('errorMessage', 'no message')}"
                    if ended
                    else f"still {job.get('state')} after {self.options.bulk_timeout_s} s"
                )
                raise BulkJobFailed(f"salesforce: Bulk 2.0 query job {job['id']} {why}")
            clock.sleep(delay)
            delay = min(delay * 2, 10.0)
            job = self.api.get_json(job_path, endpoint=job_label)
        return self._bulk_results(f"{job_path}/results")

    def _bulk_results(self, path: str) -> Iterator[BulkPage]:
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": self.options.bulk_page_records}
            if locator:
                params["locator"] = locator
            response = self.api.request(
                "GET", path, params=params, endpoint=f"{self.data_path}/jobs/query/{{id}}/results"
            )
            text = io.StringIO(response.content.decode("utf-8"))
            yield BulkPage(_typed(row) for row in csv.DictReader(text))
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return


def _typed(row: dict[str, str]) -> Record:
    """A Bulk CSV row in REST's shape: nulls, booleans and nested relationship fields."""
    out: Record = {}
    for key, raw in row.items():
        value: Any = None if raw == "" else raw
        if key in BOOLEAN_FIELDS and value is not None:
            value = value == "true"
        if "." in key:
            parent, _, child = key.partition(".")
            nested = out.setdefault(parent, {})
            if isinstance(nested, dict):
                nested[child] = value
        else:
            out[key] = value
    for key, value in list(out.items()):
        if isinstance(value, dict) and all(v is None for v in value.values()):
            out[key] = None  # REST gives null for an empty lookup, not an empty object
    return out
