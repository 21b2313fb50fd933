"""The SOQL subset the sandbox understands, parsed and evaluated the way Salesforce does.

Enough for every query the connector and writer send, and the common ones other clients
send: a SELECT list (with parent relationship fields such as ``Account.Name``,
``FIELDS(ALL|STANDARD|CUSTOM)``, ``COUNT()`` and the aggregate functions with aliases), FROM,
WHERE with comparisons, LIKE, AND/OR/NOT, IN/NOT IN, date literals (TODAY, LAST_N_DAYS:n,
...), GROUP BY, ORDER BY, LIMIT and OFFSET. Names are case-insensitive as in Salesforce.
Anything else is a ``MALFORMED_QUERY``; unknown names are ``INVALID_TYPE`` /
``INVALID_FIELD``, with Salesforce's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

Rec = dict[str, Any]


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*')
   |(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
   |(?P<date>\d{4}-\d{2}-\d{2})
   |(?P<num>-?\d+(?:\.\d+)?)
   |(?P<op><=|>=|!=|<>|=|<|>)
   |(?P<punct>[(),])
   |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
   |(?P<bad>\S+)
    )""",
    re.X,
)
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "GROUP",
    "LIKE",
    "NULL",
    "TRUE",
    "FALSE",
}
_UNSUPPORTED = {"HAVING", "TYPEOF", "WITH", "FOR", "USING", "INCLUDES", "EXCLUDES"}
AGGREGATES = {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"}
MAX_OFFSET = 2000
# describe says groupable: false for these
UNGROUPABLE = {"double", "currency", "percent", "datetime", "textarea", "multipicklist"}
FIELDS_LIMIT = 200  # FIELDS(ALL) and FIELDS(CUSTOM) need a LIMIT of at most this
NUMERIC = {"double", "currency", "percent", "int", "long"}
UNQUOTED = NUMERIC | {"datetime", "date", "boolean"}  # their literals carry no quotes
LIKEABLE = {"string", "picklist", "id", "reference", "url", "email", "phone", "textarea"}
# "SOQL statements: by default, 100,000 characters" (limits cheat sheet). The error body
# for a longer one is not documented; this is the sandbox's MALFORMED_QUERY wording.
MAX_SOQL_CHARS = 100_000
# ORDER BY on text ignores case, as Salesforce's collation does; Ids sort as they compare.
FOLDED_SORT = {"string", "picklist", "textarea", "url", "email", "phone", "multipicklist"}


@dataclass
class Aggregate:
    func: str  # one of AGGREGATES
    field: str
    alias: str  # the result key: the alias given, else expr0, expr1, ...


@dataclass
class Query:
    obj: str
    fields: list[str]  # canonical casing; relationship fields as 'Account.Name'
    where: Any = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # field, desc, nulls_last
    order_folded: set[str] = field(default_factory=set)  # text fields: sorted ignoring case
    limit: int | None = None
    offset: int = 0
    count_only: bool = False  # SELECT COUNT(): only totalSize is answered
    aggregates: list[Aggregate] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    unbounded_fields: bool = False  # FIELDS(ALL) or FIELDS(CUSTOM): needs a small LIMIT

    @property
    def is_aggregate(self) -> bool:
        """Rows are AggregateResults (one per group), not records."""
        return bool(self.aggregates or self.group_by)


@dataclass
class DateRange:
    start: datetime
    end: datetime  # exclusive


def _date_literal(name: str, now: datetime) -> DateRange | None:
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    day = timedelta(days=1)
    upper = name.upper()
    fixed = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
    }
    if upper in fixed:
        return DateRange(*fixed[upper])
    match = re.fullmatch(r"(LAST|NEXT)_N_DAYS:(\d+)", upper)
    if match:
        n = int(match.group(2))
        if match.group(1) == "LAST":
            return DateRange(today - n * day, today + day)
        return DateRange(today, today + (n + 1) * day)
    return None


