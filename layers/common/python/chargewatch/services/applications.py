"""Applications (an organization's registered integrations) and their sessions.

Two credentials, both random, shown once, stored only as SHA-256 (hashing and constant-time
comparison are the API keys' helpers):

- the application secret `cwas_...` (one per application) opens sessions, and does nothing else:
  it is checked by the applications function on the connect route only (`admit_application_secret`
  in functions/applications/app.py), never by the authorizer, so it cannot call any other endpoint;
- a session token `cwa_...` (one per session, 24 h) calls the API on behalf of the application's
  organization: the authorizer calls `authenticate_session_token` on every request, without a cache,
  so a revoke-all is effective on the next request.

Revoke-all first stamps `sessionsRevokedAt` on the application, then disconnects each connected
session: a session connected at or before that stamp is refused (and shown as disconnected) even if
the index listing missed it, so no token survives a completed revoke.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import cast

from chargewatch import clock, observability
from chargewatch.dal import applications as applications_dal
from chargewatch.errors import NotFoundError, PermissionDeniedError
from chargewatch.schemas.applications import (
    Application,
    ApplicationList,
    ApplicationRegistered,
    ApplicationResponse,
    ApplicationSession,
    ApplicationType,
    ConnectSessionRequest,
    DerivedStatus,
    RegisterApplicationRequest,
    SessionConnected,
    SessionList,
    SessionResponse,
    SessionsRevoked,
    SessionStatus,
    SessionStatusFilter,
)
from chargewatch.services.api_keys import hash_key, hashes_match
from chargewatch.tenancy import Tenant, require_admin

logger = observability.logger

SECRET_PREFIX = "cwas_"
TOKEN_PREFIX = "cwa_"
_RANDOM_BYTES = 32  # 43 url-safe characters
_CREDENTIAL_PATTERN = re.compile(r"^(cwas?)_[A-Za-z0-9_-]{43}$")

SESSION_TOKEN_LIFETIME = timedelta(hours=24)
IDLE_AFTER = timedelta(minutes=5)
# lastActiveAt moves at most once per minute per session (a conditional write), not per request.
ACTIVITY_RESOLUTION = timedelta(seconds=60)
# Ended sessions stay readable for a while, then DynamoDB's TTL removes them.
SESSION_RETENTION = timedelta(days=30)

INACTIVE_STATUSES = ("expired", "disconnected")


def _new_credential(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(_RANDOM_BYTES)


def _has_shape(credential: str, prefix: str) -> bool:
    """Cheap rejection of garbage before any database read."""
    match = _CREDENTIAL_PATTERN.match(credential or "")
    return match is not None and match.group(1) + "_" == prefix


# --------------------------------------------------------------------------- reading


def derive_status(
    status: str, token_expires_at: str | None, last_active_at: str | None, moment: datetime
) -> DerivedStatus:
    """disconnected > expired > idle (no activity for IDLE_AFTER) > active."""
    if status != "active":
        return "disconnected"
    if token_expires_at and clock.parse_iso(token_expires_at) <= moment:
        return "expired"
    if last_active_at and moment - clock.parse_iso(last_active_at) >= IDLE_AFTER:
        return "idle"
    return "active"


def _revoked_with_application(
    application: applications_dal.ApplicationItem, item: applications_dal.AppSessionItem
) -> bool:
    """Live at the application's last revoke-all (connected at or before it, expiring after it), whether
    or not revoke-all's own update of the session landed."""
    if not application.sessionsRevokedAt:
        return False
    revoked_at = clock.parse_iso(application.sessionsRevokedAt)
    return clock.parse_iso(item.connectedAt) <= revoked_at < clock.parse_iso(item.tokenExpiresAt)


