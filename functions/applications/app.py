"""/api/v1/applications: routes only. Logic lives in chargewatch.services.applications."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.schemas.applications import (
    ApplicationList,
    ApplicationRegistered,
    ApplicationResponse,
    ConnectSessionRequest,
    RegisterApplicationRequest,
    SessionConnected,
    SessionList,
    SessionResponse,
    SessionsRevoked,
    SessionStatusFilter,
)
from chargewatch.services import applications

app = create_app()

ApplicationId = Annotated[UUID, Path(description="Application UUID")]
ApplicationSessionId = Annotated[UUID, Path(description="the application session's UUID")]
CONNECT_ROUTE_KEY = "POST /api/v1/applications/{applicationId}/sessions"


@app.post(
    "/api/v1/applications",
    summary="Register Application",
    tags=["applications"],
    description="Register an integration (admin only). Its secret is returned only once.",
)
def register_application(body: Annotated[RegisterApplicationRequest, Body()]) -> ApplicationRegistered:
    return applications.register_application(current_tenant(app), body)


@app.get("/api/v1/applications", summary="List Applications", tags=["applications"])
def list_applications() -> ApplicationList:
    return applications.list_applications(current_tenant(app).organization_id)


@app.get("/api/v1/applications/<applicationId>", summary="Get Application", tags=["applications"])
def get_application(applicationId: ApplicationId) -> ApplicationResponse:
    return applications.get_application(current_tenant(app).organization_id, str(applicationId))


@app.post(
    "/api/v1/applications/<applicationId>/sessions",
    summary="Connect Session",
    tags=["applications"],
    description="Open a session, authenticated with the application's secret (`Bearer cwas_...`) or by "
    "an organization admin. The session token (`cwa_...`) is returned only once.",
)
def connect_session(applicationId: ApplicationId, body: Annotated[ConnectSessionRequest, Body()]) -> SessionConnected:
    return applications.connect_session(
        current_tenant(app), str(applicationId), body, secret_application_id=app.context.get("secret_application_id")
    )


@app.get("/api/v1/applications/<applicationId>/sessions", summary="List Sessions", tags=["applications"])
def list_sessions(
    applicationId: ApplicationId,
    limit: Annotated[int, Query(ge=1, le=1000, description="Maximum sessions to return")] = 100,
    status: Annotated[SessionStatusFilter | None, Query(description="active, inactive or all")] = None,
    includeInactive: Annotated[bool, Query(description="Include disconnected/expired sessions")] = False,
) -> SessionList:
    return applications.list_sessions(
        current_tenant(app).organization_id,
        str(applicationId),
        limit=limit,
        status=status,
        include_inactive=includeInactive,
    )


@app.get("/api/v1/applications/<applicationId>/sessions/<sessionId>", summary="Get Session", tags=["applications"])
def get_session(applicationId: ApplicationId, sessionId: ApplicationSessionId) -> SessionResponse:
    return applications.get_session(current_tenant(app).organization_id, str(applicationId), str(sessionId))


@app.delete(
    "/api/v1/applications/<applicationId>/sessions",
    summary="Revoke All Sessions",
    tags=["applications"],
    description="Terminate all active sessions of the application (admin only); their tokens get 401 at once.",
)
def revoke_all_sessions(applicationId: ApplicationId) -> SessionsRevoked:
    return applications.revoke_all_sessions(current_tenant(app), str(applicationId))


def _admit_application_secret(event: dict[str, Any]) -> dict[str, Any]:
    """On the connect route only, a `Bearer cwas_...` application secret stands in for the authorizer's
    verdict (which never accepts a secret): the verified application's organization becomes the tenant."""
    app.append_context(secret_application_id=None)  # set on every invocation: nothing carries over
    if event.get("routeKey") != CONNECT_ROUTE_KEY:
        return event
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    scheme, _, secret = (headers.get("authorization") or "").strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(applications.SECRET_PREFIX):
        return event
    principal = applications.authenticate_application_secret(secret)
    requested_org = (headers.get("x-organization-id") or "").strip()
    if principal is None:
        verdict = {
            "authStatus": "denied",
            "errorStatus": "401",
            "errorCode": "invalid_application_secret",
            "errorMessage": "application secret is not valid",
        }
    elif requested_org and requested_org != principal["organizationId"]:
        verdict = {
            "authStatus": "denied",
            "errorStatus": "403",
            "errorCode": "organization_mismatch",
            "errorMessage": "X-Organization-Id does not match the application's organization",
        }
    else:
        verdict = {
            "authStatus": "ok",
            "principalType": "application",
            "role": "application",
            "organizationId": principal["organizationId"],
            "applicationId": principal["applicationId"],
            "scopes": "",
        }
        app.append_context(secret_application_id=principal["applicationId"])
    request_context = dict(event.get("requestContext") or {})
    request_context["authorizer"] = {"lambda": verdict}
    return {**event, "requestContext": request_context}


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, _admit_application_secret(event), context)
