"""Request and response models of /api/v1/applications (camelCase)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ApplicationType = Literal["cpms", "agent", "other"]
SessionStatus = Literal["active", "disconnected"]
DerivedStatus = Literal["active", "idle", "expired", "disconnected"]
SessionStatusFilter = Literal["active", "inactive", "all"]


class RegisterApplicationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    type: ApplicationType = Field(description="cpms (a charge-point management system), agent (an AI agent) or other")
    description: Annotated[str, Field(max_length=500)] | None = None


class Application(BaseModel):
    id: str
    name: str
    type: ApplicationType
    description: str | None = None
    organizationId: str
    createdAt: str
    sessionsRevokedAt: str | None = Field(default=None, description="when its sessions were last revoked")


class ApplicationResponse(BaseModel):
    application: Application


class ApplicationRegistered(ApplicationResponse):
    applicationSecret: str = Field(
        description="cwas_... credential of the application (opens sessions); "
        "shown only in this response, only its hash is stored"
    )


class ApplicationList(BaseModel):
    applications: list[Application]


class ConnectSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    hostname: Annotated[str, Field(max_length=255)] | None = None
    userAgent: Annotated[str, Field(max_length=500)] | None = None
    clientInfo: dict[str, Any] | None = Field(default=None, description="client metadata (e.g. MCP clientInfo)")


class ApplicationSession(BaseModel):
    """The seed's session object."""

    id: str = Field(description="Session UUID")
    name: str
    status: SessionStatus
    derivedStatus: DerivedStatus = Field(
        description="computed at read time: disconnected, expired, idle (no activity for 5 minutes) or active"
    )
    tokenExpiresAt: str | None = None
    lastActiveAt: str | None = None
    connectedAt: str | None = None
    disconnectedAt: str | None = None
    createdAt: str
    agentId: str = Field(description="Application ID that created this session")
    organizationId: str
    hostname: str | None = None
    userAgent: str | None = None
    clientInfo: dict[str, Any] | None = None


class SessionResponse(BaseModel):
    session: ApplicationSession


class SessionConnected(SessionResponse):
    token: str = Field(description="cwa_... bearer token of this session; shown only in this response")
    tokenExpiresAt: str


class SessionList(BaseModel):
    sessions: list[ApplicationSession]


class SessionsRevoked(BaseModel):
    success: bool = Field(description="Always true on success")
    disconnectedCount: int = Field(description="Number of sessions that were terminated")
