"""Comparing and sending hub field values the same way for every CRM.

Outbound models carry values as text; CRMs answer with strings (HubSpot), numbers
(Pipedrive, Salesforce) or nothing. Everything is normalised before comparing: empty is
None, numeric fields compare as decimals (``0.50`` equals ``0.5``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

NUMERIC_FIELDS = frozenset({"hub_score"})


def norm(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if not text:
        return None
    if field in NUMERIC_FIELDS:
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        text = format(number.normalize(), "f")
        return "0" if text in ("-0", "") else text
    return text


def same(field: str, a: Any, b: Any) -> bool:
    return norm(field, a) == norm(field, b)


def wire(field: str, value: str | None) -> Any:
    """The Python value a writer sends: numbers as floats (Pipedrive v2 refuses strings)."""
    if value is None:
        return None
    if field in NUMERIC_FIELDS:
        try:
            return float(value)
        except ValueError:
            return value
    return value
