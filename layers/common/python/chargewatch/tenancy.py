"""The tenant of a request, read only from the authorizer's context (never from body or path).

The authorizer (chargewatch.services.auth) authenticates the caller and resolves the organization
the request acts on; every handler turns that verdict into a `Tenant` here, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chargewatch.errors import AuthenticationError, PermissionDeniedError

ADMIN_ROLES = ("owner", "admin")
# the tenant switch sets it, the authorizer reads it
ACTIVE_TENANT_COOKIE = "active_tenant_id"


@dataclass(frozen=True)
class Tenant:
    organization_id: str  # "" only for a signed-in user without an organization (routes that allow it)
    principal_type: str  # "api_key" | "user" | "application"
    key_id: str | None
    scopes: tuple[str, ...]
    user_id: str | None = None
    email: str | None = None
    # owner|admin|member: a user's membership in organization_id; "admin" for API keys (an
    # organization's machine credential, created by its admins); "application" for application sessions
    role: str | None = None
    super_admin: bool = False
    application_id: str | None = None
    app_session_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.super_admin or self.role in ADMIN_ROLES

    @property
    def is_user(self) -> bool:
        return self.principal_type == "user"


def tenant_from_event(event: Mapping[str, Any], *, organization_required: bool = True) -> Tenant:
    """Enforce the authorizer's verdict: 401/403 JSON unless it authenticated a caller (and, unless
    the route says otherwise, resolved an organization for it)."""
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    if context.get("authStatus") != "ok":
        message = context.get("errorMessage") or "authentication required"
        code = context.get("errorCode") or "unauthorized"
        if str(context.get("errorStatus")) == "403":
            raise PermissionDeniedError(message, code=code)
        raise AuthenticationError(message, code=code)
    organization_id = context.get("organizationId") or ""
    if not organization_id and organization_required:
        raise PermissionDeniedError(
            "you are not a member of any organization yet: create one with "
            "PUT /v1/organization or accept an invitation",
            code="no_organization",
        )
    return Tenant(
        organization_id=organization_id,
        principal_type=context.get("principalType", "api_key"),
        key_id=context.get("keyId") or None,
        scopes=tuple((context.get("scopes") or "").split()),
        user_id=context.get("userId") or None,
        email=context.get("email") or None,
        role=context.get("role") or None,
        super_admin=str(context.get("superAdmin")).lower() == "true",
        application_id=context.get("applicationId") or None,
        app_session_id=context.get("appSessionId") or None,
    )


def require_admin(tenant: Tenant) -> None:
    """Admin-only operations: 403 `insufficient_privilege` for members and applications."""
    if not tenant.is_admin:
        raise PermissionDeniedError(
            "this operation needs the owner or admin role in the organization", code="insufficient_privilege"
        )


def require_user(tenant: Tenant) -> str:
    """Operations that only a signed-in person can perform (tenant switch, own sessions); their user id."""
    if not tenant.is_user or not tenant.user_id:
        raise PermissionDeniedError(
            "this operation needs a signed-in user (a Cognito token), not an API key", code="user_required"
        )
    return tenant.user_id
