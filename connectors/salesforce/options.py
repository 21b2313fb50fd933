"""``sources[].options`` for ``kind: salesforce``; defaults suit a production org."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.salesforce.settings import API_VERSION, FIELD_ENTITIES

FieldChoice = Literal["all"] | list[str]


class SalesforceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login_url: str = Field(
        default="https://login.salesforce.com",
        description="token host: login.salesforce.com, test.salesforce.com (sandbox orgs) or "
        "the org's My Domain URL (required for client credentials); a sandbox URL in tests",
    )
    auth_flow: Literal["refresh_token", "jwt_bearer", "client_credentials"] = "refresh_token"
    jwt_audience: str | None = Field(
        default=None,
        description="JWT 'aud'; default https://login.salesforce.com (test.salesforce.com for sandbox orgs)",
    )
    api_version: str = API_VERSION
    lookback_s: int = Field(
        default=600,
        ge=0,
        description="re-read this many seconds before the cursor: rows can commit with a "
        "SystemModstamp older than the newest already seen (long transactions)",
    )
    page_size: int = Field(
        default=2000, ge=200, le=2000, description="Sforce-Query-Options batchSize"
    )
    max_daily_share: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="share of the org's daily API allocation one run may use",
    )
    custom_fields: FieldChoice = Field(
        default="all",
        description="Opportunity fields kept in deals.custom_fields: 'all' (every custom "
        "field the describe lists) or a list of API names, custom or standard",
    )
    account_custom_fields: FieldChoice = Field(
        default="all",
        description="Account fields kept in accounts.custom_fields: 'all' or API names",
    )
    field_columns: dict[str, str | None] = Field(
        default_factory=dict,
        description="'Object.Field': its column name in custom_fields, over the built-in "
        "Opportunity.LeadSource -> lead_source and Account.NumberOfEmployees -> employees "
        "(a standard field named here is taken too; null leaves a built-in one out)",
    )
    describe_max_age_s: int = Field(
        default=86_400,
        ge=0,
        description="Opportunity and Account describes are kept in the pipeline state this "
        "long; a query naming a field the org no longer has refreshes them at once",
    )
    lost_reason_field: str | None = Field(default=None, description="e.g. Loss_Reason__c")
    multi_currency: bool = Field(default=False, description="the org has CurrencyIsoCode")
    default_currency: str = Field(
        default="USD", description="the org currency when single-currency"
    )
    bulk: Literal["auto", "always", "never"] = Field(
        default="auto", description="Bulk API 2.0 for first syncs larger than bulk_threshold rows"
    )
    bulk_threshold: int = Field(default=50_000, ge=1)
    bulk_timeout_s: int = Field(
        default=1800,
        ge=1,
        description="a Bulk 2.0 query job not done after this long is aborted and deleted, "
        "and its slice is read by REST",
    )
    bulk_page_records: int = Field(
        default=20_000,
        ge=1,
        description="maxRecords per results page (memory: one page is parsed at a time)",
    )
    max_uri_bytes: int = Field(
        default=16_000, ge=500, description="URI + headers stay under Salesforce's 16,384 bytes"
    )
    history_ids_per_query: int = Field(default=300, ge=1, le=800)
    include_activities: bool = True
    integration_user_id: str | None = Field(
        default=None,
        description="the user the hub writes as; default: the user in the token response",
    )
    score_field: str = "Hub_Score__c"
    score_reason_field: str = "Hub_Score_Reason__c"

    @field_validator("field_columns")
    @classmethod
    def _field_columns(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for key, column in value.items():
            obj, dot, name = key.partition(".")
            if obj not in FIELD_ENTITIES or not dot or not name:
                raise ValueError(f"'{key}': name a field as Opportunity.<Field> or Account.<Field>")
            if column is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", column):
                raise ValueError(
                    f"'{key}: {column}': a column name is lower_snake_case, e.g. lead_source"
                )
        return value

    @field_validator("login_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.removeprefix("v")
        major, _, minor = value.partition(".")
        if not major.isdigit() or (minor and not minor.isdigit()):
            raise ValueError("an API version looks like '60.0'")
        return f"{major}.{minor or '0'}"
