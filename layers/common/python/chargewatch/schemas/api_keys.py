"""Request and response models of /v1/api-keys (camelCase)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chargewatch.pagination import Pagination


class CreateApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=500)] | None = None
    expiresAt: datetime | None = Field(default=None, description="optional; must be in the future")

    @field_validator("expiresAt")
    @classmethod
    def _utc(cls, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        try:
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past the last representable moment
            raise ValueError("not a representable date-time") from None


class _ApiKeyFields(BaseModel):
    id: str
    name: str
    description: str | None = None
    prefix: str = Field(description="the key's first characters, to recognise it; not a secret")
    tenantId: str
    createdAt: str
    expiresAt: str | None = None


class ApiKey(_ApiKeyFields):
    lastUsedAt: str | None = Field(default=None, description="updated at most once a minute")
    revokedAt: str | None = None


class ApiKeyCreated(_ApiKeyFields):
    key: str = Field(description="the full key; shown only in this response")


class ApiKeyPage(BaseModel):
    items: list[ApiKey]
    pagination: Pagination


class ApiKeyRevoked(ApiKey):
    revokedOwnKey: bool = Field(description="the key revoked is the one this request used")
    activeKeysRemaining: int
    warning: str | None = None
