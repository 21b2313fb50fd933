"""The accounts and deals resolution works on, read from every source's canonical tables.

Plain sqlalchemy Core selects, so the same code reads DuckDB and PostgreSQL. Deleted records
are left out. A deal's legacy id sits in ``custom_fields`` (JSON), whose SQL differs per
warehouse: the text of that column is filtered with LIKE and the value taken in Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from hub.warehouse.meta import dataset_name
from models.canonical import make_key


@dataclass(frozen=True, slots=True)
class AccountRecord:
    account_key: str
    source_name: str
    name: str | None = None
    domain: str | None = None
    created_at: float | None = None  # epoch seconds


@dataclass(frozen=True, slots=True)
class DealRecord:
    deal_key: str
    source_name: str
    source_deal_id: str
    name: str | None = None
    account_key: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    owner: str | None = None  # the owner's e-mail, lower case: native owner ids differ per CRM
    created_at: float | None = None  # epoch seconds
    closed_at: float | None = None  # epoch seconds
    status: str | None = None
    legacy_id: str | None = None


_BATCH = 20_000
_ACCOUNT_COLUMNS = ("account_key", "name", "domain", "created_at")
_DEAL_COLUMNS = (
    "deal_key",
    "source_deal_id",
    "name",
    "account_key",
    "account_id",
    "amount",
    "currency",
    "owner_id",
    "created_at",
    "closed_at",
    "status",
)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _columns(conn: sa.Connection, schema: str, table: str) -> set[str] | None:
    """The table's column names, or None when it does not exist. A probe query, not the
    inspector's column reflection, which duckdb_engine does not support on every version."""
    if not sa.inspect(conn).has_table(table, schema=schema):
        return None
    probe = conn.execute(
        sa.select(sa.text("*")).select_from(sa.table(table, schema=schema)).where(sa.false())
    )
    return {str(name).lower() for name in probe.keys()}  # noqa: SIM118


def _table(schema: str, name: str, present: set[str], wanted: Iterable[str]) -> sa.TableClause:
    """The wanted columns the table has, plus ``is_deleted`` when it has one."""
    names = [c for c in (*wanted, "is_deleted") if c in present]
    return sa.table(name, *(sa.column(c) for c in dict.fromkeys(names)), schema=schema)


def _wanted(table: Any, wanted: Iterable[str]) -> list[Any]:
    """The wanted columns in order; NULL for those the table lacks (an older load).
    ``created_at`` and ``closed_at`` come as epoch seconds: converting aware datetimes in Python costs more
    than the rest of reading a deal."""
    out: list[Any] = []
    for name in wanted:
        if name not in table.c:
            out.append(sa.null().label(name))
        elif name in ("created_at", "closed_at"):
            out.append(sa.cast(sa.extract("epoch", table.c[name]), sa.Float).label(name))
        else:
            out.append(table.c[name])
    return out


def _live(table: Any) -> list[sa.ColumnElement[bool]]:
    if "is_deleted" not in table.c:
        return []
    return [sa.not_(sa.func.coalesce(table.c.is_deleted, sa.false()))]


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> Iterator[Any]:
    """Rows fetched in large batches: row-by-row fetching dominates at 100k deals. The option
    goes on this one statement: set on the connection it would stay, and PostgreSQL would run
    the transform's later DDL through a server-side cursor."""
    result = conn.execute(query, execution_options={"yield_per": _BATCH})
    for batch in result.partitions():
        yield from batch


def read_accounts(conn: sa.Connection, sources: Sequence[str]) -> list[AccountRecord]:
    """Live accounts of every source that has an ``accounts`` table, in source order."""
    out: list[AccountRecord] = []
    for source in sources:
        schema = dataset_name(source)
        present = _columns(conn, schema, "accounts")
        if present is None or "account_key" not in present:
            continue
        table = _table(schema, "accounts", present, _ACCOUNT_COLUMNS)
        query = (
            sa.select(*_wanted(table, _ACCOUNT_COLUMNS))
            .where(*_live(table))
            .order_by(table.c.account_key)
        )
        for key, name, domain, created_at in _rows(conn, query):
            out.append(AccountRecord(key, source, name, domain, _float(created_at)))
    return out


