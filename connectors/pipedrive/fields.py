"""Pipedrive's field definitions (``/v1/dealFields``, ``/v1/organizationFields``): custom
field keys -> column names, option ids -> labels, raw values -> typed values, and the
``field_definitions`` rows that describe what was taken. Pure: no HTTP, no state.

Custom fields are keyed by 40-character hashes that differ per company. Keys are stable
across renames, labels are not: a selection by key keeps working after an admin renames a
field, and the column is the label current at pull time (``values.field_column``), so the
same field ("Lead source") is one column across CRMs. Option fields are stored as option
ids; the hub stores their labels (``enum``: one label, ``set``: its labels joined by
", " as Pipedrive's export writes them, so either lands as one text column).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.pipedrive.settings import FIELD_DATA_TYPES
from connectors.values import BadValue, BadValues, custom_value, field_column
from models.canonical import FieldDefinition, field_key

CRM = "pipedrive"
HASH_KEY = re.compile(r"^[0-9a-f]{40}$")
OPTION_TYPES = ("enum", "set")
STANDARD_OPTION_FIELDS = ("industry",)  # standard organisation fields stored as option ids


def is_custom(f: Mapping[str, Any]) -> bool:
    """A custom field: editable (``edit_flag``) and keyed by a 40-character hash."""
    return bool(f.get("edit_flag", True)) and bool(HASH_KEY.match(str(f.get("key", ""))))


def compact(fields: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The parts of a fields listing the hub uses, small enough to keep in source state:
    custom fields and the standard option fields whose labels the hub needs."""
    out = []
    for f in fields:
        if is_custom(f) or f.get("key") in STANDARD_OPTION_FIELDS:
            out.append(
                {
                    "key": str(f.get("key")),
                    "name": f.get("name"),
                    "field_type": f.get("field_type"),
                    "edit_flag": bool(f.get("edit_flag", True)),
                    "options": [
                        {"id": o.get("id"), "label": o.get("label")}
                        for o in (f.get("options") or [])
                        if isinstance(o, Mapping)
                    ],
                }
            )
    return out


def _plain(raw: Any) -> Any:
    """The value inside v2's objects: ``{value, currency}`` (monetary), ``{value, until}``
    (ranges), ``{value, ...}`` (address), ``{id, ...}`` (user, org, person references)."""
    if isinstance(raw, Mapping):
        return raw.get("value", raw.get("id"))
    return raw


@dataclass(frozen=True)
class CustomField:
    key: str
    label: str
    column: str
    field_type: str
    options: Mapping[str, str]  # option id (as text) -> label

    @property
    def data_type(self) -> str:
        return FIELD_DATA_TYPES.get(self.field_type, "text")

    def knows(self, raw: Any) -> bool:
        """Whether every option id in ``raw`` is one this definition lists."""
        if self.field_type not in OPTION_TYPES or raw is None:
            return True
        return all(self._option_id(v) in self.options for v in self._items(raw))

    def value(self, raw: Any) -> Any:
        """The typed value (an option's label, labels joined by ", ", a number, an ISO date, a
        text); raises :class:`BadValue` for a value that does not fit the field."""
        if self.field_type == "enum":
            items = self._items(raw)
            if len(items) > 1:
                raise BadValue(f"several options for a single-option field: {raw!r}")
            return self._label(items[0]) if items else None
        if self.field_type == "set":
            # One text column for BI, labels joined as Pipedrive's own export joins them.
            return ", ".join(self._label(v) for v in self._items(raw)) or None
        return custom_value(_plain(raw), self.data_type)

    @staticmethod
    def _items(raw: Any) -> list[Any]:
        """Option references: v2 ids (int) or ``{id, label}`` objects, v1 ``"3,7"`` texts."""
        if raw is None or raw == "":
            return []
        if isinstance(raw, list):
            return [v for v in raw if v is not None and v != ""]
        if isinstance(raw, str):
            return [v.strip() for v in raw.split(",") if v.strip()]
        return [raw]

    @staticmethod
    def _option_id(item: Any) -> str:
        return str(item.get("id") if isinstance(item, Mapping) else item).strip()

    def _label(self, item: Any) -> str:
        label = self.options.get(self._option_id(item))
        if label is None:
            raise BadValue(
                f"option id {self._option_id(item)!r} is not an option of '{self.label}' "
                "(deleted from the field?)"
            )
        return label


