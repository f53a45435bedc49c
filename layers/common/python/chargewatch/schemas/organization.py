"""Request and response models of /v1/organization, /v1/members and invitations (camelCase)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Deliberately simple: Cognito verifies addresses; this only catches obvious mistakes.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Organization(BaseModel):
    id: str
    tenantId: str = Field(description="the tenant id every other endpoint acts on (same as id)")
    name: str
    phone: str | None = None
    address: str | None = None
    taxIdType: str | None = None
    taxIdValue: str | None = None
    plan: str
    pricePerKwh: float = Field(description="tariff that statistics price energy with")
    currency: str
    holidayCountry: str | None = Field(
        default=None,
        description="public holidays SHADE expects quiet days on: ISO 3166-1 country, optionally with a "
        "subdivision (`DE`, `DE-BY`, `US-CA`); null: no calendar, any day may be an unlisted holiday",
    )
    createdAt: str
    updatedAt: str | None = None


class UpdateOrganizationRequest(BaseModel):
    """PUT /v1/organization: every field is written (an omitted optional field is cleared), except
    the tariff, which keeps its value unless given."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    address: str | None = Field(default=None, max_length=500)
    taxIdType: str | None = Field(default=None, max_length=50)
    taxIdValue: str | None = Field(default=None, max_length=100)
    pricePerKwh: float | None = Field(default=None, strict=True, allow_inf_nan=False, ge=0, le=100)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    holidayCountry: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="ISO 3166-1 alpha-2 country with an optional subdivision (`DE-BY`) whose public "
        "holidays SHADE expects quiet days on; kept unless given, null clears it",
    )


class Member(BaseModel):
    """An active member, or (admins only) a pending invitation (`status: pending`, `userId` null)."""

    userId: str | None
    email: str
    role: str
    status: Literal["active", "pending"]
    joinedAt: str | None = None
    invitedAt: str | None = None
    expiresAt: str | None = None
    invitedBy: str | None = None
    invitationId: str | None = None


class MemberList(BaseModel):
    members: list[Member]


class MemberRemoved(BaseModel):
    success: bool = True
    userId: str
    removedAt: str
    endedSessions: int = Field(description="the member's tenant sessions in this organization that were ended")


class CreateInvitationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    role: Literal["admin", "member"] = "member"


class Invitation(BaseModel):
    invitationId: str
    organizationId: str
    email: str
    role: str
    status: str
    invitedAt: str
    expiresAt: str
    invitedBy: str


class InvitationCreated(Invitation):
    token: str = Field(description="shown once: the invitee accepts with POST /v1/invitations/{token}/accept")


class InvitationAccepted(BaseModel):
    organizationId: str
    userId: str
    role: str
    joinedAt: str
