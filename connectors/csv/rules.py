"""Field rules: a table's checks and normalisations, each written for a row and for a block.

The row half is the definition: it drops a bad optional value (appending ``(column, value,
reason)`` to ``dropped``) or skips the row (:class:`RowRejected`). The block half gives the
same Arrow columns or raises :class:`NotClean` wherever a row would be dropped or skipped,
so such a block goes row by row and its quarantine records name the exact line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from connectors.csv import fast
from connectors.csv.fast import NotClean
from connectors.csv.options import DealsFile
from connectors.csv.rows import RowRejected
from connectors.values import web_domain
from models.canonical import DEAL_STATUSES

if TYPE_CHECKING:
    from connectors.csv.driver import FileRead

Dropped = list[tuple[str, str, str]]

STATUS_ALIASES = {
    "closed won": "won",
    "closed lost": "lost",
    "closedwon": "won",
    "closedlost": "lost",
    "active": "open",
    "in progress": "open",
}
ACTIVITY_TYPE_SYNONYMS = {
    "call": "call", "phone": "call", "phone call": "call", "calls": "call", "log a call": "call",
    "email": "email", "e-mail": "email", "mail": "email", "emails": "email",
    "meeting": "meeting", "meetings": "meeting", "event": "meeting", "demo": "meeting",
    "lunch": "meeting",
    "note": "note", "notes": "note", "comment": "note",
    "task": "task", "tasks": "task", "to-do": "task", "todo": "task", "deadline": "task",
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """One field's rule: ``row`` on a row's values, ``block`` on a block's columns."""

    row: Callable[[dict[str, Any], FileRead, Dropped], None]
    block: Callable[[dict[str, Any], int, FileRead], None]


def normalize_status(value: str | None) -> str:
    status = (value or "open").strip().lower()
    status = STATUS_ALIASES.get(status, status)
    if status not in DEAL_STATUSES:
        raise RowRejected(
            "status",
            value,
            f"status {value!r} is not one of {', '.join(DEAL_STATUSES)}; map it under value_maps.status",
        )
    return status


def _status_row(values: dict[str, Any], read: FileRead, dropped: Dropped) -> None:
    from_stage = cast(DealsFile, read.file).status_from_stage
    stage_id = values.get("stage_id")
    if values.get("status") is None and stage_id in from_stage:
        values["status"] = from_stage[stage_id]
    values["status"] = normalize_status(values.get("status"))


def _status_block(values: dict[str, Any], rows: int, read: FileRead) -> None:
    from_stage = cast(DealsFile, read.file).status_from_stage
    stage_id, status = values.get("stage_id"), values.get("status")
    if from_stage and stage_id is not None:
        by_stage = fast.lookup(stage_id, dict(from_stage), pa.string())
        status = by_stage if status is None else pc.coalesce(status, by_stage)
    if status is None:
        values["status"] = fast.constant("open", rows, pa.string())
        return
    status = fast.trim(pc.fill_null(status, "open"))
    fast.require_ascii(status)
    status = pc.ascii_lower(status)
    status = pc.coalesce(fast.lookup(status, STATUS_ALIASES, pa.string()), status)
    if not pc.all(pc.is_in(status, value_set=pa.array(DEAL_STATUSES))).as_py():
        raise NotClean("status")
    values["status"] = status


def _drop(name: str, reason: str, values: dict[str, Any], read: FileRead, dropped: Dropped) -> None:
    """The row loads without the value of ``name``; its quarantine record says why."""
    dropped.append((read.reader.column_of(name) or name, str(values[name]), reason))
    values[name] = None


def _amount_row(values: dict[str, Any], read: FileRead, dropped: Dropped) -> None:
    amount, highest = values.get("amount"), read.options.max_amount
    if amount is not None and amount < 0:
        _drop("amount", "negative amount; the row was loaded without it", values, read, dropped)
    elif amount is not None and amount > highest:
        reason = f"amount above max_amount {highest:,.0f}; loaded without it"
        _drop("amount", reason, values, read, dropped)


def _amount_block(values: dict[str, Any], rows: int, read: FileRead) -> None:
    amount = values.get("amount")
    if amount is not None and amount.null_count < rows:
        low, high = pc.min_max(amount).values()
        if low.as_py() < 0 or high.as_py() > read.options.max_amount:
            raise NotClean("amount")