@dataclass
class CustomFields:
    """One entity's fields: the custom ones taken (by the options' selection), every custom
    key the company has, and the standard option fields (an organisation's industry)."""

    entity: str  # FieldDefinition.entity: 'deal' or 'account'
    taken: dict[str, CustomField] = field(default_factory=dict)  # key -> field
    known: frozenset[str] = frozenset()  # every custom key, taken or not
    standard: dict[str, CustomField] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)  # selection entries naming no field

    @classmethod
    def from_fields(
        cls, fields: Iterable[Mapping[str, Any]], wanted: str | list[str] | None, entity: str
    ) -> CustomFields:
        """From a fields listing (raw or :func:`compact`). ``wanted``: ``'all'`` / None for
        every custom field, else names, column names or keys of the fields to take."""
        out = cls(entity)
        custom: list[CustomField] = []
        columns: set[str] = set()
        for f in fields:
            key = str(f.get("key", ""))
            options = {
                str(o.get("id")): str(o.get("label"))
                for o in (f.get("options") or [])
                if isinstance(o, Mapping)
            }
            label = str(f.get("name") or key)
            ftype = str(f.get("field_type") or "")
            if key in STANDARD_OPTION_FIELDS and not is_custom(f):
                out.standard[key] = CustomField(key, label, key, ftype, options)
            if not is_custom(f):
                continue
            column = field_column(label)
            if column in columns:  # two labels, one column: the later field keeps its key
                column = f"{column}_{key[:8]}"
            columns.add(column)
            custom.append(CustomField(key, label, column, ftype, options))
        out.known = frozenset(c.key for c in custom)
        if wanted is None or wanted == "all":
            out.taken = {c.key: c for c in custom}
            return out
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        for name in names:
            match = [
                c
                for c in custom
                if name == c.key or name.casefold() in (c.label.casefold(), c.column)
            ]
            out.taken.update((c.key, c) for c in match)
            if not match:
                out.unmatched.append(name)
        return out

    def knows(self, record: Mapping[str, Any]) -> bool:
        """Whether these definitions cover ``record``: every custom key holding a value, and
        every option id of an option field. When not, the definitions are out of date."""
        custom = record.get("custom_fields") or {}
        for key, raw in custom.items():
            if raw is None or not HASH_KEY.match(str(key)):
                continue
            if key not in self.known:
                return False
            if key in self.taken and not self.taken[key].knows(raw):
                return False
        return all(f.knows(record.get(key)) for key, f in self.standard.items())

    def values(self, raw: Mapping[str, Any] | None, vals: BadValues) -> dict[str, Any] | None:
        """The taken fields of one record, by column name; a value that does not fit its
        field is left out and quarantined under the field's label."""
        if not raw:
            return None
        result: dict[str, Any] = {}
        for key, value in raw.items():
            f = self.taken.get(key)
            if f is None or value is None:
                continue
            try:
                typed = f.value(value)
            except BadValue as exc:
                vals.add(f.label, value, f"{exc} (custom field key {key}, type {f.field_type})")
                continue
            if typed is not None:
                result[f.column] = typed
        return result or None

    def standard_label(self, key: str, raw: Any, vals: BadValues) -> str | None:
        """A standard option field's label (an organisation's ``industry``)."""
        f = self.standard.get(key)
        if raw is None or raw == "":
            return None
        if f is None:
            vals.add(key, raw, f"no '{key}' field in the field definitions to read option {raw!r}")
            return None
        try:
            return str(f.value(raw))
        except BadValue as exc:
            vals.add(key, raw, str(exc))
            return None

    def definitions(self, src: str) -> list[dict[str, Any]]:
        """``field_definitions`` rows of the taken fields."""
        return [
            FieldDefinition(
                source_name=src,
                crm=CRM,
                field_key=field_key(src, self.entity, f.column),
                entity=self.entity,  # type: ignore[arg-type]
                column_name=f.column,
                source_field=f.key,
                label=f.label,
                data_type=f.data_type,  # type: ignore[arg-type]
            ).model_dump()
            for f in self.taken.values()
        ]
