"""Which Opportunity and Account fields land in ``custom_fields``, typed from describe.

``GET /sobjects/{object}/describe`` says, per field, its API name, label, type, whether it
is custom, and a picklist's (value, label) pairs. The options choose the fields (``all``
custom fields or a list, plus the standard ones named in ``STANDARD_FIELD_COLUMNS`` and
``field_columns``); each becomes a :class:`FieldSpec`: the column it lands under, its
canonical data type, and how a raw value becomes a typed JSON value (a picklist's API
value becomes its label, so the same answer reads the same in every CRM).

Describes are cached in the source's dlt state for ``describe_max_age_s``: a quiet run
spends no request on them. A query that names a field the org no longer has refreshes the
cache at once (``Describes.refresh``), and a change in the fields taken makes the next run
re-read that object in full (``source.SalesforceRun.modified``), so no stale or partial
``custom_fields`` survive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt

from connectors.salesforce.settings import STANDARD_FIELD_COLUMNS
from connectors.values import custom_value, field_column
from models.errors import ConfigError

# Salesforce describe type -> FieldDefinition.data_type.
DATA_TYPES: dict[str, str] = {
    "double": "number",
    "currency": "number",
    "percent": "number",
    "int": "number",
    "long": "number",
    "date": "date",
    "datetime": "datetime",
    "boolean": "bool",
    "picklist": "enum",
    "multipicklist": "text",  # labels joined by ';', as Salesforce joins the values
    "string": "text",
    "textarea": "text",
    "url": "text",
    "email": "text",
    "phone": "text",
    "combobox": "text",
    "encryptedstring": "text",
    "time": "text",
    "id": "text",
    "reference": "text",
}
# Not taken: compound fields (address, location) are their parts' sum and Bulk 2.0 refuses
# them; base64 is read one record per call; anyType and complexvalue have no one type.
SKIPPED_TYPES = frozenset({"address", "location", "base64", "anyType", "complexvalue", "json"})

Described = list[dict[str, Any]]  # compact describe fields: name, type, label, custom, options


@dataclass(frozen=True)
class FieldSpec:
    """One field taken into ``custom_fields``."""

    api_name: str
    column: str
    label: str | None
    sf_type: str
    data_type: str
    options: Mapping[str, str] = field(default_factory=dict)  # picklist API value -> label

    def value(self, raw: Any) -> Any:
        """The typed JSON value; raises ``BadValue`` when ``raw`` does not fit the type."""
        if raw is not None and self.sf_type == "multipicklist":
            raw = ";".join(self.options.get(v, v) for v in str(raw).split(";") if v)
        elif raw is not None and self.data_type == "enum":
            # unrestricted picklists can hold values the list lacks: kept as they are
            raw = self.options.get(str(raw), raw)
        return custom_value(raw, self.data_type)


def compact(describe: Mapping[str, Any]) -> Described:
    """The describe keys the connector needs, small enough for the pipeline state."""
    return [
        {
            "name": f["name"],
            "type": f.get("type"),
            "label": f.get("label"),
            "custom": bool(f.get("custom")),
            "options": [
                [p["value"], p.get("label") or p["value"]] for p in f.get("picklistValues") or []
            ],
        }
        for f in describe.get("fields") or []
    ]


def column_overrides(obj: str, configured: Mapping[str, str | None]) -> dict[str, str]:
    """{API name: column} for ``obj``: the built-in standard ones, then the option's."""
    merged: dict[str, str | None] = {**STANDARD_FIELD_COLUMNS, **configured}
    prefix = f"{obj}."
    return {k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix) and v}