def _parse_dt(text: str) -> datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text).astimezone(UTC)


class _Parser:
    def __init__(
        self,
        soql: str,
        schema: dict[str, dict[str, str]],
        relations: dict[str, dict[str, tuple[str, str]]],
        now: datetime,
    ) -> None:
        self.soql = soql
        self.schema = schema
        self.relations = relations
        self.now = now
        self.tokens: list[tuple[str, str]] = []
        for match in _TOKEN.finditer(soql):
            kind = match.lastgroup
            if kind is None:
                continue
            text = match.group(kind)
            if kind == "bad":
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
            if kind == "ident" and text.upper() in _KEYWORDS:
                kind = "kw"
                text = text.upper()
            if kind == "ident" and text.upper() in _UNSUPPORTED:
                raise SoqlError(
                    "MALFORMED_QUERY", f"unexpected token: '{text}' (not supported by this sandbox)"
                )
            self.tokens.append((kind, text))
        self.pos = 0
        self.obj = ""

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("eof", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, kind: str, text: str | None = None) -> str:
        got_kind, got = self.take()
        if got_kind != kind or (text is not None and got != text):
            shown = got or "end of query"
            raise SoqlError(
                "MALFORMED_QUERY",
                f"unexpected token: '{shown}'" + (f", expected {text}" if text else ""),
            )
        return got

    def resolve_field(self, name: str) -> str:
        fields = self.schema[self.obj]
        if "." in name:
            rel, _, child = name.partition(".")
            rels = {k.lower(): k for k in self.relations.get(self.obj, {})}
            known = rel.lower() in rels and self.relations[self.obj][rels[rel.lower()]][1]
            if not known or known not in self.schema or "." in child:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{rel}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the "
                    "describe call for the appropriate names.",
                )
            rel_name = rels[rel.lower()]
            target = self.relations[self.obj][rel_name][1]
            lookup = {k.lower(): k for k in self.schema[target]}
            if child.lower() not in lookup:
                raise SoqlError("INVALID_FIELD", self._no_column(name))
            return f"{rel_name}.{lookup[child.lower()]}"
        lookup = {k.lower(): k for k in fields}
        if name.lower() not in lookup:
            raise SoqlError("INVALID_FIELD", self._no_column(name))
        return lookup[name.lower()]

    def _no_column(self, name: str) -> str:
        return (
            f"No such column '{name}' on entity '{self.obj}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names."
        )

    def select_item(self) -> tuple[str, str, str | None]:
        """One SELECT entry as (function or "", argument, alias): ``Name`` is ("", "Name",
        None), ``COUNT(Id) n`` ("COUNT", "Id", "n"), ``FIELDS(ALL)`` ("FIELDS", "ALL", None)."""
        kind, text = self.take()
        if kind != "ident":
            raise SoqlError(
                "MALFORMED_QUERY",
                f"unexpected token: '{text or 'end of query'}' in the SELECT list",
            )
        if self.peek() != ("punct", "("):
            return "", text, None
        func = text.upper()
        if func not in AGGREGATES | {"FIELDS"}:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '(' after {text}")
        self.take()
        arg = "" if func == "COUNT" and self.peek() == ("punct", ")") else self.expect("ident")
        self.expect("punct", ")")
        alias = self.take()[1] if func != "FIELDS" and self.peek()[0] == "ident" else None
        return func, arg, alias

    def select_list(self, items: list[tuple[str, str, str | None]], query: Query) -> None:
        """Resolve the SELECT entries against the object, now that FROM named it."""
        names = self.schema[self.obj]
        expr = 0
        for func, arg, alias in items:
            if func == "FIELDS":
                group = arg.upper()
                if group not in ("ALL", "STANDARD", "CUSTOM"):
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{arg}' in FIELDS()")
                custom = {"ALL": (True, False), "STANDARD": (False,), "CUSTOM": (True,)}[group]
                query.fields += [n for n in names if n.endswith("__c") in custom]
                query.unbounded_fields |= group != "STANDARD"
            elif func == "COUNT" and not arg:
                query.count_only = True
            elif func:
                query.aggregates.append(
                    Aggregate(func, self.resolve_field(arg), alias or f"expr{expr}")
                )
                expr += alias is None
            else:
                query.fields.append(self.resolve_field(arg))
        if query.count_only and len(items) > 1:
            raise SoqlError(
                "MALFORMED_QUERY", "COUNT() must be the only element in the SELECT list"
            )
        duplicate = next((f for i, f in enumerate(query.fields) if f in query.fields[:i]), None)
        if duplicate:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {duplicate}")

    def parse(self) -> Query:
        if len(self.soql) > MAX_SOQL_CHARS:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"SOQL statements cannot exceed {MAX_SOQL_CHARS:,} characters "
                f"(this one has {len(self.soql):,})",
            )
        self.expect("kw", "SELECT")
        items = [self.select_item()]
        while self.peek() == ("punct", ","):
            self.take()
            items.append(self.select_item())
        self.expect("kw", "FROM")
        obj = self.expect("ident")
        objects = {k.lower(): k for k in self.schema}
        if obj.lower() not in objects:
            raise SoqlError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        self.obj = objects[obj.lower()]
        query = Query(self.obj, [])
        self.select_list(items, query)
        if self.peek() == ("kw", "WHERE"):
            self.take()
            query.where = self.disjunction()
        if self.peek() == ("kw", "GROUP"):
            self.take()
            self.expect("kw", "BY")
            query.group_by.append(self.resolve_field(self.expect("ident")))
            while self.peek() == ("punct", ","):
                self.take()
                query.group_by.append(self.resolve_field(self.expect("ident")))
        self.check_grouping(query)
        if self.peek() == ("kw", "ORDER"):
            self.take()
            self.expect("kw", "BY")
            while True:
                name = self.resolve_field(self.expect("ident"))
                desc = False
                if self.peek() in (("kw", "ASC"), ("kw", "DESC")):
                    desc = self.take()[1] == "DESC"
                nulls_last = desc
                if self.peek() == ("kw", "NULLS"):
                    self.take()
                    nulls_last = self.take()[1] == "LAST"
                query.order.append((name, desc, nulls_last))
                if self.field_type(name) in FOLDED_SORT:
                    query.order_folded.add(name)
                if self.peek() != ("punct", ","):
                    break
                self.take()
        if self.peek() == ("kw", "LIMIT"):
            self.take()
            query.limit = int(self.expect("num"))
        if self.peek() == ("kw", "OFFSET"):
            self.take()
            query.offset = int(self.expect("num"))
            if query.offset > MAX_OFFSET:
                raise SoqlError(
                    "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
                )
        if self.peek()[0] != "eof":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}'")
        if query.unbounded_fields and (query.limit is None or query.limit > FIELDS_LIMIT):
            raise SoqlError(
                "MALFORMED_QUERY",
                f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_LIMIT}",
            )
        if query.aggregates and not query.group_by and query.limit is not None:
            raise SoqlError("MALFORMED_QUERY", "An aggregate query with LIMIT needs GROUP BY")
        return query

    def check_grouping(self, query: Query) -> None:
        """Every plain field of an aggregate query is grouped; only groupable types group."""
        if not query.is_aggregate:
            return
        ungrouped = next((f for f in query.fields if f not in query.group_by), None)
        if ungrouped:
            raise SoqlError("MALFORMED_QUERY", f"Field must be grouped or aggregated: {ungrouped}")
        for name in query.group_by:
            if self.field_type(name) in UNGROUPABLE:
                raise SoqlError(
                    "INVALID_FIELD", f"field '{name}' can not be grouped in a query call"
                )

    def disjunction(self) -> Any:
        terms = [self.conjunction()]
        while self.peek() == ("kw", "OR"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def conjunction(self) -> Any:
        terms = [self.factor()]
        while self.peek() == ("kw", "AND"):
            self.take()
            terms.append(self.factor())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def factor(self) -> Any:
        if self.peek() == ("kw", "NOT"):
            self.take()
            return ("not", self.factor())
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.disjunction()
            self.expect("punct", ")")
            return inner
        name = self.resolve_field(self.expect("ident"))
        ftype = self.field_type(name)
        if self.peek() == ("kw", "LIKE"):
            self.take()
            kind, text = self.take()
            if kind != "str" or ftype not in LIKEABLE:
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid operator on {ftype} field '{name}': LIKE",
                )
            return ("like", name, like_pattern(re.sub(r"\\(.)", r"\1", text[1:-1])))
        negated = False
        if self.peek() == ("kw", "NOT"):
            self.take()
            negated = True
            if self.peek() != ("kw", "IN"):
                raise SoqlError("MALFORMED_QUERY", "unexpected token: 'NOT'")
        if self.peek() == ("kw", "IN"):
            self.take()
            self.expect("punct", "(")
            values = [self.value(name, ftype)]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.value(name, ftype))
            self.expect("punct", ")")
            return ("in", name, values, negated)
        kind, op = self.take()
        if kind != "op":
            raise SoqlError(
                "MALFORMED_QUERY",
                f"unexpected token: '{op or 'end of query'}', expected an operator",
            )
        return ("cmp", name, "!=" if op == "<>" else op, self.value(name, ftype))

    def field_type(self, name: str) -> str:
        if "." in name:
            rel, _, child = name.partition(".")
            return self.schema[self.relations[self.obj][rel][1]][child]
        return self.schema[self.obj][name]

    def value(self, name: str, ftype: str) -> Any:
        kind, text = self.take()
        wrong = SoqlError(
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for field '{name}' must be of type {ftype} and should not be enclosed in quotes"
            if ftype in UNQUOTED
            else f"invalid value '{text}' for field '{name}' of type {ftype}",
        )
        if kind == "kw" and text == "NULL":
            return None
        if kind == "kw" and text in ("TRUE", "FALSE"):
            if ftype != "boolean":
                raise wrong
            return text == "TRUE"
        if kind == "str":
            if ftype in UNQUOTED:
                raise wrong
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "dt":
            if ftype != "datetime":
                raise wrong
            return _parse_dt(text)
        if kind == "date":
            if ftype != "date":
                raise wrong
            return date.fromisoformat(text)
        if kind == "num":
            if ftype not in NUMERIC:
                raise wrong
            return float(text)
        if kind == "ident":
            literal = _date_literal(text, self.now)
            if literal is None:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
            if ftype not in ("datetime", "date"):
                raise wrong
            return literal
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text or 'end of query'}'")


