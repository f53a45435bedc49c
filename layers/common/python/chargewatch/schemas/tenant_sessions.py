"""Login sessions: `/api/v1/tenant-sessions` (snake_case, page/limit/total),
`/api/v1/sessions` (camelCase, cursor pagination) and the tenant switch result.

Not charging sessions (chargewatch.schemas.sessions)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["owner", "admin", "member"]  # chargewatch.dal.members.ROLES

DeviceText = Annotated[str, Field(min_length=1, max_length=200)]
OrganizationId = Annotated[str, Field(min_length=1, max_length=64, examples=["7b0c3a52-1f0e-4d7c-9a51-3f6f8f2c1d10"])]
MAX_CONTEXT_ENTRIES = 100
MAX_CONTEXT_TEXT = 200


# ------------------------------------------------------------------ requests


class TenantContextRequest(BaseModel):
    """What a client asks its session to carry. `org_id` and `role` are checked against the
    caller's membership: a role above the membership is refused (403)."""

    model_config = ConfigDict(extra="ignore")

    org_id: OrganizationId | None = None
    role: Role | None = Field(default=None, description="defaults to the caller's membership role")
    # the bounds the validators below check, stated in the schema
    terminology: dict[str, str] = Field(
        default_factory=dict,
        examples=[{"student": "Learner"}],
        json_schema_extra={
            "maxProperties": MAX_CONTEXT_ENTRIES,
            "propertyNames": {"minLength": 1, "maxLength": MAX_CONTEXT_TEXT},
            "additionalProperties": {"type": "string", "maxLength": MAX_CONTEXT_TEXT},
        },
    )
    feature_flags: dict[str, bool] = Field(
        default_factory=dict,
        examples=[{"peer_review_beta": True}],
        json_schema_extra={
            "maxProperties": MAX_CONTEXT_ENTRIES,
            "propertyNames": {"minLength": 1, "maxLength": MAX_CONTEXT_TEXT},
        },
    )

    @field_validator("terminology")
    @classmethod
    def _terminology(cls, terminology: dict[str, str]) -> dict[str, str]:
        if len(terminology) > MAX_CONTEXT_ENTRIES:
            raise ValueError(f"at most {MAX_CONTEXT_ENTRIES} entries")
        if any(
            not key or len(key) > MAX_CONTEXT_TEXT or len(value) > MAX_CONTEXT_TEXT
            for key, value in terminology.items()
        ):
            raise ValueError(f"keys must be 1-{MAX_CONTEXT_TEXT} characters, values at most {MAX_CONTEXT_TEXT}")
        return terminology

    @field_validator("feature_flags")
    @classmethod
    def _feature_flags(cls, flags: dict[str, bool]) -> dict[str, bool]:
        if len(flags) > MAX_CONTEXT_ENTRIES:
            raise ValueError(f"at most {MAX_CONTEXT_ENTRIES} entries")
        if any(not key or len(key) > MAX_CONTEXT_TEXT for key in flags):
            raise ValueError(f"keys must be 1-{MAX_CONTEXT_TEXT} characters")
        return flags


class DeviceRequest(BaseModel):
    """The device a session is opened from; fields left out are parsed from the User-Agent."""

    model_config = ConfigDict(extra="ignore")

    id: DeviceText | None = None
    platform: DeviceText | None = Field(default=None, examples=["iOS"])
    type: DeviceText | None = Field(default=None, examples=["mobile"])
    name: DeviceText | None = Field(default=None, examples=["Ana's iPhone"])
    osVersion: DeviceText | None = Field(default=None, examples=["17.4"])


class CreateTenantSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    org_id: OrganizationId
    tenant_context: TenantContextRequest | None = None
    device: DeviceRequest | None = None


class UpdateTenantSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_context: TenantContextRequest


# ------------------------------------------------------------------ tenant-sessions responses


class TenantContext(BaseModel):
    org_id: str
    role: Role
    terminology: dict[str, str]
    feature_flags: dict[str, bool]


class TenantSession(BaseModel):
    session_id: str
    user_id: str
    org_id: str
    org_name: str | None
    is_active: bool = Field(description="false once deleted, expired (24 h) or idle for 2 h")
    created_at: str
    expires_at: str = Field(description="absolute expiry (24 h after creation); idle sessions end earlier")


class TenantSessionDetail(TenantSession):
    tenant_context: TenantContext


class TenantSessionUpdated(BaseModel):
    session_id: str
    user_id: str
    org_id: str
    is_active: bool
    updated_at: str
    expires_at: str


class TenantSessionCleared(BaseModel):
    success: bool = True
    cleared_at: str


class PagePagination(BaseModel):
    page: int = Field(description="1-based")
    limit: int
    total: int


class TenantSessionPage(BaseModel):
    data: list[TenantSession]
    pagination: PagePagination


# ------------------------------------------------------------------ organization sessions responses


class Device(BaseModel):
    id: str
    platform: str
    type: str
    name: str
    osVersion: str


class OrganizationSession(BaseModel):
    id: str = Field(description="the session's own id (UUID)")
    organization: str
    user: str
    device: Device
    createdAt: str
    releasedAt: str | None = Field(
        description="when the session ended (signed out, switched away, removed, expired or idle); null while active"
    )


class OrganizationSessionPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[OrganizationSession]
    nextCursor: str | None = Field(default=None, description="pass as `before` for the next page; null at the end")


# ------------------------------------------------------------------ tenant switch


class TenantSwitched(BaseModel):
    success: bool = True
