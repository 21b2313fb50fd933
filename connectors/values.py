"""Optional values from CRM APIs, checked the same way in every API connector.

The rule (docs/architecture.md, connectors/csv/README.md "Bad input"): a bad optional
value (amount, probability, date, timestamp) is dropped from an otherwise loaded record
and kept in the source's ``quarantine`` table with the field it came from and why. The
parsers here raise :class:`BadValue` with that reason; :class:`BadValues` collects them for
one record and turns them into ``QuarantinedRecord`` rows.

Policy shared with the CSV connector: amounts must be finite, not negative and at most
``MAX_AMOUNT`` (1e12, beyond any real deal and far inside the warehouse's DECIMAL(38,9));
probabilities are 0-1 after the vendor's scale (Salesforce and Pipedrive send 0-100).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, overload

from models.canonical import QuarantinedRecord

T = TypeVar("T")

MAX_AMOUNT = Decimal(10**12)
_SCALE = 9  # the warehouse keeps DECIMAL(38, 9)


class BadValue(ValueError):
    """A value that cannot be loaded; ``str(exc)`` is the reason a person can act on."""


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """An aware UTC timestamp; a naive one is taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def parse_amount(raw: Any, *, max_abs: Decimal | float = MAX_AMOUNT) -> Decimal | None:
    """A deal amount: ``None`` when absent, else a finite, non-negative Decimal <= max_abs."""
    if _empty(raw):
        return None
    if isinstance(raw, bool):
        raise BadValue(f"amount is not a number: {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise BadValue(f"amount is not a number: {raw!r}") from None
    if not value.is_finite():
        raise BadValue(f"amount is not a finite number: {raw!r}")
    if value < 0:
        raise BadValue("negative amount; the deal was loaded without it")
    if value > Decimal(str(max_abs)):
        raise BadValue(f"amount above {float(max_abs):,.0f}; the deal was loaded without it")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_SCALE:  # more digits than the warehouse keeps
        value = round(value, _SCALE)
    return value


def parse_probability(raw: Any, *, percent: bool = False) -> float | None:
    """A probability, 0-1 canonical; ``percent=True`` for vendors that send 0-100."""
    if _empty(raw):
        return None
    if isinstance(raw, bool):
        raise BadValue(f"probability is not a number: {raw!r}")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise BadValue(f"probability is not a number: {raw!r}") from None
    if value != value:  # NaN
        raise BadValue(f"probability is not a number: {raw!r}")
    scaled = value / 100.0 if percent else value
    if not 0 <= scaled <= 1:
        span = "0-100" if percent else "0-1"
        raise BadValue(f"probability outside {span}; the deal was loaded without it")
    return scaled


def parse_percent(raw: Any) -> float | None:
    """A deal probability sent as 0-100 (Salesforce, Pipedrive): checked, then 0-1 with
    six digits, so ``7`` reads ``0.07`` and not ``0.07000000000000001``."""
    scaled = parse_probability(raw, percent=True)
    return None if scaled is None else round(scaled, 6)


def stage_probability(raw: Any, *, percent: bool) -> float | None:
    """A stage's default probability: metadata, so unchecked (only deal values are
    quarantined); 0-1, from 0-100 when ``percent``."""
    if _empty(raw):
        return None
    value = float(raw)
    return round(value / 100.0, 6) if percent else value


def checked_value(parse: Callable[[Any], T | None], what: str) -> Callable[[Any], T | None]:
    """Wrap a vendor parser (which raises ValueError & co.) so it raises BadValue."""

    def run(raw: Any) -> T | None:
        if _empty(raw):
            return None
        try:
            return parse(raw)
        except BadValue:
            raise
        except (ValueError, TypeError, OverflowError, ArithmeticError, StopIteration):
            raise BadValue(f"not a {what}: {str(raw)[:100]!r}") from None

    return run


def lenient(parse: Callable[[Any], T | None]) -> Callable[[Any], T | None]:
    """A parser returning ``None`` instead of raising: for values nobody quarantines
    (cursors, history entries) where one unreadable stamp must not stop a source."""

    def run(raw: Any) -> T | None:
        try:
            return parse(raw)
        except (ValueError, TypeError, OverflowError, ArithmeticError, StopIteration):
            return None

    return run


def to_date(parse_ts: Callable[[Any], datetime | None]) -> Callable[[Any], date | None]:
    """A date parser from a timestamp parser (``YYYY-MM-DD`` first, then timestamps)."""

    def run(raw: Any) -> date | None:
        if isinstance(raw, datetime):
            return raw.astimezone(UTC).date()
        if isinstance(raw, date):
            return raw
        text = str(raw).strip()
        if len(text) == 10:
            return date.fromisoformat(text)
        ts = parse_ts(text)
        return ts.date() if ts else None

    return run


class BadValues:
    """Checks one record's optional values; what fails becomes a quarantine row."""

    def __init__(
        self, source: str, crm: str, entity: str, record_id: str | None, location: str
    ) -> None:
        self.source, self.crm, self.entity = source, crm, entity
        self.record_id, self.location = record_id, location
        self.rows: list[dict[str, Any]] = []

    def get(self, field: str, raw: Any, parse: Callable[[Any], T | None]) -> T | None:
        """``parse(raw)``, or ``None`` (and a quarantine row naming ``field``) when bad."""
        try:
            return parse(raw)
        except BadValue as exc:
            self.add(field, raw, str(exc))
            return None

    def add(self, field: str | None, raw: Any, reason: str) -> None:
        self.rows.append(
            quarantine_row(
                self.source,
                self.crm,
                self.entity,
                self.record_id,
                self.location,
                reason,
                field,
                raw,
            )
        )


def quarantine_row(
    source: str,
    crm: str,
    entity: str,
    record_id: str | None,
    location: str,
    reason: str,
    column: str | None = None,
    value: Any = None,
) -> dict[str, Any]:
    return QuarantinedRecord(
        source_name=source,
        crm=crm,
        entity=entity,
        record_id=record_id,
        location=location,
        column_name=column,
        value=None if value is None else str(value)[:500],
        reason=reason[:1000],
        quarantined_at=datetime.now(UTC),
    ).model_dump()


# ----- values a writer reads back ---------------------------------------------------------------


def same_value(a: Any, b: Any) -> bool:
    """Equal as a CRM stores a value the hub wrote: empty (``None`` or ``""``) only equals
    empty, numbers compare as decimals (``0.5`` equals ``"0.50"``, since changelogs and
    histories hand numbers back as text), anything else as text.

    Every writer asks this when it compares what a deal holds with what it sent or read
    before. ``hub.push.normalize.same`` is the stricter, field-aware rule the plan uses on
    hub field names; a writer compares vendor property names, so it cannot know which of
    them are numeric and treats every number-looking pair as numbers."""
    if a in (None, "") or b in (None, ""):
        return a in (None, "") and b in (None, "")
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except ArithmeticError:
        return str(a) == str(b)


# ----- accounts and custom fields -------------------------------------------------------------


def web_domain(website: Any) -> str | None:
    """The host of a website as CRMs hold it ('https://www.Acme.com/about', 'acme.com'),
    lower case and without 'www.'; ``None`` for anything that is not a host name.

    Every connector fills ``Account.domain`` through this one function, so cross-CRM account
    resolution compares like with like."""
    if _empty(website) or not isinstance(website, str):
        return None
    text = website.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    elif text.startswith("//"):
        text = text[2:]
    host = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    if host.startswith("www."):
        host = host[4:]
    labels = host.split(".")
    if (
        len(labels) < 2
        or not all(labels)
        or not all(label.replace("-", "").isalnum() for label in labels)
    ):
        return None
    return host


def field_column(source_field: str) -> str:
    """The column name a custom field lands under: the CRM's API name (or, for Pipedrive's
    hashed keys, its label) in lower_snake_case, Salesforce's ``__c`` dropped, so the same
    field ('Segment__c', 'segment', 'Segment') is one column across CRMs."""
    text = source_field.strip()
    if text.lower().endswith("__c"):
        text = text[:-3]
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out: list[str] = []
    for ch in text.lower():
        out.append(ch if ch.isalnum() and ch.isascii() else "_")
    name = "_".join(part for part in "".join(out).split("_") if part)
    if not name:
        return "field"
    return name if name[0].isalpha() else f"f_{name}"


_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off"}


def custom_value(raw: Any, data_type: str) -> Any:
    """A custom field's value kept in its type for ``custom_fields`` (JSON): numbers as
    numbers, booleans as booleans, dates and datetimes as ISO text, enums and text as text.
    Raises :class:`BadValue` when the value does not fit the type the CRM declared."""
    if _empty(raw):
        return None
    if data_type == "number":
        if isinstance(raw, bool):
            raise BadValue(f"not a number: {raw!r}")
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise BadValue(f"not a number: {raw!r}") from None
        if not value.is_finite():
            raise BadValue(f"not a finite number: {raw!r}")
        return (
            int(value)
            if value == value.to_integral_value() and abs(value) < 2**53
            else float(value)
        )
    if data_type == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise BadValue(f"not a yes/no value: {raw!r}")
    if data_type == "date":
        if isinstance(raw, datetime):
            return raw.date().isoformat()
        if isinstance(raw, date):
            return raw.isoformat()
        text = str(raw).strip()
        try:
            return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            if text.isdigit():  # HubSpot sends dates as epoch milliseconds at midnight UTC
                return datetime.fromtimestamp(int(text) / 1000, UTC).date().isoformat()
            raise BadValue(f"not a date: {raw!r}") from None
    if data_type == "datetime":
        if isinstance(raw, datetime):
            return as_utc(raw).isoformat()  # type: ignore[union-attr]
        text = str(raw).strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC).isoformat()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadValue(f"not a timestamp: {raw!r}") from None
        return as_utc(parsed).isoformat()  # type: ignore[union-attr]
    return str(raw) if not isinstance(raw, str) else raw