def _probability_row(values: dict[str, Any], read: FileRead, dropped: Dropped) -> None:
    value = values.get("probability")
    if value is None:
        return
    if value > 1:
        value = value / 100  # exports write 35 for 35 %
    if 0 <= value <= 1:
        values["probability"] = value
    else:
        reason = "probability outside 0-100 %; the row was loaded without it"
        _drop("probability", reason, values, read, dropped)


def _probability_block(values: dict[str, Any], rows: int, read: FileRead) -> None:
    probability = values.get("probability")
    if probability is not None and probability.null_count < rows:
        probability = pc.if_else(
            pc.greater(probability, 1), pc.divide(probability, 100.0), probability
        )
        low, high = pc.min_max(probability).values()
        if low.as_py() < 0 or high.as_py() > 1:
            raise NotClean("probability")
        values["probability"] = probability


def _currency_row(values: dict[str, Any], read: FileRead, dropped: Dropped) -> None:
    if not values.get("currency"):
        return
    currency = str(values["currency"]).strip().upper()
    if len(currency) == 3 and currency.isalpha():
        values["currency"] = currency
    else:
        reason = "not a 3-letter currency code; the row was loaded without it"
        _drop("currency", reason, values, read, dropped)


def _currency_block(values: dict[str, Any], rows: int, read: FileRead) -> None:
    currency = values.get("currency")
    if currency is not None and currency.null_count < rows:
        currency = fast.trim(currency)
        if not pc.all(pc.match_substring_regex(currency.drop_null(), r"^[A-Za-z]{3}$")).as_py():
            raise NotClean("currency")
        values["currency"] = pc.ascii_upper(currency)


def _activity_type_row(values: dict[str, Any], read: FileRead, dropped: Dropped) -> None:
    value = values.get("type")
    values["type"] = (
        ACTIVITY_TYPE_SYNONYMS.get(value.strip().lower(), "other") if value else "other"
    )


def _activity_type_block(values: dict[str, Any], rows: int, read: FileRead) -> None:
    kind = values.get("type")
    if kind is None:
        values["type"] = fast.constant("other", rows, pa.string())
        return
    kind = fast.trim(kind)
    fast.require_ascii(kind.drop_null())
    values["type"] = pc.fill_null(
        fast.lookup(pc.ascii_lower(kind), ACTIVITY_TYPE_SYNONYMS, pa.string()), "other"
    )


def _domain_row(values: dict[str, Any], read: FileRead, dropped: Dropped) -> None:
    given = values.get("domain")
    domain = web_domain(given)
    if given is not None and domain is None:
        reason = "not a web domain (such as acme.com); the row was loaded without it"
        _drop("domain", reason, values, read, dropped)
    values["domain"] = domain or web_domain(values.get("website"))


def _domain_block(values: dict[str, Any], rows: int, read: FileRead) -> None:
    given, website = values.get("domain"), values.get("website")
    domain = None
    if given is not None:
        domain = _per_value(given, web_domain)
        if domain.null_count != given.null_count:
            raise NotClean("domain")
    from_website = None if website is None else _per_value(website, web_domain)
    if domain is None or from_website is None:
        values["domain"] = domain if from_website is None else from_website
    else:
        values["domain"] = pc.coalesce(domain, from_website)


def _per_value(column: pa.Array, function: Callable[[Any], str | None]) -> pa.Array:
    """``function`` of each value, called once per distinct value (nulls stay null)."""
    encoded = pc.dictionary_encode(column)
    results = pa.array([function(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(results, encoded.indices)


STATUS = Rule(_status_row, _status_block)  # status_from_stage, aliases; unknown: row skipped
AMOUNT = Rule(_amount_row, _amount_block)  # negative or above max_amount: dropped
PROBABILITY = Rule(_probability_row, _probability_block)  # 0-1 or 0-100; else dropped
CURRENCY = Rule(_currency_row, _currency_block)  # a 3-letter code, upper case; else dropped
ACTIVITY_TYPE = Rule(_activity_type_row, _activity_type_block)  # synonyms; unknown: other
DOMAIN = Rule(_domain_row, _domain_block)  # the domain column, else the website's; web_domain
