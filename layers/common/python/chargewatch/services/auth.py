"""Request authentication and organization resolution -> the authorizer's context.

Credentials (in `Authorization: Bearer <token>`, or a browser's `session` cookie holding a user token):
- `cw_…` an organization's API key;
- `cwa_…` an application session token (chargewatch.services.applications);
- otherwise a Cognito user-pool token of a person (chargewatch.services.cognito).

The organization a request acts on is resolved here, in one place for every endpoint:
`X-Organization-Id` (a user must be a member, else 403; an API key or application must match its own
organization) -> the API key's / application's organization -> the active tenant cookie
`active_tenant_id` (the tenant switch; ignored once the user is no longer a member) -> the user's default
organization -> none (a signed-in user without organization: only open-signup routes accept that).
The verdict travels to the handlers in the authorizer context (see `chargewatch.tenancy`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from chargewatch import clock, observability
from chargewatch.dal import api_keys as api_keys_dal
from chargewatch.dal import members as members_dal
from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import users as users_dal
from chargewatch.services import api_keys, cognito
from chargewatch.settings import get_settings
from chargewatch.tenancy import ACTIVE_TENANT_COOKIE


@dataclass(frozen=True)
class AuthVerdict:
    authorized: bool
    error_code: str | None = None
    error_message: str | None = None
    status: int = 200
    organization_id: str | None = None
    key_id: str | None = None
    scopes: tuple[str, ...] = field(default_factory=tuple)
    principal_type: str = "api_key"
    user_id: str | None = None
    email: str | None = None
    role: str | None = None
    super_admin: bool = False
    application_id: str | None = None
    app_session_id: str | None = None

    def to_context(self) -> dict[str, str]:
        """Flat string values, as API Gateway passes authorizer contexts."""
        if not self.authorized:
            return {
                "authStatus": "denied",
                "errorStatus": str(self.status),
                "errorCode": self.error_code or "unauthorized",
                "errorMessage": self.error_message or "",
            }
        return {
            "authStatus": "ok",
            "principalType": self.principal_type,
            "organizationId": self.organization_id or "",
            "keyId": self.key_id or "",
            "scopes": " ".join(self.scopes),
            "userId": self.user_id or "",
            "email": self.email or "",
            "role": self.role or "",
            "superAdmin": "true" if self.super_admin else "false",
            "applicationId": self.application_id or "",
            "appSessionId": self.app_session_id or "",
        }


logger = observability.logger


def _deny(code: str, message: str, status: int = 401) -> AuthVerdict:
    return AuthVerdict(False, code, message, status)


# Verified keys kept per warm container for a short, documented TTL (settings.auth_cache_ttl_seconds).
_key_cache: dict[str, tuple[float, api_keys_dal.ApiKeyItem | None]] = {}


def _lookup(key_hash: str) -> api_keys_dal.ApiKeyItem | None:
    ttl = get_settings().auth_cache_ttl_seconds
    cached = _key_cache.get(key_hash)
    now = time.monotonic()
    if cached and now - cached[0] < ttl:
        return cached[1]
    item = api_keys_dal.find_by_hash(key_hash)
    if ttl > 0:
        if len(_key_cache) > 10_000:
            _key_cache.clear()
        _key_cache[key_hash] = (now, item)
    return item


def clear_cache() -> None:
    _key_cache.clear()


def forget(key_hash: str) -> None:
    """Drop one key from this container's cache (revoke calls it: the next request re-reads the key).
    Other warm containers notice within auth_cache_ttl_seconds (<= 60 s, documented in docs/api-keys.md)."""
    _key_cache.pop(key_hash, None)


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _cookie(cookies: list[str] | None, name: str) -> str | None:
    for cookie in cookies or ():
        key, _, value = cookie.strip().partition("=")
        if key.strip() == name and value.strip():
            return value.strip()
    return None


def authorize(
    headers: dict[str, str] | None, *, cookies: list[str] | None = None, now: datetime | None = None
) -> AuthVerdict:
    authorization = _header(headers, "authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _deny("invalid_credentials", "Authorization must be 'Bearer <token>'")
    else:
        token = _cookie(cookies, SESSION_COOKIE) or ""
        if not token:
            return _deny("missing_credentials", "Authorization header with a Bearer API key or user token is required")
    requested_org = (_header(headers, "x-organization-id") or "").strip() or None
    if token.startswith(APPLICATION_TOKEN_PREFIX):
        return _authorize_application(token, requested_org)
    if cognito.looks_like_jwt(token):
        return _authorize_user(token, requested_org, _cookie(cookies, ACTIVE_TENANT_COOKIE))
    # anything else is judged as an API key (locally a hand-picked demo key need not look like one)
    return _authorize_api_key(token, requested_org, now or clock.now())


SESSION_COOKIE = "session"
APPLICATION_TOKEN_PREFIX = "cwa_"


def _organization_mismatch(kind: str) -> AuthVerdict:
    return _deny("organization_mismatch", f"X-Organization-Id does not match the {kind}'s organization", 403)


def _authorize_api_key(token: str, requested_org: str | None, moment: datetime) -> AuthVerdict:
    if not api_keys.is_acceptable(token):
        return _deny("invalid_api_key", "API key is malformed or has a bad checksum")
    key_hash = api_keys.hash_key(token)
    item = _lookup(key_hash)
    if item is None or not api_keys.hashes_match(item.keyHash, token):
        return _deny("invalid_api_key", "API key is not valid")
    if item.revokedAt:
        return _deny("api_key_revoked", "API key has been revoked")
    if item.expiresAt and clock.parse_iso(item.expiresAt) <= moment:
        return _deny("api_key_expired", "API key has expired")
    if requested_org and requested_org != item.organizationId:
        return _organization_mismatch("API key")
    try:
        api_keys.record_use(item, moment)
    except Exception:  # bookkeeping must never turn a valid key away
        logger.exception("could not record lastUsedAt")
    return AuthVerdict(
        True,
        organization_id=item.organizationId,
        key_id=item.keyId,
        scopes=tuple(item.scopes or ()),
        principal_type="api_key",
        role="admin",
    )


def _authorize_application(token: str, requested_org: str | None) -> AuthVerdict:
    """Application session tokens are never cached: revoke-all takes effect on the next request."""
    from chargewatch.services import applications  # only application traffic pays for the import

    session = applications.authenticate_session_token(token)
    if session is None:
        return _deny("invalid_session_token", "application session token is not valid, expired or revoked")
    if requested_org and requested_org != session["organizationId"]:
        return _organization_mismatch("application")
    return AuthVerdict(
        True,
        organization_id=session["organizationId"],
        principal_type="application",
        role="application",
        application_id=session["applicationId"],
        app_session_id=session["sessionId"],
    )


def _authorize_user(token: str, requested_org: str | None, active_tenant: str | None) -> AuthVerdict:
    try:
        claims = cognito.verify_token(token)
    except cognito.InvalidToken as error:
        return _deny("invalid_token", str(error))
    profile = users_dal.get(claims.user_id)
    if profile is None:  # first request of a person who signed up: remember them
        profile = users_dal.upsert(claims.user_id, email=claims.email, now=clock.iso_now())
    super_admin = bool(profile.superAdmin) or "super_admin" in claims.groups

    def user_in(organization_id: str | None, role: str | None) -> AuthVerdict:
        return AuthVerdict(
            True,
            organization_id=organization_id,
            role=role,
            principal_type="user",
            user_id=claims.user_id,
            email=claims.email or profile.email,
            super_admin=super_admin,
        )

    if requested_org:
        role = _role_in(requested_org, claims.user_id, super_admin)
        if role is None:
            return _deny("not_a_member", "you are not a member of the organization named by X-Organization-Id", 403)
        return user_in(requested_org, role)
    for candidate in (active_tenant, profile.defaultOrganizationId):
        role = _role_in(candidate, claims.user_id, super_admin) if candidate else None
        if role is not None:
            return user_in(candidate, role)
    memberships = members_dal.memberships_of(claims.user_id)
    if memberships:
        first = memberships[0]
        return user_in(first.organizationId, first.role)
    return user_in(None, None)


def _role_in(organization_id: str, user_id: str, super_admin: bool) -> str | None:
    """The user's role in an organization; super admins act as admins of any existing one."""
    try:
        member = members_dal.get_member(organization_id, user_id)
    except ValueError:  # not an id we could ever have issued
        return None
    if member is not None and (member.status or "active") == "active":
        return member.role
    if super_admin and organizations_dal.get(organization_id) is not None:
        return "admin"
    return None
