"""Tenant switch, tenant sessions and an organization's login sessions: routes only. Logic lives
in chargewatch.services.tenant_sessions.

`/api/v1/sessions` here are login/device sessions, not the charging sessions of `/v1/sessions`.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.errors import AuthenticationError, ChargewatchError
from chargewatch.params import schema_of
from chargewatch.schemas.tenant_sessions import (
    CreateTenantSessionRequest,
    OrganizationSession,
    OrganizationSessionPage,
    TenantSession,
    TenantSessionCleared,
    TenantSessionDetail,
    TenantSessionPage,
    TenantSessionUpdated,
    TenantSwitched,
    UpdateTenantSessionRequest,
)
from chargewatch.services import tenant_sessions
from chargewatch.settings import get_settings
from chargewatch.tenancy import ACTIVE_TENANT_COOKIE, Tenant, require_user, tenant_from_event

app = create_app()

TenantId = Annotated[
    str, Path(min_length=1, max_length=100, description="UUID of the tenant (organization) to activate")
]
TenantSessionId = Annotated[str, Path(min_length=1, max_length=64)]
OrganizationSessionId = Annotated[UUID, Path(description="the login session's UUID")]
REDIRECT_ROUTE_KEY = "GET /api/tenants/{tenantId}/switch"
# The organization's sessions act on an organization; the others also serve a signed-in user without one.
ORGANIZATION_ROUTE_PREFIX = "/api/v1/sessions"


def _user_agent() -> str | None:
    return app.current_event.headers.get("user-agent")


def _active_tenant_cookie(organization_id: str) -> Cookie:
    return Cookie(
        name=ACTIVE_TENANT_COOKIE,
        value=organization_id,
        path="/",
        max_age=tenant_sessions.ACTIVE_TENANT_MAX_AGE,
        http_only=True,
        secure=True,
        same_site=SameSite.LAX_MODE,
    )


def _user(tenant: Tenant) -> Tenant:
    require_user(tenant)
    return tenant


# ------------------------------------------------------------------ tenant switch


@app.post(
    "/api/tenants/<tenantId>/switch",
    summary="Switch Active Tenant",
    tags=["tenants"],
    description="Sets the active tenant (cookie `active_tenant_id`, 30 days) for a member of it or a super "
    "admin, and rotates the caller's tenant session on this browser to it. 400 when tenantId is "
    "not a UUID, 401 unauthenticated, 403 `not_a_member`.",
)
def switch_tenant(tenantId: TenantId) -> Response[TenantSwitched]:
    tenant = _user(current_tenant(app))
    organization_id = tenant_sessions.switch_tenant(
        tenant.user_id, tenant.super_admin, tenantId, user_agent=_user_agent()
    )
    return Response(
        status_code=200,
        content_type="application/json",
        body=TenantSwitched(),
        cookies=[_active_tenant_cookie(organization_id)],
    )


@app.get(
    "/api/tenants/<tenantId>/switch",
    summary="Switch Active Tenant (Redirect)",
    tags=["tenants"],
    description="For navigation links: switches like the POST and redirects (302) to /excel; to / when not "
    "signed in; to /onboarding when not a member (targets are configurable).",
    responses={302: {"description": "Redirect (Location header; Set-Cookie on success)"}},
)
def switch_tenant_redirect(tenantId: TenantId):  # noqa: ANN201 (a redirect, no body schema)
    settings = get_settings()
    tenant: Tenant | None = app.context.get("tenant")
    if tenant is None or not tenant.user_id:
        failure = app.context.get("auth_failure")
        signed_in = failure is not None and not isinstance(failure, AuthenticationError)
        return _redirect(settings.switch_redirect_forbidden if signed_in else settings.switch_redirect_unauthenticated)
    try:
        organization_id = tenant_sessions.switch_tenant(
            tenant.user_id, tenant.super_admin, tenantId, user_agent=_user_agent()
        )
    except ChargewatchError:
        return _redirect(settings.switch_redirect_forbidden)
    return _redirect(settings.switch_redirect_success, [_active_tenant_cookie(organization_id)])


def _redirect(location: str, cookies: list[Cookie] | None = None) -> Response:
    return Response(status_code=302, headers={"Location": location}, cookies=cookies or [], body="")


# ------------------------------------------------------------------ tenant sessions


@app.get(
    "/api/v1/tenant-sessions",
    summary="List Tenant Sessions",
    tags=["tenant-sessions"],
    description="The caller's active tenant sessions, newest first (page is 1-based).",
)
def list_tenant_sessions(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    org_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="only sessions of this organization")
    ] = None,
) -> TenantSessionPage:
    tenant = _user(current_tenant(app))
    return tenant_sessions.list_own_sessions(tenant.user_id, page=page, limit=limit, organization_id=org_id)


@app.post(
    "/api/v1/tenant-sessions",
    summary="Create Tenant Session",
    tags=["tenant-sessions"],
    description="Open a session bound to one of the caller's organizations. The context's role may not exceed "
    "the membership (403 `role_not_permitted`); a non-member gets 403 `not_a_member`.",
)
def create_tenant_session(body: Annotated[CreateTenantSessionRequest, Body()]) -> TenantSession:
    tenant = _user(current_tenant(app))
    return tenant_sessions.create_session(tenant.user_id, tenant.super_admin, body, user_agent=_user_agent())


@app.get(
    "/api/v1/tenant-sessions/<session_id>",
    summary="Get Tenant Session",
    tags=["tenant-sessions"],
    description="One of the caller's sessions with its full context (ended ones have is_active false).",
)
def get_tenant_session(session_id: TenantSessionId) -> TenantSessionDetail:
    tenant = _user(current_tenant(app))
    return tenant_sessions.get_own_session(tenant.user_id, session_id)


@app.put(
    "/api/v1/tenant-sessions/<session_id>",
    summary="Update Tenant Session",
    tags=["tenant-sessions"],
    description="Replace the context of an active session (refreshes its idle timer; 409 once ended).",
)
def update_tenant_session(
    session_id: TenantSessionId, body: Annotated[UpdateTenantSessionRequest, Body()]
) -> TenantSessionUpdated:
    tenant = _user(current_tenant(app))
    return tenant_sessions.update_session(tenant.user_id, tenant.super_admin, session_id, body)


@app.delete(
    "/api/v1/tenant-sessions/<session_id>",
    summary="Delete Tenant Session",
    tags=["tenant-sessions"],
    description="End the session (idempotent: an ended one answers with when it ended).",
)
def delete_tenant_session(session_id: TenantSessionId) -> TenantSessionCleared:
    tenant = _user(current_tenant(app))
    return tenant_sessions.delete_session(tenant.user_id, session_id)


# ------------------------------------------------------------------ the organization's sessions


@app.get(
    "/api/v1/sessions",
    summary="List Sessions",
    tags=["user-sessions"],
    description="Login sessions (with devices) in the selected organization, visible to every member, newest "
    "first. Not charging sessions (those are /v1/sessions).",
)
def list_sessions(
    limit: Annotated[int, Query(ge=1, le=500, description="default 100, max 500")] = 100,
    before: Annotated[
        str | None,
        Query(
            max_length=64,
            description="RFC3339: sessions created strictly before it (pass nextCursor)",
            json_schema_extra=schema_of({"type": "string", "format": "date-time", "maxLength": 64}),
        ),
    ] = None,
) -> OrganizationSessionPage:
    return tenant_sessions.list_organization_sessions(current_tenant(app).organization_id, limit=limit, before=before)


@app.get(
    "/api/v1/sessions/<sessionId>",
    summary="Get Session",
    tags=["user-sessions"],
    description="One login session of the selected organization.",
)
def get_session(sessionId: OrganizationSessionId) -> OrganizationSession:
    return tenant_sessions.get_organization_session(current_tenant(app).organization_id, str(sessionId))


def _redirect_route(event: dict[str, Any], context: LambdaContext) -> dict:
    """The redirect variant answers every verdict with a redirect, never a JSON 401/403."""
    try:
        app.append_context(tenant=tenant_from_event(event, organization_required=False), auth_failure=None)
    except ChargewatchError as failure:
        app.append_context(tenant=None, auth_failure=failure)
    return app.resolve(event, context)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    route_key = event.get("routeKey") or ""
    if route_key == REDIRECT_ROUTE_KEY:
        return _redirect_route(event, context)
    organization_required = route_key.partition(" ")[2].startswith(ORGANIZATION_ROUTE_PREFIX)
    return handle(app, event, context, organization_required=organization_required)
