"""The tenant of a request, read only from the authorizer's context (never from body or path)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from chargewatch.errors import AuthenticationError, PermissionDeniedError


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    principal_type: str
    key_id: str | None
    scopes: tuple[str, ...]


def tenant_from_event(event: Mapping[str, Any]) -> Tenant:
    """Enforce the authorizer's verdict: 401/403 JSON unless it authenticated a tenant."""
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    if context.get("authStatus") != "ok" or not context.get("organizationId"):
        message = context.get("errorMessage") or "authentication required"
        code = context.get("errorCode") or "unauthorized"
        if str(context.get("errorStatus")) == "403":
            raise PermissionDeniedError(message, code=code)
        raise AuthenticationError(message, code=code)
    return Tenant(
        organization_id=context["organizationId"],
        principal_type=context.get("principalType", "api_key"),
        key_id=context.get("keyId") or None,
        scopes=tuple((context.get("scopes") or "").split()),
    )
