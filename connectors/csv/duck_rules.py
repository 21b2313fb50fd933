"""The field rules of :mod:`connectors.csv.rules` in SQL, for :mod:`connectors.csv.duck`.

Each rule gives a field's value as the row path leaves it, and checks that are false on a
row wherever the row path would drop the value or skip the row: one such row and DuckDB
hands the whole file back to the other paths, whose quarantine records name the line. What
SQL cannot decide exactly as Python does (case-folding beyond ASCII, a decimal compared
with a float bound) is checked in Python on the file's aggregates (:class:`RuleSql.totals`).
A rule without an entry in :data:`RULES` keeps the file out of DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from connectors.csv.options import DealsFile
from connectors.csv.rows import RowRejected
from connectors.csv.rules import (
    ACTIVITY_TYPE,
    ACTIVITY_TYPE_SYNONYMS,
    AMOUNT,
    CURRENCY,
    PROBABILITY,
    STATUS,
    STATUS_ALIASES,
    Rule,
    normalize_status,
)
from models.canonical import DEAL_STATUSES

if TYPE_CHECKING:
    from connectors.csv.driver import FileRead


def is_ascii(value: str) -> str:
    """SQL: true when the text ``value`` is ASCII (every character one byte; DuckDB's
    ``length`` counts code points). Four times cheaper than a pattern; a NUL byte, which
    the pattern it replaced refused, keeps a file out of DuckDB before any SQL runs."""
    return f"strlen({value}) = length({value})"


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class RuleSql:
    """A rule's SQL over the staged text (``text``: field -> SQL, NULL when empty) and the
    typed values (``typed``: field -> SQL): new typed values, per-row checks, and checks on
    the file's aggregates (SQL of one value over the staged columns, named as the model's,
    and a predicate on it)."""

    typed: dict[str, str] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    totals: list[tuple[str, Callable[[Any], bool]]] = field(default_factory=list)


RuleToSql = Callable[["FileRead", dict[str, str], dict[str, str]], RuleSql]


def _mapping(value: str, mapping: dict[str, str], otherwise: str) -> str:
    """SQL: ``mapping[value]``, else ``otherwise``."""
    if not mapping:
        return otherwise
    cases = " ".join(f"WHEN {quote(k)} THEN {quote(v)}" for k, v in mapping.items())
    return f"CASE {value} {cases} ELSE {otherwise} END"


def _status(read: FileRead, text: dict[str, str], typed: dict[str, str]) -> RuleSql:
    out = RuleSql()
    by_stage: dict[str, str] = {}
    for stage_name, named in cast(DealsFile, read.file).status_from_stage.items():
        try:
            by_stage[stage_name] = normalize_status(named)
        except RowRejected:
            by_stage[stage_name] = "?"  # the row path skips such rows: not clean
    stage = typed.get("stage_id")
    from_stage = "NULL" if stage is None else _mapping(stage, by_stage, "NULL")
    given = text.get("status")
    if given is None:
        status = f"coalesce({from_stage}, 'open')"
    else:
        lowered = f"lower({given})"
        aliased = _mapping(lowered, STATUS_ALIASES, lowered)
        status = f"CASE WHEN {given} IS NULL THEN coalesce({from_stage}, 'open') ELSE {aliased} END"
        out.checks.append(f"({given} IS NULL OR {is_ascii(given)})")
    out.typed["status"] = status
    out.checks.append(f"({status}) IN ({', '.join(map(quote, DEAL_STATUSES))})")
    return out


def _amount(read: FileRead, text: dict[str, str], typed: dict[str, str]) -> RuleSql:
    out = RuleSql()
    if "amount" in typed:  # Decimal against max_amount, a float: compared in Python
        highest = read.options.max_amount
        out.totals.append(("min(amount)", lambda low: low is None or low >= 0))
        out.totals.append(("max(amount)", lambda high: high is None or Decimal(high) <= highest))
    return out


def _probability(read: FileRead, text: dict[str, str], typed: dict[str, str]) -> RuleSql:
    out = RuleSql()
    value = typed.get("probability")
    if value is not None:
        scaled = f"CASE WHEN {value} > 1 THEN {value} / 100.0 ELSE {value} END"
        out.typed["probability"] = scaled
        out.checks.append(f"(({scaled}) IS NULL OR ({scaled}) BETWEEN 0 AND 1)")
    return out


def _currency(read: FileRead, text: dict[str, str], typed: dict[str, str]) -> RuleSql:
    out = RuleSql()
    value = text.get("currency")
    if value is not None:
        out.typed["currency"] = f"upper({value})"
        out.checks.append(f"({value} IS NULL OR regexp_full_match({value}, '[A-Za-z]{{3}}'))")
    return out


def _activity_type(read: FileRead, text: dict[str, str], typed: dict[str, str]) -> RuleSql:
    out = RuleSql()
    value = text.get("type")
    if value is None:
        out.typed["type"] = "'other'"
        return out
    by_type: dict[str, list[str]] = {}
    for synonym, kind in ACTIVITY_TYPE_SYNONYMS.items():
        by_type.setdefault(kind, []).append(synonym)
    cases = " ".join(
        f"WHEN lower({value}) IN ({', '.join(map(quote, synonyms))}) THEN {quote(kind)}"
        for kind, synonyms in by_type.items()
    )
    out.typed["type"] = f"CASE {cases} ELSE 'other' END"
    out.checks.append(f"({value} IS NULL OR {is_ascii(value)})")
    return out


RULES: dict[Rule, RuleToSql] = {
    STATUS: _status,
    AMOUNT: _amount,
    PROBABILITY: _probability,
    CURRENCY: _currency,
    ACTIVITY_TYPE: _activity_type,
}