def read_deals(
    conn: sa.Connection, sources: Sequence[str], legacy_id_field: str | None
) -> list[DealRecord]:
    """Live deals of every source, with their owner's e-mail and, when ``legacy_id_field``
    is set, that custom field's value."""
    out: list[DealRecord] = []
    for source in sources:
        out.extend(_source_deals(conn, source, legacy_id_field))
    return out


def _source_deals(
    conn: sa.Connection, source: str, legacy_id_field: str | None
) -> Iterator[DealRecord]:
    schema = dataset_name(source)
    present = _columns(conn, schema, "deals")
    if present is None or "deal_key" not in present:
        return
    deals = _table(schema, "deals", present, _DEAL_COLUMNS).alias("d")
    selected: list[Any] = _wanted(deals, _DEAL_COLUMNS)
    joined: Any = deals
    owner_columns = _columns(conn, schema, "owners") or set()
    if "owner_id" in present and {"source_owner_id", "email"} <= owner_columns:
        owners = _table(schema, "owners", owner_columns, ("source_owner_id", "email")).alias("o")
        # One e-mail per native owner id, whatever the owners table holds.
        emails = (
            sa.select(owners.c.source_owner_id, sa.func.min(owners.c.email).label("email"))
            .group_by(owners.c.source_owner_id)
            .subquery("e")
        )
        joined = deals.outerjoin(emails, emails.c.source_owner_id == deals.c.owner_id)
        selected.append(emails.c.email.label("owner_email"))
    else:
        selected.append(sa.null().label("owner_email"))
    query = sa.select(*selected).select_from(joined).where(*_live(deals)).order_by(deals.c.deal_key)
    legacy = _legacy_ids(conn, schema, present, legacy_id_field)
    for row in _rows(conn, query):
        (key, native_id, name, account_key, account_id, amount, currency, _owner_id,
         created_at, closed_at, status, owner) = row  # fmt: skip
        if account_key is None and account_id is not None:
            account_key = make_key(source, account_id)
        if amount is not None and not isinstance(amount, Decimal):
            amount = Decimal(str(amount))
        yield DealRecord(
            deal_key=key,
            source_name=source,
            source_deal_id=str(native_id) if native_id is not None else key.split(":", 1)[-1],
            name=name,
            account_key=account_key,
            amount=amount,
            currency=(currency.strip().upper() or None) if isinstance(currency, str) else None,
            owner=(owner.strip().lower() or None) if isinstance(owner, str) else None,
            created_at=_float(created_at),
            closed_at=_float(closed_at),
            status=status,
            legacy_id=legacy.get(key),
        )


def _legacy_ids(
    conn: sa.Connection, schema: str, present: set[str], field: str | None
) -> dict[str, str]:
    """deal_key -> the legacy id custom field, for the deals that carry one."""
    if not field or "custom_fields" not in present:
        return {}
    deals = _table(schema, "deals", present, ("deal_key", "custom_fields"))
    text = sa.cast(deals.c.custom_fields, sa.Text)
    query = sa.select(deals.c.deal_key, text).where(text.like(f'%"{field}"%'), *_live(deals))
    out: dict[str, str] = {}
    for key, raw in _rows(conn, query):
        value = legacy_value(raw, field)
        if value is not None:
            out[key] = value
    return out


def legacy_value(custom_fields: Any, field: str) -> str | None:
    """The field's value in a ``custom_fields`` JSON object (text or already parsed), as a
    string id: numbers lose a ``.0`` (a spreadsheet's 1234.0 is id 1234); blanks are none."""
    if isinstance(custom_fields, str):
        try:
            custom_fields = json.loads(custom_fields)
        except ValueError:
            return None
    if not isinstance(custom_fields, dict):
        return None
    value = custom_fields.get(field)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None
