"""Options of a ``kind: pipedrive`` source (``sources[].options`` in hub.yml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.pipedrive.settings import Plan


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
    plan: Plan = Field(default="essential", description="sets the burst pacing until headers say")
    lookback_minutes: int | None = Field(
        default=None, ge=0, description="re-read window before the cursor; default hub.yml's"
    )
    page_size: int = Field(default=500, ge=1, le=500)
    max_daily_share: float = Field(
        default=0.5, gt=0, le=1, description="share of the daily token budget one run may use"
    )
    daily_token_budget: int | None = Field(
        default=None, gt=0, description="the company's daily tokens; default: what is left at start"
    )
    include_archived: bool = True
    include_notes: bool = True
    custom_fields: list[str] | None = Field(
        default=None, description="deal custom fields to keep, by name or 40-char key; None = all"
    )
    activity_type_map: dict[str, str] = Field(
        default_factory=dict, description="extra activity type key -> canonical type"
    )
    hub_field_names: dict[str, str] = Field(
        default_factory=lambda: {"hub_score": "Hub score", "hub_score_reason": "Hub score reason"},
        description="hub field -> the Pipedrive deal field name the writer uses",
    )

    @model_validator(mode="after")
    def _host(self) -> PipedriveOptions:
        if not self.company_domain and not self.base_url:
            raise ValueError(
                "set company_domain (e.g. 'acme' for https://acme.pipedrive.com) or base_url"
            )
        return self

    @property
    def host(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{self.company_domain}.pipedrive.com"
