"""Who may call each HTTP route, decided once per route, here.

Every route of template.yaml must have an entry (a test walks the template and fails on a route
without one), and `chargewatch.api.handle` enforces the entry before the request is parsed or
validated: a route missing from this table answers 403, so forgetting it fails closed. The OpenAPI
generator documents each route's 401/403 from the same table.
"""

from __future__ import annotations

from enum import StrEnum

from chargewatch.errors import PermissionDeniedError
from chargewatch.tenancy import Tenant, require_admin, require_user


class Access(StrEnum):
    # No credential needed. The only public route is the tenant-switch redirect: a browser link that
    # answers every caller with a redirect (to sign-in when there is no credential), never a 401.
    PUBLIC = "public"
    # Any authenticated caller acting on an organization: API key, member, application session.
    MEMBER = "member"
    # Owners and admins (and API keys, an organization's machine credential created by its admins);
    # members and applications get 403 `insufficient_privilege`.
    ADMIN = "admin"
    # A signed-in person (Cognito token); API keys and applications get 403 `user_required`.
    USER = "user"
    # An organization admin, or the application itself authenticated with its secret.
    ADMIN_OR_APPLICATION = "admin_or_application"


ROUTE_ACCESS: dict[str, Access] = {
    # charging sessions
    "GET /v1/sessions": Access.MEMBER,
    "POST /v1/sessions": Access.MEMBER,
    "GET /v1/sessions/{session_id}": Access.MEMBER,
    "PUT /v1/sessions/{session_id}": Access.MEMBER,
    "PATCH /v1/sessions/{session_id}": Access.MEMBER,
    "POST /v1/sessions/batch": Access.MEMBER,
    "GET /v1/sessions/batch/{batch_id}": Access.MEMBER,
    "POST /v1/sessions/{session_id}/ask": Access.MEMBER,
    "GET /v1/sessions/{session_id}/explain": Access.MEMBER,
    "POST /v1/sessions/{session_id}/explain": Access.MEMBER,
    # stations, anomalies, statistics
    "GET /v1/stations": Access.MEMBER,
    "GET /v1/stations/lookup": Access.MEMBER,
    "GET /v1/stations/{charging_station_id}": Access.MEMBER,
    "GET /v1/stations/{charging_station_id}/connectors": Access.MEMBER,
    "GET /v1/stations/{charging_station_id}/anomalies": Access.MEMBER,
    "GET /v1/stations/{charging_station_id}/energy": Access.MEMBER,
    "GET /v1/stations/{charging_station_id}/inference": Access.MEMBER,
    "GET /v1/stations/{charging_station_id}/shade-overview": Access.MEMBER,
    "GET /v1/anomalies": Access.MEMBER,
    "GET /v1/anomalies/connectors": Access.MEMBER,
    "GET /v1/anomalies/sessions": Access.MEMBER,
    "PATCH /v1/anomalies/issues/{issue_id}": Access.MEMBER,
    "GET /v1/anomalies/sessions/{session_id}/categories/{category_id}/details": Access.MEMBER,
    "GET /v1/statistics": Access.MEMBER,
    # detection models: switching the active model and fine-tuning are organization-wide settings
    "GET /v1/models": Access.MEMBER,
    "GET /v1/models/{model_id}": Access.MEMBER,
    "PATCH /v1/models/{model_id}": Access.ADMIN,
    "POST /v1/models/fine-tune": Access.ADMIN,
    "GET /v1/models/fine-tune/{job_id}": Access.MEMBER,
    # webhooks and API keys: reading is open to members, managing is for admins
    "GET /v1/webhooks": Access.MEMBER,
    "POST /v1/webhooks": Access.ADMIN,
    "GET /v1/webhooks/{webhook_id}": Access.MEMBER,
    "PUT /v1/webhooks/{webhook_id}": Access.ADMIN,
    "DELETE /v1/webhooks/{webhook_id}": Access.ADMIN,
    "POST /v1/webhooks/{webhook_id}/rotate-secret": Access.ADMIN,
    "POST /v1/webhooks/{webhook_id}/test": Access.ADMIN,
    "GET /v1/api-keys": Access.MEMBER,
    "POST /v1/api-keys": Access.ADMIN,
    "DELETE /v1/api-keys/{key_id}": Access.ADMIN,
    # organization and members (PUT /v1/organization also creates one for a user who has none)
    "GET /v1/organization": Access.MEMBER,
    "PUT /v1/organization": Access.ADMIN,
    "GET /v1/members": Access.MEMBER,
    "DELETE /v1/members/{user_id}": Access.ADMIN,
    "POST /v1/members/invitations": Access.ADMIN,
    "POST /v1/invitations/{token}/accept": Access.USER,
    # usage metering
    "GET /api/tenant-usage": Access.MEMBER,
    "POST /api/tenant-usage": Access.ADMIN,
    # applications (integrations) and their sessions
    "POST /api/v1/applications": Access.ADMIN,
    "GET /api/v1/applications": Access.MEMBER,
    "GET /api/v1/applications/{applicationId}": Access.MEMBER,
    "POST /api/v1/applications/{applicationId}/sessions": Access.ADMIN_OR_APPLICATION,
    "GET /api/v1/applications/{applicationId}/sessions": Access.MEMBER,
    "GET /api/v1/applications/{applicationId}/sessions/{sessionId}": Access.MEMBER,
    "DELETE /api/v1/applications/{applicationId}/sessions": Access.ADMIN,
    # tenant switch, a user's tenant sessions, the organization's login sessions
    "POST /api/tenants/{tenantId}/switch": Access.USER,
    "GET /api/tenants/{tenantId}/switch": Access.PUBLIC,
    "GET /api/v1/tenant-sessions": Access.USER,
    "POST /api/v1/tenant-sessions": Access.USER,
    "GET /api/v1/tenant-sessions/{session_id}": Access.USER,
    "PUT /api/v1/tenant-sessions/{session_id}": Access.USER,
    "DELETE /api/v1/tenant-sessions/{session_id}": Access.USER,
    "GET /api/v1/sessions": Access.MEMBER,
    "GET /api/v1/sessions/{sessionId}": Access.MEMBER,
}

PUBLIC_ROUTES = frozenset(route for route, access in ROUTE_ACCESS.items() if access is Access.PUBLIC)


def route_access(route_key: str) -> Access | None:
    return ROUTE_ACCESS.get(route_key)


def enforce(route_key: str, tenant: Tenant) -> None:
    """403 unless the authenticated `tenant` may call the route (authentication is settled before)."""
    access = ROUTE_ACCESS.get(route_key)
    if access is None:
        raise PermissionDeniedError("this route has no declared access level", code="route_access_undeclared")
    if access is Access.USER:
        require_user(tenant)
    elif access is Access.ADMIN and tenant.organization_id:
        # without an organization the route itself decides (only open signup creates one)
        require_admin(tenant)
    elif access is Access.ADMIN_OR_APPLICATION and tenant.principal_type != "application":
        require_admin(tenant)
