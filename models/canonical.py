"""The canonical pipeline schema every connector feeds.

One pydantic model per canonical table. The models are the single description of the
schema: dlt column hints, Arrow schemas and the dbt staging columns are all derived from
(or tested against) them, so a column added here shows up everywhere or fails a test.

Keys are strings ``'<source_name>:<native id>'`` so they read well and reverse easily.
Every row carries ``source_name`` (the configured source) and ``crm`` (its kind).
Timestamps are timezone-aware UTC; amounts are decimals in the deal's own currency.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

DealStatus = Literal["open", "won", "lost"]
ActivityType = Literal["call", "email", "meeting", "note", "task", "other"]
StageChangeOrigin = Literal["crm_history", "observed", "derived", "hub_push"]
FieldEntity = Literal["deal", "account"]
FieldType = Literal["text", "number", "date", "datetime", "bool", "enum"]

DEAL_STATUSES: tuple[str, ...] = get_args(DealStatus)
ACTIVITY_TYPES: tuple[str, ...] = get_args(ActivityType)


def make_key(source_name: str, native_id: object) -> str:
    """Build a canonical key such as ``hubspot_eu:1234567``."""
    return f"{source_name}:{native_id}"


def field_key(source_name: str, entity: str, column_name: str) -> str:
    """The key of a FieldDefinition, e.g. ``hubspot_eu:deal:lead_source``."""
    return f"{source_name}:{entity}:{column_name}"


class CanonicalRow(BaseModel):
    """Columns every canonical row carries, and the table's merge key."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    table_name: ClassVar[str]
    primary_key: ClassVar[tuple[str, ...]]

    source_name: str
    crm: str


class Deal(CanonicalRow):
    table_name: ClassVar[str] = "deals"
    primary_key: ClassVar[tuple[str, ...]] = ("deal_key",)

    deal_key: str
    source_deal_id: str
    name: str | None = None
    pipeline_id: str | None = None
    stage_id: str | None = None
    status: DealStatus = "open"
    amount: Decimal | None = None
    currency: str | None = None
    probability: float | None = Field(default=None, ge=0, le=1, description="0-1, as the CRM says")
    owner_id: str | None = None
    account_id: str | None = Field(default=None, description="the CRM's id of the primary account")
    account_name: str | None = None
    account_key: str | None = Field(
        default=None, description="canonical key of the primary account (accounts.account_key)"
    )
    created_at: datetime | None = None
    expected_close_date: date | None = None
    closed_at: datetime | None = None
    lost_reason: str | None = None
    updated_at: datetime | None = None
    stage_changed_at: datetime | None = Field(
        default=None, description="when the deal entered its current stage, where the CRM says"
    )
    is_deleted: bool = False
    custom_fields: dict[str, Any] | None = None


class Pipeline(CanonicalRow):
    table_name: ClassVar[str] = "pipelines"
    primary_key: ClassVar[tuple[str, ...]] = ("pipeline_key",)

    pipeline_key: str
    pipeline_id: str
    label: str | None = None
    display_order: int | None = None
    is_deleted: bool = False


class Stage(CanonicalRow):
    table_name: ClassVar[str] = "stages"
    primary_key: ClassVar[tuple[str, ...]] = ("stage_key",)

    stage_key: str
    pipeline_id: str | None = None
    stage_id: str
    label: str | None = None
    display_order: int | None = None
    probability: float | None = Field(default=None, ge=0, le=1)
    is_closed: bool = False
    is_won: bool = False
    is_deleted: bool = False


class StageChange(CanonicalRow):
    """One move of one deal into one native stage, wherever the hub learned of it."""

    table_name: ClassVar[str] = "stage_changes"
    primary_key: ClassVar[tuple[str, ...]] = ("deal_key", "changed_at", "stage_id")

    deal_key: str
    changed_at: datetime
    stage_id: str
    from_stage_id: str | None = None
    pipeline_id: str | None = None
    changed_by: str | None = None
    origin: StageChangeOrigin = "crm_history"


class Activity(CanonicalRow):
    table_name: ClassVar[str] = "activities"
    primary_key: ClassVar[tuple[str, ...]] = ("activity_key",)

    activity_key: str
    source_activity_id: str
    type: ActivityType = "other"
    subject: str | None = None
    occurred_at: datetime | None = None
    completed: bool | None = None
    owner_id: str | None = None
    deal_key: str | None = None
    duration_s: int | None = None
    direction: str | None = None
    outcome: str | None = None
    updated_at: datetime | None = None
    is_deleted: bool = False


class Owner(CanonicalRow):
    table_name: ClassVar[str] = "owners"
    primary_key: ClassVar[tuple[str, ...]] = ("owner_key",)

    owner_key: str
    source_owner_id: str
    name: str | None = None
    email: str | None = None
    team: str | None = None
    is_active: bool = True


class Account(CanonicalRow):
    """A company, organization or account record; cross-CRM resolution matches ``domain``
    first, then the name (hub/resolve)."""

    table_name: ClassVar[str] = "accounts"
    primary_key: ClassVar[tuple[str, ...]] = ("account_key",)

    account_key: str
    source_account_id: str
    name: str | None = None
    website: str | None = Field(default=None, description="as the CRM holds it")
    domain: str | None = Field(
        default=None, description="the website's host, lower case, without www. (values.web_domain)"
    )
    industry: str | None = None
    country: str | None = None
    owner_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    is_deleted: bool = False
    custom_fields: dict[str, Any] | None = None


class DealAccount(CanonicalRow):
    """One deal-to-account association; ``deals.account_key`` is the primary one."""

    table_name: ClassVar[str] = "deal_accounts"
    primary_key: ClassVar[tuple[str, ...]] = ("deal_key", "account_key")

    deal_key: str
    account_key: str
    is_primary: bool = False
    label: str | None = Field(default=None, description="the CRM's association label, if any")


class FieldDefinition(CanonicalRow):
    """One custom field a source sent, so its values in ``custom_fields`` can land as typed
    columns (analytics.deal_fields, analytics.account_fields)."""

    table_name: ClassVar[str] = "field_definitions"
    primary_key: ClassVar[tuple[str, ...]] = ("field_key",)

    field_key: str = Field(description="'<source_name>:<entity>:<column_name>'")
    entity: FieldEntity
    column_name: str = Field(description="key in custom_fields; values.field_column(source_field)")
    source_field: str = Field(description="the CRM's own API name for the field")
    label: str | None = None
    data_type: FieldType = "text"


CANONICAL_MODELS: tuple[type[CanonicalRow], ...] = (
    Deal,
    Pipeline,
    Stage,
    StageChange,
    Activity,
    Owner,
    Account,
    DealAccount,
    FieldDefinition,
)
CANONICAL_TABLES: dict[str, type[CanonicalRow]] = {m.table_name: m for m in CANONICAL_MODELS}


class QuarantinedRecord(BaseModel):
    """A record the hub could not accept, kept with where it came from and why.

    Not a canonical entity: it lands in each source's ``quarantine`` table so nothing
    bad is silently dropped and nothing good is held back by it.
    """

    model_config = ConfigDict(extra="forbid")

    table_name: ClassVar[str] = "quarantine"

    source_name: str
    crm: str
    entity: str
    record_id: str | None = None
    location: str = Field(description="file and line, or endpoint and page")
    column_name: str | None = None
    value: str | None = None
    reason: str
    quarantined_at: datetime