def take_fields(
    obj: str,
    described: Described,
    wanted: str | list[str],
    columns: Mapping[str, str],
    *,
    skip: Iterable[str] = (),
    configured: Iterable[str] = (),
    option: str,
) -> list[FieldSpec]:
    """The fields of ``obj`` to keep: those ``columns`` names, then ``wanted`` (``"all"``:
    every custom field describe lists, less ``skip``, the fields the hub maps or writes
    itself). A field the options name (``wanted`` as a list, or ``configured``: the
    ``field_columns`` keys) that the describe lacks is a ConfigError naming it; a built-in
    standard one the org does not show is left out."""
    by_name = {f["name"].lower(): f for f in described}
    skipped = {s.lower() for s in skip if s}
    required = {c.lower() for c in configured}
    names: list[str] = []
    for name in columns:
        if name.lower() in by_name:
            names.append(by_name[name.lower()]["name"])
        elif name.lower() in required:
            raise ConfigError(
                f"options.field_columns: {obj} has no field '{name}' (or the integration "
                f"user cannot see it); describe lists {_sample(described)}"
            )
    if wanted == "all":
        names += [
            f["name"]
            for f in described
            if f["custom"] and f["type"] not in SKIPPED_TYPES and f["name"].lower() not in skipped
        ]
    else:
        for name in wanted:
            found = by_name.get(name.lower())
            if found is None:
                raise ConfigError(
                    f"options.{option}: {obj} has no field '{name}' (or the integration user "
                    f"cannot see it); describe lists {_sample(described)}. Fix the name, or "
                    "grant the integration user read access to the field"
                )
            if found["type"] in SKIPPED_TYPES:
                raise ConfigError(
                    f"options.{option}: {obj}.{found['name']} is a {found['type']} field, "
                    "which the hub does not read; take its parts (e.g. BillingCity) instead"
                )
            names.append(found["name"])
    specs: list[FieldSpec] = []
    used: set[str] = set()
    for name in dict.fromkeys(names):  # first mention wins, order kept
        f = by_name[name.lower()]
        column = _free_column(columns.get(name) or field_column(name), name, used)
        used.add(column)
        specs.append(
            FieldSpec(
                api_name=name,
                column=column,
                label=f["label"],
                sf_type=f["type"],
                data_type=DATA_TYPES.get(f["type"], "text"),
                options={v: label for v, label in f["options"]},
            )
        )
    return specs


def _free_column(column: str, name: str, used: set[str]) -> str:
    """``column``, or when another field took it (a custom ``Lead_Source__c`` next to the
    standard LeadSource), ``<column>_c`` for a custom field, else ``<column>_2``, ..."""
    if column not in used:
        return column
    if name.lower().endswith("__c") and f"{column}_c" not in used:
        return f"{column}_c"
    n = 2
    while f"{column}_{n}" in used:
        n += 1
    return f"{column}_{n}"


def _sample(described: Described) -> str:
    custom = [f["name"] for f in described if f["custom"]]
    shown = ", ".join(custom[:10]) + (", ..." if len(custom) > 10 else "")
    return f"{len(custom)} custom field(s): {shown}" if custom else "no custom field"


def signature(specs: Iterable[FieldSpec]) -> str:
    """A short fingerprint of what lands in custom_fields (field, column, type): when it
    changes, rows read before lack the new shape and the object is read again in full."""
    text = "|".join(sorted(f"{s.api_name}:{s.column}:{s.data_type}" for s in specs))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class Describes:
    """Describe results, read once per run and kept across runs in the source state.

    ``fetch(obj)`` sends the request; ``now`` is the run's start. Entries older than
    ``max_age_s``, and every entry on a full refresh, are read again."""

    def __init__(
        self,
        fetch: Callable[[str], Mapping[str, Any]],
        *,
        max_age_s: int,
        now: datetime,
        full_refresh: bool,
    ) -> None:
        self._fetch = fetch
        self._max_age_s = max_age_s
        self._now = now
        self._full_refresh = full_refresh
        self._memo: dict[str, Described] = {}

    def fields(self, obj: str) -> Described:
        if obj in self._memo:
            return self._memo[obj]
        cache = dlt.current.source_state().setdefault("describe", {})
        entry = cache.get(obj)
        if not self._full_refresh and entry and self._fresh(entry.get("at")):
            self._memo[obj] = entry["fields"]
        else:
            self.refresh(obj)
        return self._memo[obj]

    def refresh(self, obj: str) -> Described:
        """Read ``obj``'s describe now, for this run and the next ones."""
        described = compact(self._fetch(obj))
        cache = dlt.current.source_state().setdefault("describe", {})
        cache[obj] = {"at": self._now.isoformat(), "fields": described}
        self._memo[obj] = described
        return described

    def _fresh(self, at: Any) -> bool:
        try:
            then = datetime.fromisoformat(str(at))
        except ValueError:
            return False
        age = (self._now - then.astimezone(UTC)).total_seconds()
        return 0 <= age < self._max_age_s