def _application_out(item: applications_dal.ApplicationItem) -> Application:
    return Application(
        id=item.applicationId,
        name=item.name,
        type=cast(ApplicationType, item.type),  # validated when registered; pydantic checks it again
        description=item.description,
        organizationId=item.organizationId,
        createdAt=item.createdAt,
        sessionsRevokedAt=item.sessionsRevokedAt,
    )


def _session_out(
    item: applications_dal.AppSessionItem, application: applications_dal.ApplicationItem, moment: datetime
) -> ApplicationSession:
    status, disconnected_at = item.status, item.disconnectedAt
    if status == "active" and _revoked_with_application(application, item):
        status, disconnected_at = "disconnected", application.sessionsRevokedAt
    return ApplicationSession(
        id=item.sessionId,
        name=item.name,
        status=cast(SessionStatus, status),  # "active" | "disconnected" as stored; pydantic checks it again
        derivedStatus=derive_status(status, item.tokenExpiresAt, item.lastActiveAt, moment),
        tokenExpiresAt=item.tokenExpiresAt,
        lastActiveAt=item.lastActiveAt,
        connectedAt=item.connectedAt,
        disconnectedAt=disconnected_at,
        createdAt=item.createdAt,
        agentId=item.applicationId,
        organizationId=item.organizationId,
        hostname=item.hostname,
        userAgent=item.userAgent,
        clientInfo=item.clientInfo,
    )


def _application_or_404(organization_id: str, application_id: str) -> applications_dal.ApplicationItem:
    item = applications_dal.get_application(organization_id, application_id)
    if item is None:
        raise NotFoundError(f"application {application_id} not found", code="application_not_found")
    return item


# --------------------------------------------------------------------------- applications


def register_application(tenant: Tenant, request: RegisterApplicationRequest) -> ApplicationRegistered:
    require_admin(tenant)
    secret = _new_credential(SECRET_PREFIX)
    item = applications_dal.put_application(
        tenant.organization_id,
        application_id=clock.new_id(),
        secret_hash=hash_key(secret),
        name=request.name.strip(),
        type=request.type,
        description=request.description,
        created_at=clock.iso_now(),
        created_by=tenant.user_id or tenant.key_id,
    )
    return ApplicationRegistered(application=_application_out(item), applicationSecret=secret)


def list_applications(organization_id: str) -> ApplicationList:
    return ApplicationList(
        applications=[_application_out(item) for item in applications_dal.list_applications(organization_id)]
    )


def get_application(organization_id: str, application_id: str) -> ApplicationResponse:
    return ApplicationResponse(application=_application_out(_application_or_404(organization_id, application_id)))


def authenticate_application_secret(secret: str) -> dict[str, str] | None:
    """`{"organizationId", "applicationId"}` of the application whose secret this is, else None."""
    if not _has_shape(secret, SECRET_PREFIX):
        return None
    item = applications_dal.find_application_by_secret(hash_key(secret))
    if item is None or not hashes_match(item.secretHash, secret):
        return None
    return {"organizationId": item.organizationId, "applicationId": item.applicationId}


# --------------------------------------------------------------------------- sessions


def connect_session(
    tenant: Tenant, application_id: str, request: ConnectSessionRequest, *, secret_application_id: str | None
) -> SessionConnected:
    """Open a session. `secret_application_id` is the application whose secret authenticated the
    call (None: the caller is an organization principal, who must be an admin)."""
    if secret_application_id is None:
        require_admin(tenant)
    application = _application_or_404(tenant.organization_id, application_id)
    if secret_application_id is not None and secret_application_id != application_id:
        raise PermissionDeniedError(
            "the application secret belongs to another application", code="application_mismatch"
        )
    token = _new_credential(TOKEN_PREFIX)
    moment = clock.now()
    at, expires = clock.to_iso(moment), moment + SESSION_TOKEN_LIFETIME
    item = applications_dal.put_session(
        applications_dal.new_session(
            tenant.organization_id,
            application_id,
            clock.new_id(),
            tokenHash=hash_key(token),
            name=request.name.strip(),
            status="active",
            tokenExpiresAt=clock.to_iso(expires),
            lastActiveAt=at,
            connectedAt=at,
            createdAt=at,
            hostname=request.hostname,
            userAgent=request.userAgent,
            clientInfo=request.clientInfo,
            ttl=int((expires + SESSION_RETENTION).timestamp()),
        )
    )
    return SessionConnected(
        session=_session_out(item, application, moment), token=token, tokenExpiresAt=item.tokenExpiresAt
    )


