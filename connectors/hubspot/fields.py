"""Custom properties: which ones the hub takes, the column and type each lands as, its values.

The properties API (``GET /crm/v3/properties/{object}``) describes every property: ``type``
and ``fieldType`` say how to read its string values, ``options`` turn an enumeration's
internal values into the labels people see, ``hubspotDefined`` tells HubSpot's own
properties from the portal's. ``all`` takes every property the portal defined itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.hubspot import settings
from connectors.values import BadValue, BadValues, custom_value, field_column
from models.canonical import FieldDefinition, field_key

Wanted = list[str] | Literal["all"]
Row = dict[str, Any]
ENTITIES = {settings.DEALS: "deal", settings.COMPANIES: "account"}


def data_type_of(prop: dict[str, Any]) -> str:
    """HubSpot's ``type``/``fieldType`` as a FieldDefinition data type. A single checkbox
    is ``type: bool`` (``enumeration`` on older portals) with ``fieldType: booleancheckbox``."""
    ptype, field_type = prop.get("type"), prop.get("fieldType")
    if ptype == "bool" or field_type == "booleancheckbox":
        return "bool"
    return {"enumeration": "enum", "number": "number", "date": "date", "datetime": "datetime"}.get(
        str(ptype), "text"
    )


def option_labels(prop: dict[str, Any]) -> dict[str, str]:
    """An enumeration's internal values -> labels."""
    return {str(o["value"]): str(o["label"]) for o in prop.get("options") or [] if "value" in o}


@dataclass(frozen=True)
class PropertyField:
    """One property the hub copies into ``custom_fields``."""

    name: str
    column: str
    label: str | None
    data_type: str
    options: dict[str, str] = field(default_factory=dict)

    def parse(self, raw: Any) -> Any:
        """The typed value; an enumeration gives its labels (';'-joined for a multi-select).
        Raises BadValue for a value its type or options do not allow."""
        if self.data_type != "enum" or raw in (None, ""):
            return custom_value(raw, self.data_type)
        values = str(raw).split(";")
        if self.options:
            unknown = [v for v in values if v not in self.options]
            if unknown:
                raise BadValue(f"not one of the property's options: {';'.join(unknown)!r}")
        return ";".join(self.options.get(v, v) for v in values)


@dataclass(frozen=True)
class FieldSet:
    """The properties taken for one object type, and what could not be taken."""

    object_type: str
    fields: tuple[PropertyField, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def values(self, props: dict[str, Any], vals: BadValues) -> dict[str, Any] | None:
        """``custom_fields`` of one record: every taken field that has a value, typed (empty
        ones are left out, as every connector does); a bad value is left out and
        quarantined under the property's name."""
        if not self.fields:
            return None
        typed = {f.column: vals.get(f.name, props.get(f.name), f.parse) for f in self.fields}
        return {column: value for column, value in typed.items() if value is not None} or None

    def definitions(self, source: str) -> list[Row]:
        entity = ENTITIES[self.object_type]
        return [
            FieldDefinition(
                source_name=source,
                crm="hubspot",
                field_key=field_key(source, entity, f.column),
                entity=entity,  # type: ignore[arg-type]
                column_name=f.column,
                source_field=f.name,
                label=f.label,
                data_type=f.data_type,  # type: ignore[arg-type]
            ).model_dump()
            for f in self.fields
        ]


def select_fields(
    object_type: str, wanted: Wanted, properties: Sequence[dict[str, Any]]
) -> FieldSet:
    """The fields to take: the shared standard ones (``numberofemployees`` as ``employees``)
    first, then ``wanted`` (names, or with ``all`` every property the portal defined, but
    the hub's own write-backs ``hub_score`` and ``hub_score_reason``).
    A name the portal does not have, or a second property landing in a column already
    taken, is skipped with a warning."""
    by_name = {str(p["name"]): p for p in properties}
    shared = settings.SHARED_STANDARD_FIELDS[object_type]
    if wanted == "all":
        own = {str(p["name"]) for p in settings.HUB_PROPERTIES}  # the hub's write-backs
        names = [
            n
            for n, p in by_name.items()
            if not p.get("hubspotDefined") and not p.get("archived") and n not in own
        ]
    else:
        names = list(wanted)
    fields: list[PropertyField] = []
    taken: dict[str, str] = {}
    warnings: list[str] = []
    singular = ENTITIES[object_type]
    for name in dict.fromkeys([*shared, *names]):
        prop = by_name.get(name)
        if prop is None:
            warnings.append(f"{singular} property {name!r} does not exist in the portal; skipped")
            continue
        column = shared.get(name) or field_column(name)
        if column in taken:
            warnings.append(
                f"{singular} property {name!r} would land in column {column!r}, which "
                f"{taken[column]!r} already fills; skipped"
            )
            continue
        taken[column] = name
        data_type = data_type_of(prop)
        fields.append(
            PropertyField(
                name=name,
                column=column,
                label=prop.get("label"),
                data_type=data_type,
                options=option_labels(prop) if data_type == "enum" else {},
            )
        )
    return FieldSet(object_type, tuple(fields), tuple(warnings))
