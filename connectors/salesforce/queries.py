"""SOQL building and the read strategy: REST pages, split wide selects, or Bulk 2.0.

Salesforce caps URI plus headers at 16,384 bytes, so a SELECT with many custom fields is
cut into several queries over the same WHERE, each carrying ``Id`` and ``SystemModstamp``,
and joined on ``Id``. A row is kept only when every part saw the same ``SystemModstamp``;
a row edited between the parts is newer than the cursor and is read again next run.

A Bulk 2.0 query is a POST body, so it carries every field in one job whatever the URI
limit, as long as the SOQL stays under Salesforce's 100,000 characters. Bulk 2.0 queries
carry no ORDER BY (Salesforce: it turns off PK chunking, so large jobs
slow down and time out); their pages are :class:`BulkPage`. A Bulk job that does not
complete is replaced by REST paging of the same slice. A REST read whose locator expired
goes on with the same query restricted to rows after the last one read, in ORDER BY order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.salesforce.client import BulkJobFailed, LocatorExpired, Record, SalesforceClient
from connectors.salesforce.settings import MAX_SOQL_CHARS


def soql_datetime(value: datetime) -> str:
    """SOQL dateTime literal (unquoted), second precision, UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_soql(
    fields: Sequence[str], obj: str, where: str | None = None, order: str | None = None
) -> str:
    soql = f"SELECT {', '.join(fields)} FROM {obj}"
    if where:
        soql += f" WHERE {where}"
    if order:
        soql += f" ORDER BY {order}"
    return soql


def _split_fields(
    client: SalesforceClient, fields: Sequence[str], obj: str, where: str | None, all_rows: bool
) -> list[list[str]]:
    """Greedy chunks of the field list whose queries fit the URI limit."""
    limit = client.options.max_uri_bytes
    if client.soql_url_bytes(build_soql(fields, obj, where, "Id"), all_rows) <= limit:
        return [list(fields)]
    keys = [f for f in ("Id", "SystemModstamp") if f in fields]
    chunks: list[list[str]] = []
    current = list(keys)
    for field in fields:
        if field in keys:
            continue
        trial = [*current, field]
        if (
            len(current) > len(keys)
            and client.soql_url_bytes(build_soql(trial, obj, where, "Id"), all_rows) > limit
        ):
            chunks.append(current)
            current = [*keys, field]
        else:
            current = trial
    chunks.append(current)
    return chunks


def _joined(parts: list[list[Record]], has_modstamp: bool) -> list[Record]:
    merged: dict[str, Record] = {}
    counts: dict[str, int] = {}
    stale: set[str] = set()
    for part in parts:
        for row in part:
            row_id = row["Id"]
            seen = merged.get(row_id)
            if seen is None:
                merged[row_id] = dict(row)
            else:
                if has_modstamp and seen.get("SystemModstamp") != row.get("SystemModstamp"):
                    stale.add(row_id)
                seen.update(row)
            counts[row_id] = counts.get(row_id, 0) + 1
    return [r for i, r in merged.items() if counts[i] == len(parts) and i not in stale]


def select(
    client: SalesforceClient,
    fields: Sequence[str],
    obj: str,
    *,
    where: str | None = None,
    all_rows: bool = False,
    first_sync: bool = False,
    order: str = "Id",
) -> Iterator[list[Record]]:
    """Pages of ``obj`` rows; Bulk 2.0 for large first syncs, REST otherwise. ``order``
    is the ORDER BY (``SystemModstamp, Id`` lets a cursor advance page by page).

    A Bulk query travels in a POST body, so a SELECT too wide for one REST URI is still
    one Bulk job (up to the 100,000-character SOQL limit); in ``auto`` mode such a read
    asks ``SELECT COUNT()`` first instead of reading a first page it could not send."""
    opts = client.options
    chunks = _split_fields(client, fields, obj, where, all_rows)
    bulk_soql = build_soql(fields, obj, where)
    if first_sync and opts.bulk != "never" and len(bulk_soql) <= MAX_SOQL_CHARS:
        rest: Iterator[list[Record]] | None = None
        bulk = opts.bulk == "always"
        if opts.bulk == "auto":
            if len(chunks) == 1:
                soql = build_soql(fields, obj, where, order)
                total, rest = client.first_page(soql, all_rows=all_rows)
            else:
                total = client.count(build_soql(["COUNT()"], obj, where), all_rows=all_rows)
            bulk = total > opts.bulk_threshold
        if bulk:
            try:
                pages = client.bulk_query(bulk_soql, all_rows=all_rows)
            except BulkJobFailed as exc:
                client.stats.warnings.append(f"{exc}; read by REST instead")
            else:
                if rest is not None:
                    rest.close()  # type: ignore[attr-defined]  # a generator
                yield from pages
                return
        if rest is not None:
            yield from _rest_pages(client, fields, obj, where, order, all_rows, rest)
            return
    if len(chunks) > 1:
        parts = [
            [
                row
                for page in client.query(build_soql(c, obj, where, order), all_rows=all_rows)
                for row in page
            ]
            for c in chunks
        ]
        yield _joined(parts, "SystemModstamp" in fields)
        return
    yield from _rest_pages(client, fields, obj, where, order, all_rows, None)


def _rest_pages(
    client: SalesforceClient,
    fields: Sequence[str],
    obj: str,
    where: str | None,
    order: str,
    all_rows: bool,
    pages: Iterator[list[Record]] | None,
) -> Iterator[list[Record]]:
    """REST pages in ``order``; when the locator has expired, the same query again for the
    rows after the last one read, so nothing is lost or read twice."""
    keys = [key.strip() for key in order.split(",")]
    if pages is None:
        pages = client.query(build_soql(fields, obj, where, order), all_rows=all_rows)
    last: Record | None = None
    while True:
        try:
            for page in pages:
                last = page[-1] if page else last
                yield page
            return
        except LocatorExpired as exc:
            if last is None:
                raise
            client.stats.warnings.append(f"{exc}; {obj} read on from its last row")
            after = _after(keys, last)
            clause = f"({where}) AND ({after})" if where else after
            pages = client.query(build_soql(fields, obj, clause, order), all_rows=all_rows)


def _after(keys: list[str], row: Record) -> str:
    """SOQL for the rows after ``row`` in ``ORDER BY keys``: the first key greater, or it
    equal and the next key greater, and so on."""
    terms, equal = [], ""
    for key in keys:
        value = _literal(row[key])
        terms.append(f"({equal}{key} > {value})")
        equal += f"{key} = {value} AND "
    return " OR ".join(terms)


def _literal(value: Any) -> str:
    """A REST value as a SOQL literal: datetimes unquoted, text quoted and escaped."""
    text = str(value)
    try:
        return soql_datetime(datetime.fromisoformat(text)) if "T" in text else _quoted(text)
    except ValueError:
        return _quoted(text)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def id_batches(
    client: SalesforceClient, ids: Iterable[str], head: str, *, all_rows: bool
) -> Iterator[list[str]]:
    """Id lists for ``WHERE x IN (...)`` sized by the option and the URI limit."""
    per_query = client.options.history_ids_per_query
    budget = client.options.max_uri_bytes - client.soql_url_bytes(head, all_rows) - 16
    batch: list[str] = []
    used = 0
    for value in ids:
        cost = len(value) * 3 + 9  # quotes and comma, percent-encoded
        if batch and (len(batch) >= per_query or used + cost > budget):
            yield batch
            batch, used = [], 0
        batch.append(value)
        used += cost
    if batch:
        yield batch