def _wanted(status: SessionStatusFilter | None, include_inactive: bool) -> tuple[str, ...] | None:
    """The derived statuses a list returns: `status` wins; without it, includeInactive adds the ended."""
    if status == "all" or (status is None and include_inactive):
        return None
    if status == "inactive":
        return INACTIVE_STATUSES
    return ("active", "idle")


def list_sessions(
    organization_id: str, application_id: str, *, limit: int, status: SessionStatusFilter | None, include_inactive: bool
) -> SessionList:
    """Newest first, at most `limit`."""
    application = _application_or_404(organization_id, application_id)
    wanted = _wanted(status, include_inactive)
    moment = clock.now()
    found: list[ApplicationSession] = []
    items = applications_dal.list_sessions(
        organization_id, application_id, connected_only=wanted is not None and "active" in wanted
    )
    for item in items:
        session = _session_out(item, application, moment)
        if wanted is None or session.derivedStatus in wanted:
            found.append(session)
            if len(found) >= limit:
                break
    return SessionList(sessions=found)


def get_session(organization_id: str, application_id: str, session_id: str) -> SessionResponse:
    application = _application_or_404(organization_id, application_id)
    item = applications_dal.get_session(organization_id, application_id, session_id)
    if item is None:
        raise NotFoundError(f"session {session_id} not found", code="session_not_found")
    return SessionResponse(session=_session_out(item, application, clock.now()))


def revoke_all_sessions(tenant: Tenant, application_id: str) -> SessionsRevoked:
    """Disconnect every connected, unexpired session; each is counted once even under concurrent revokes."""
    require_admin(tenant)
    application = _application_or_404(tenant.organization_id, application_id)
    moment = clock.now()
    at = clock.to_iso(moment)
    applications_dal.mark_revoked(application, at)
    disconnected = 0
    for item in applications_dal.list_sessions(tenant.organization_id, application_id, connected_only=True):
        if clock.parse_iso(item.tokenExpiresAt) <= moment:
            continue  # already ended by expiry: not terminated by this call
        if applications_dal.disconnect(item, at):
            disconnected += 1
    return SessionsRevoked(success=True, disconnectedCount=disconnected)


def authenticate_session_token(token: str) -> dict[str, str] | None:
    """For the authorizer: `{"organizationId", "applicationId", "sessionId"}` of a connected, unexpired
    session token, else None. Read consistently every time (no cache), so a revoke is seen at once."""
    if not _has_shape(token, TOKEN_PREFIX):
        return None
    item = applications_dal.find_session_by_token(hash_key(token))
    if item is None or not hashes_match(item.tokenHash, token):
        return None
    moment = clock.now()
    if derive_status(item.status, item.tokenExpiresAt, None, moment) != "active":
        return None
    application = applications_dal.get_application(item.organizationId, item.applicationId)
    if application is None or _revoked_with_application(application, item):
        return None
    try:
        _record_activity(item, moment)
    except Exception:  # bookkeeping must never turn a valid token away
        logger.exception("could not record lastActiveAt")
    return {"organizationId": item.organizationId, "applicationId": item.applicationId, "sessionId": item.sessionId}


def _record_activity(item: applications_dal.AppSessionItem, moment: datetime) -> None:
    if moment - clock.parse_iso(item.lastActiveAt) < ACTIVITY_RESOLUTION:
        return
    applications_dal.touch(item, clock.to_iso(moment))
