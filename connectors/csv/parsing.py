"""Value parsers for CSV cells: dates, timestamps, numbers and booleans as exports write them.

Each parser returns the parsed value or raises :class:`BadValue` with a reason a person
can act on ("not a date; expected e.g. 2026-03-01 or set date_format").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from connectors.values import BadValue

_COMMON_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%b %d, %Y",
    "%d %b %Y",
    "%Y%m%d",
)
_MONTH_FIRST = (
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",  # Salesforce report exports in a US locale: 3/5/2024 2:22 PM
    "%m/%d/%Y, %I:%M %p",
    "%m/%d/%y",
    "%m-%d-%Y",
)
_DAY_FIRST = (
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y, %H:%M",
    "%d/%m/%y",
    "%d-%m-%Y",
)
_TRUE = {"true", "t", "yes", "y", "1", "done", "completed", "x"}
_FALSE = {"false", "f", "no", "n", "0", "open", "not completed", ""}
_NUMBER_JUNK = re.compile(r"[\s$€£¥\u00a0\u202f']")
_EPOCH_MIN, _EPOCH_MAX = 10**8, 10**13  # seconds (1973) .. milliseconds (2286)


def zone(name: str) -> tzinfo:
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def timestamp_parser(
    date_format: str | None, *, day_first: bool, tz: tzinfo
) -> Callable[[str], datetime]:
    """Build a parser for one column's timestamps; naive values are taken in ``tz``."""
    fallbacks = (
        (date_format,)
        if date_format
        else _COMMON_DATE_FORMATS + (_DAY_FIRST if day_first else _MONTH_FIRST)
    )

    def finish(value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.astimezone(UTC)

    def parse(text: str) -> datetime:
        text = text.strip()
        if not date_format:
            try:
                return finish(datetime.fromisoformat(text))
            except ValueError:
                pass
            if text.isdigit() and _EPOCH_MIN <= int(text) < _EPOCH_MAX:
                seconds = int(text) / (1000 if int(text) >= 10**11 else 1)
                return datetime.fromtimestamp(seconds, tz=UTC)
        for fmt in fallbacks:
            try:
                return finish(datetime.strptime(text, fmt))  # type: ignore[arg-type]
            except ValueError:
                continue
        hint = (
            f"the format {date_format!r}"
            if date_format
            else "e.g. 2026-03-01 or 2026-03-01T14:05:00Z"
        )
        raise BadValue(f"not a date/time; expected {hint} (set date_format for other layouts)")

    return parse


def date_parser(date_format: str | None, *, day_first: bool, tz: tzinfo) -> Callable[[str], date]:
    parse_ts = timestamp_parser(date_format, day_first=day_first, tz=tz)

    def parse(text: str) -> date:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            value = parse_ts(text)
            return (value.astimezone(tz) if tz is not UTC else value).date()

    return parse


def decimal_parser(decimal_separator: str) -> Callable[[str], Decimal]:
    """Amounts as people export them: ``1,234.50``, ``1.234,50``, ``$ 1 234``, ``(12.00)``."""

    def parse(text: str) -> Decimal:
        raw = text
        text = _NUMBER_JUNK.sub("", text)
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = text[1:-1]
        if decimal_separator == ",":
            text = text.replace(".", "").replace(",", ".")
        elif "," in text:
            if "." in text and text.rfind(",") > text.rfind("."):
                text = text.replace(".", "").replace(",", ".")  # 1.234,50
            elif re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
                text = text.replace(",", "")
            else:
                raise BadValue(
                    f"ambiguous number {raw!r}; set decimal_separator: ',' if commas are decimals"
                )
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise BadValue(f"not a number: {raw!r}") from None
        if not value.is_finite():
            raise BadValue(f"not a finite number: {raw!r}")
        return -value if negative else value

    return parse


def float_parser(decimal_separator: str) -> Callable[[str], float]:
    parse_decimal = decimal_parser(decimal_separator)

    def parse(text: str) -> float:
        text = text.strip()
        percent = text.endswith("%")
        value = float(parse_decimal(text.rstrip("%")))
        return value / 100 if percent else value

    return parse


def int_parser(decimal_separator: str) -> Callable[[str], int]:
    parse_decimal = decimal_parser(decimal_separator)

    def parse(text: str) -> int:
        value = parse_decimal(text)
        if value != value.to_integral_value():
            raise BadValue(f"not a whole number: {text!r}")
        return int(value)

    return parse


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadValue(f"not a yes/no value: {text!r}; use true/false, yes/no or 1/0")
