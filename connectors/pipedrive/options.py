"""Options of a ``kind: pipedrive`` source (``sources[].options`` in hub.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.pipedrive.settings import PLANS, daily_tokens

FieldSelection = Literal["all"] | list[str] | None
"""'all' (or None) takes every custom field; a list takes the fields it names."""


class PipedriveOptions(BaseModel):
    """Defaults suit a real company account; only ``company_domain`` is required."""

    model_config = ConfigDict(extra="forbid")

    company_domain: str | None = Field(
        default=None, description="'acme' for https://acme.pipedrive.com"
    )
    base_url: str | None = Field(
        default=None, description="overrides the company host (the sandbox, a proxy)"
    )
    oauth_token_url: str = "https://oauth.pipedrive.com/oauth/token"
    plan: str = Field(
        default="essential",
        description="the company's plan (lite, growth, premium, ultimate or an older name): "
        "burst pacing until headers say, and the daily budget when they do not",
    )
    seats: int = Field(default=1, ge=1, description="paid seats; the daily budget scales with them")
    lookback_minutes: int | None = Field(
        default=None, ge=0, description="re-read window before the cursor; default hub.yml's"
    )
    page_size: int = Field(default=500, ge=1, le=500)
    max_daily_share: float = Field(
        default=0.5, gt=0, le=1, description="share of the daily token budget one run may use"
    )
    daily_token_budget: int | None = Field(
        default=None,
        gt=0,
        description="the company's daily tokens (top-ups included); default: what the daily "
        "header says is left at start, else 30,000 x plan multiplier x seats",
    )
    include_archived: bool = True
    include_notes: bool = True
    include_organizations: bool = Field(
        default=True,
        description="pull organisations into accounts and deal_accounts (OAuth scope "
        "contacts:read); off: deals keep their account_id and account_key only",
    )
    custom_fields: FieldSelection = Field(
        default="all",
        description="deal custom fields to keep: 'all', or a list of names, column names or "
        "40-char keys ([] = none)",
    )
    organization_custom_fields: FieldSelection = Field(
        default="all",
        description="organisation custom fields to keep, the same way as custom_fields",
    )
    activity_type_map: dict[str, str] = Field(
        default_factory=dict, description="extra activity type key -> canonical type"
    )
    hub_field_names: dict[str, str] = Field(
        default_factory=lambda: {"hub_score": "Hub score", "hub_score_reason": "Hub score reason"},
        description="hub field -> the Pipedrive deal field name the writer uses",
    )

    @field_validator("plan", mode="before")
    @classmethod
    def _known_plan(cls, value: object) -> str:
        name = str(value).strip().lower()
        if name not in PLANS:
            raise ValueError(f"not a Pipedrive plan; valid: {', '.join(PLANS)}")
        return name

    @model_validator(mode="after")
    def _host(self) -> PipedriveOptions:
        if not self.company_domain and not self.base_url:
            raise ValueError(
                "set company_domain (e.g. 'acme' for https://acme.pipedrive.com) or base_url"
            )
        return self

    @property
    def planned_daily_tokens(self) -> int:
        """The day's budget the connector counts against when no header reports it."""
        return self.daily_token_budget or daily_tokens(self.plan, self.seats)

    @property
    def host(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{self.company_domain}.pipedrive.com"
