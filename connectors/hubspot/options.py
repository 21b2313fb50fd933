"""Options for a ``kind: hubspot`` source (``sources[].options`` in hub.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.hubspot import settings


class HubspotOptions(BaseModel):
    """Defaults suit a Professional portal; every ceiling is HubSpot's own maximum."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default=settings.DEFAULT_BASE_URL, description="override only to reach a sandbox"
    )
    deal_properties: list[str] | Literal["all"] = Field(
        default_factory=list,
        description="deal properties copied into custom_fields, typed (enumerations as "
        "labels): a list of names, or `all` for every custom property of the portal",
    )
    companies: bool = Field(
        default=True,
        description="pull companies (accounts, deal_accounts, deals.account_key); needs "
        "crm.objects.companies.read and crm.schemas.companies.read",
    )
    company_properties: list[str] | Literal["all"] = Field(
        default_factory=list,
        description="company properties copied into the accounts' custom_fields, typed: a "
        "list of names, or `all` for every custom property (numberofemployees always "
        "lands as `employees`)",
    )
    activity_types: list[str] = Field(
        default_factory=lambda: list(settings.ACTIVITY_OBJECTS),
        description="which of calls, emails, meetings, notes, tasks to pull",
    )
    lookback_minutes: int = Field(
        default=10, ge=0, description="re-read this much before the cursor (search index lag)"
    )
    page_size: int = Field(default=settings.LIST_PAGE_MAX, ge=1, le=settings.LIST_PAGE_MAX)
    search_page_size: int = Field(
        default=settings.SEARCH_PAGE_MAX, ge=1, le=settings.SEARCH_PAGE_MAX
    )
    history_batch_size: int = Field(
        default=settings.BATCH_READ_WITH_HISTORY_MAX,
        ge=1,
        le=settings.BATCH_READ_WITH_HISTORY_MAX,
    )
    association_batch_size: int = Field(
        default=settings.ASSOCIATIONS_BATCH_MAX, ge=1, le=settings.ASSOCIATIONS_BATCH_MAX
    )
    association_sweep_minutes: float = Field(
        default=1440,
        ge=0,
        description="how often to relist activities to catch association changes and "
        "deleted activities (neither moves hs_lastmodifieddate); 0 = every run",
    )
    activity_probe: bool = Field(
        default=True,
        description="ask the engagements feed once whether any activity changed before "
        "searching each activity type (needs crm.objects.contacts.read)",
    )
    burst_limit: int = Field(
        default=190, ge=1, description="requests per 10 s for the portal's tier (100 Free/Starter)"
    )
    burst_headroom: int = Field(
        default=10, ge=0, description="requests per 10 s left to other apps on the portal"
    )
    search_per_second: float = Field(
        default=4.75, gt=0, le=5, description="search calls per second (HubSpot allows 5)"
    )
    max_daily_share: float = Field(
        default=0.5, gt=0, le=1, description="share of the daily allowance one run may use"
    )
    daily_limit: int | None = Field(
        default=None,
        ge=1,
        description="daily allowance when HubSpot sends no daily headers (OAuth apps)",
    )
    app_id: str | None = Field(
        default=None,
        description="the hub's HubSpot app id: stage history written by it is origin hub_push",
    )
    timeout_s: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=8, ge=1)

    @field_validator("activity_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(settings.ACTIVITY_OBJECTS))
        if unknown:
            valid = ", ".join(settings.ACTIVITY_OBJECTS)
            raise ValueError(f"unknown activity types {unknown}; valid: {valid}")
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
