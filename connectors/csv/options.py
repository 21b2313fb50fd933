"""Options of a ``kind: csv`` source: which file holds what, and how its columns map.

Any CRM export fits by configuration alone: ``columns`` maps canonical field names to the
file's own column names, ``defaults`` fills fields the file lacks, ``value_maps`` rewrites
values (e.g. ``status: {Won: won}``), ``stage_dates`` derives stage events from date
columns ("reached Engaging at engage_date"), and ``custom_fields`` keeps other columns,
typed, in ``custom_fields`` (see :class:`CustomField`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from models.canonical import Account, Activity, Deal, Owner
from models.config import StrictModel

# The types a custom field can be declared as; ``infer`` reads them from the file's values.
CustomFieldType = Literal["text", "number", "date", "datetime", "bool", "enum", "infer"]
OTHER_COLUMNS = "*"  # custom_fields key: every column the file does not map otherwise


class CsvFile(StrictModel):
    path: str = Field(description="relative to hub.yml's folder")
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> column in the file"
    )
    defaults: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> constant, for fields the file lacks"
    )
    value_maps: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="canonical field -> {file value: canonical value}"
    )
    delimiter: str | None = Field(default=None, description="default: sniffed from the file")
    encoding: str | None = Field(
        default=None, description="default: UTF-8 (with or without BOM), else Latin-1"
    )
    date_format: str | None = Field(
        default=None, description="strptime format; default: ISO-8601 and common formats"
    )
    day_first: bool = Field(default=False, description="read 03/04/2026 as 3 April")
    decimal_separator: Literal[".", ","] = "."
    timezone: str = Field(default="UTC", description="zone of timestamps without an offset")

    # Which canonical fields this kind of file can carry; subclasses narrow it.
    allowed_fields: ClassVar[tuple[str, ...]] = ()
    required_fields: ClassVar[tuple[str, ...]] = ()

    def used_columns(self) -> set[str]:
        """The file's columns this file's options already read (not custom fields)."""
        return set(self.columns.values())

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1 and value != "\\t":
            raise ValueError("a delimiter is one character such as ',' ';' '|' or '\\t'")
        return "\t" if value == "\\t" else value

    @model_validator(mode="after")
    def _known_fields(self) -> CsvFile:
        allowed = set(self.allowed_fields)
        for section in ("columns", "defaults", "value_maps"):
            for name in getattr(self, section):
                if name not in allowed:
                    raise ValueError(
                        f"{section}.{name}: not a field of this file; valid: {', '.join(sorted(allowed))}"
                    )
        missing = [f for f in self.required_fields if f not in self.columns]
        if missing:
            raise ValueError(f"columns: map the required field(s) {', '.join(missing)}")
        return self


class CustomField(StrictModel):
    """One column kept in ``custom_fields``, in its long form."""

    type: CustomFieldType = Field(
        default="infer", description="text, number, date, datetime, bool, enum, or infer"
    )
    name: str | None = Field(
        default=None,
        description="key in custom_fields; default: the column name in lower_snake_case",
    )
    label: str | None = Field(default=None, description="default: the column name")
    values: list[str] | None = Field(
        default=None,
        description="enum only: the labels allowed (matched ignoring case); others are "
        "quarantined. Default: any value",
    )

    @model_validator(mode="after")
    def _values_for_enums(self) -> CustomField:
        if self.values is not None and self.type != "enum":
            raise ValueError("values: only an enum field lists its values")
        return self


class HasCustomFields(StrictModel):
    """A file whose other columns can be kept, typed, in ``custom_fields``.

    Written as a list (each column kept as text), ``all`` (``{"*": infer}``), or a mapping
    of column -> type or -> {type, name, label, values}, where ``"*"`` stands for every
    column the file does not map otherwise; read as the long form."""

    custom_fields: dict[str, CustomField] = Field(
        default_factory=dict,
        description="other columns to keep in custom_fields: a list (kept as text), 'all' "
        "(every other column, types inferred), or {column: type} / {column: {type, name, "
        "label, values}} with '*' for every column not mapped otherwise",
    )

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _long_form(cls, value: Any) -> Any:
        if value == "all":
            return {OTHER_COLUMNS: {"type": "infer"}}
        if isinstance(value, list):
            return {column: {"type": "text"} for column in value}
        if isinstance(value, dict):
            return {c: {"type": t} if isinstance(t, str) else t for c, t in value.items()}
        return value

    @field_validator("custom_fields")
    @classmethod
    def _whole_columns_only(cls, value: dict[str, CustomField]) -> dict[str, CustomField]:
        rest = value.get(OTHER_COLUMNS)
        if rest is not None and (rest.name or rest.label or rest.values):
            raise ValueError(f"{OTHER_COLUMNS!r} stands for many columns: give it a type only")
        return value

    def custom_columns(self) -> tuple[dict[str, CustomField], CustomFieldType | None]:
        """The columns named, and the type of every other column (None: not kept)."""
        named = {c: spec for c, spec in self.custom_fields.items() if c != OTHER_COLUMNS}
        rest = self.custom_fields.get(OTHER_COLUMNS)
        return named, None if rest is None else rest.type


_DEAL_FIELDS = tuple(
    f
    for f in Deal.model_fields
    if f not in ("source_name", "crm", "deal_key", "account_key", "custom_fields", "is_deleted")
)


class DealsFile(CsvFile, HasCustomFields):
    allowed_fields = _DEAL_FIELDS
    required_fields = ("source_deal_id",)

    stage_dates: dict[str, str] = Field(
        default_factory=dict,
        description="native stage -> date column: the deal reached that stage on that date",
    )
    status_from_stage: dict[str, Literal["open", "won", "lost"]] = Field(
        default_factory=dict, description="native stage -> status, when the file has no status"
    )
    full_snapshot: bool = Field(
        default=False,
        description="the file is a full export of the CRM's deals: a deal the warehouse holds "
        "that a newly read file lacks was deleted or merged there, and is marked is_deleted "
        "(live again if it comes back). Off by default, since a filtered export "
        "('my team only') would otherwise delete every other deal",
    )

    def used_columns(self) -> set[str]:
        return super().used_columns() | set(self.stage_dates.values())


class AccountsFile(CsvFile, HasCustomFields):
    allowed_fields = tuple(
        f
        for f in Account.model_fields
        if f not in ("source_name", "crm", "account_key", "custom_fields")
    )
    required_fields = ("source_account_id",)


class ActivitiesFile(CsvFile):
    allowed_fields = tuple(
        f
        for f in Activity.model_fields
        if f not in ("source_name", "crm", "activity_key", "deal_key", "is_deleted")
    ) + ("deal_id",)
    required_fields = ("source_activity_id",)


class OwnersFile(CsvFile):
    allowed_fields = tuple(
        f for f in Owner.model_fields if f not in ("source_name", "crm", "owner_key")
    )
    required_fields = ("source_owner_id",)


class StageHistoryFile(CsvFile):
    """A file of stage moves: one row per move, or a long-form change log (one row per
    change of any field, such as Salesforce's field history or Pipedrive's change log),
    whose stage rows ``where`` picks."""

    allowed_fields = (
        "deal_id",
        "stage_id",
        "changed_at",
        "from_stage_id",
        "pipeline_id",
        "changed_by",
    )
    required_fields = ("deal_id", "stage_id", "changed_at")

    where: dict[str, list[str]] = Field(
        default_factory=dict,
        description="column -> value (or list of values): only rows whose cell is one of "
        "them are stage moves (compared trimmed, ignoring case); every other row is left "
        "out and counted, e.g. {Field / Event: Stage} for a change log that also records "
        "owner, amount or status changes",
    )

    @field_validator("where", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {c: [v] if isinstance(v, str) else v for c, v in value.items()}
        return value

    @field_validator("where")
    @classmethod
    def _some_values(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for column, values in value.items():
            if not values:
                raise ValueError(f"where.{column}: list at least one value")
        return value

    def used_columns(self) -> set[str]:
        return super().used_columns() | set(self.where)


class CsvOptions(StrictModel):
    deals: DealsFile
    activities: ActivitiesFile | None = None
    owners: OwnersFile | None = None
    accounts: AccountsFile | None = None
    stage_history: StageHistoryFile | None = None
    chunk_rows: int = Field(default=50_000, ge=100, description="rows per Arrow batch")
    fast_path: bool = Field(
        default=True,
        description="read blocks with Arrow's CSV reader and convert them vectorised; blocks "
        "it cannot prove clean go through the row path either way. false: row path only",
    )
    max_amount: float = Field(
        default=1e12, gt=0, description="amounts above this are quarantined as implausible"
    )
