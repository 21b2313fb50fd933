"""Options of a ``kind: csv`` source: which file holds what, and how its columns map.

Any CRM export fits by configuration alone: ``columns`` maps canonical field names to the
file's own column names, ``defaults`` fills fields the file lacks, ``value_maps`` rewrites
values (e.g. ``status: {Won: won}``), and ``stage_dates`` derives stage events from date
columns ("reached Engaging at engage_date").
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from models.canonical import Activity, Deal, Owner
from models.config import StrictModel


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


_DEAL_FIELDS = tuple(
    f
    for f in Deal.model_fields
    if f not in ("source_name", "crm", "deal_key", "custom_fields", "is_deleted")
)


class DealsFile(CsvFile):
    allowed_fields = _DEAL_FIELDS
    required_fields = ("source_deal_id",)

    stage_dates: dict[str, str] = Field(
        default_factory=dict,
        description="native stage -> date column: the deal reached that stage on that date",
    )
    status_from_stage: dict[str, Literal["open", "won", "lost"]] = Field(
        default_factory=dict, description="native stage -> status, when the file has no status"
    )
    custom_fields: list[str] = Field(
        default_factory=list, description="other columns to keep in custom_fields"
    )
    full_snapshot: bool = Field(
        default=False,
        description="the file is a full export of the CRM's deals: a deal the warehouse holds "
        "that a newly read file lacks was deleted or merged there, and is marked is_deleted "
        "(live again if it comes back). Off by default, since a filtered export "
        "('my team only') would otherwise delete every other deal",
    )


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
    allowed_fields = (
        "deal_id",
        "stage_id",
        "changed_at",
        "from_stage_id",
        "pipeline_id",
        "changed_by",
    )
    required_fields = ("deal_id", "stage_id", "changed_at")


class CsvOptions(StrictModel):
    deals: DealsFile
    activities: ActivitiesFile | None = None
    owners: OwnersFile | None = None
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