def parse(
    soql: str,
    schema: dict[str, dict[str, str]],
    relations: dict[str, dict[str, tuple[str, str]]],
    now: datetime,
) -> Query:
    return _Parser(soql, schema, relations, now).parse()


def _comparable(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if isinstance(expected, DateRange):
        if actual is None:
            return op == "!="
        value = _comparable(actual)
        inside = expected.start <= value < expected.end
        return {
            "=": inside,
            "!=": not inside,
            "<": value < expected.start,
            "<=": value < expected.end,
            ">": value >= expected.end,
            ">=": value >= expected.start,
        }[op]
    if expected is None or actual is None:
        if op == "=":
            return actual is None and expected is None
        if op == "!=":
            return (actual is None) != (expected is None)
        return False
    a, b = _comparable(actual), _comparable(expected)
    if isinstance(a, str) and isinstance(b, str) and op in ("=", "!="):
        a, b = a.lower(), b.lower()  # SOQL string equality ignores case
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


_STRING_SETS: dict[int, tuple[Any, frozenset[str] | None]] = {}


def _string_set(values: Any) -> frozenset[str] | None:
    """IN lists of plain strings as a lower-cased set, built once per parsed query."""
    cached = _STRING_SETS.get(id(values))
    if cached is None or cached[0] is not values:
        lookup = (
            frozenset(v.lower() for v in values)
            if all(isinstance(v, str) for v in values)
            else None
        )
        if len(_STRING_SETS) > 256:
            _STRING_SETS.clear()
        cached = _STRING_SETS[id(values)] = (values, lookup)
    return cached[1]


def like_pattern(text: str) -> re.Pattern[str]:
    """SOQL LIKE: ``%`` any run, ``_`` one character, case-insensitive, whole value."""
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in text)
    return re.compile("".join(parts), re.I | re.S)


def matches(node: Any, get: Callable[[str], Any]) -> bool:
    if node is None:
        return True
    kind = node[0]
    if kind == "and":
        return all(matches(n, get) for n in node[1])
    if kind == "or":
        return any(matches(n, get) for n in node[1])
    if kind == "not":
        return not matches(node[1], get)
    if kind == "in":
        _, name, values, negated = node
        actual = get(name)
        lookup = _string_set(values)
        if lookup is not None and isinstance(actual, str):
            hit = actual.lower() in lookup  # an Id IN (...) of 200 ids, record after record
        else:
            hit = any(_compare(actual, "=", v) for v in values)
        return hit != negated
    if kind == "like":
        actual = get(node[1])
        return isinstance(actual, str) and node[2].fullmatch(actual) is not None
    _, name, op, value = node
    return _compare(get(name), op, value)


def _sortable(value: Any, folded: bool) -> Any:
    value = _comparable(value)
    return value.casefold() if folded and isinstance(value, str) else value


def order_key(query: Query, get_for: Callable[[Any, str], Any]) -> Callable[[Any], Any]:
    """A sort key for ``sorted``: NULLS FIRST by default, LAST with DESC, text ignoring
    case, as Salesforce sorts."""
    folded = query.order_folded

    class _Key:
        __slots__ = ("values",)

        def __init__(self, rec: Any) -> None:
            self.values = [_sortable(get_for(rec, f), f in folded) for f, _, _ in query.order]

        def __lt__(self, other: _Key) -> bool:
            for (_, desc, nulls_last), a, b in zip(
                query.order, self.values, other.values, strict=True
            ):
                if a == b:
                    continue
                if a is None or b is None:
                    return (a is None) != nulls_last
                try:
                    return (a > b) if desc else (a < b)
                except TypeError:  # a garbage value the bad-payload tests edit in
                    return type(a).__name__ < type(b).__name__
            return False

    return _Key


def aggregate(query: Query, rows: list[Any], get_for: Callable[[Any, str], Any]) -> list[Rec]:
    """One AggregateResult per group, groups in the order of their first (sorted) row; a
    query without GROUP BY is one group, even over no rows, as Salesforce answers."""
    groups: dict[tuple[Any, ...], list[Any]] = {} if query.group_by else {(): []}
    for rec in rows:
        key = tuple(get_for(rec, name) for name in query.group_by)
        groups.setdefault(key, []).append(rec)
    out = []
    for key, members in groups.items():
        result: Rec = {
            name.rpartition(".")[2]: value
            for name, value in zip(query.group_by, key, strict=True)
            if name in query.fields
        }
        for agg in query.aggregates:
            values = [v for v in (get_for(r, agg.field) for r in members) if v is not None]
            result[agg.alias] = _AGGREGATE[agg.func](values)
        out.append(result)
    return out


_AGGREGATE: dict[str, Callable[[list[Any]], Any]] = {
    "COUNT": len,
    "COUNT_DISTINCT": lambda vs: len(set(vs)),
    "SUM": lambda vs: sum(vs) if vs else None,
    "AVG": lambda vs: sum(vs) / len(vs) if vs else None,
    "MIN": lambda vs: min(vs) if vs else None,
    "MAX": lambda vs: max(vs) if vs else None,
}
