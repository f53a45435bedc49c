"""Login sessions of users: a user's tenant sessions (/api/v1/tenant-sessions), an organization's
sessions (/api/v1/sessions) and the tenant switch that rotates them. Not charging sessions
(chargewatch.services.sessions).

A tenant session binds one user to one organization with a `tenant_context` (role, terminology,
feature flags). Its role is checked against the membership, so a client cannot grant itself more
than it holds. Expiry is server-side and computed at read time: a session ends when it is
released (DELETE, tenant switch, member removal), 24 h after creation (absolute) or 2 h after its
last activity (idle: GET or PUT of the session by its owner, and tenant switches). Ended sessions
stay readable (inactive, `releasedAt` set) until DynamoDB's TTL deletes them a week later.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

from chargewatch import clock
from chargewatch.dal import login_sessions as login_sessions_dal
from chargewatch.dal import members as members_dal
from chargewatch.dal import organizations as organizations_dal
from chargewatch.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from chargewatch.pagination import paginate
from chargewatch.schemas.tenant_sessions import (
    CreateTenantSessionRequest,
    Device,
    DeviceRequest,
    OrganizationSession,
    OrganizationSessionPage,
    PagePagination,
    TenantContext,
    TenantContextRequest,
    TenantSession,
    TenantSessionCleared,
    TenantSessionDetail,
    TenantSessionPage,
    TenantSessionUpdated,
    UpdateTenantSessionRequest,
)

ABSOLUTE_LIFETIME = timedelta(hours=24)
IDLE_TIMEOUT = timedelta(hours=2)
RETENTION_AFTER_EXPIRY = timedelta(days=7)
# Reads of a session count as activity, but write lastActiveAt at most this often.
ACTIVITY_WRITE_INTERVAL = timedelta(seconds=60)
ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}

ACTIVE_TENANT_MAX_AGE = 30 * 24 * 3600  # 30 days

UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
RFC3339_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")
UNKNOWN = "unknown"


# --------------------------------------------------------------------------- rules


def ended_at(item: login_sessions_dal.LoginSessionItem, now: datetime) -> datetime | None:
    """When the session ended (released, expired or idle), or None while it is active."""
    if item.releasedAt:
        return clock.parse_iso(item.releasedAt)
    deadline = min(clock.parse_iso(item.expiresAt), clock.parse_iso(item.lastActiveAt) + IDLE_TIMEOUT)
    return deadline if now >= deadline else None


def is_uuid(text: str) -> bool:
    return bool(UUID_PATTERN.match(text or ""))


def membership_role(organization_id: str, user_id: str, super_admin: bool) -> str:
    """The highest role the user may hold in the organization: 403 `not_a_member` unless a member
    (or a platform super admin, who acts as an admin of any organization, as in the authorizer;
    404 if it does not exist)."""
    try:
        member = members_dal.get_member(organization_id, user_id)
    except ValueError:  # not an id we could ever have issued
        member = None
    if member is not None and (member.status or "active") == "active":
        return member.role
    if super_admin and "#" not in organization_id:
        if organizations_dal.get(organization_id) is None:
            raise NotFoundError(f"organization {organization_id} not found", code="organization_not_found")
        return "admin"
    raise PermissionDeniedError(f"you are not a member of organization {organization_id}", code="not_a_member")


def _checked_context(requested: TenantContextRequest | None, organization_id: str, allowed_role: str) -> dict[str, Any]:
    requested = requested or TenantContextRequest()
    if requested.org_id is not None and requested.org_id != organization_id:
        raise ValidationError.for_field(
            "tenant_context.org_id", "must be the organization of the session", code="org_mismatch"
        )
    role = requested.role or allowed_role
    if ROLE_RANK[role] > ROLE_RANK[allowed_role]:
        raise PermissionDeniedError(
            f"your role in this organization is {allowed_role}; a session cannot claim {role}",
            code="role_not_permitted",
        )
    return {
        "org_id": organization_id,
        "role": role,
        "terminology": dict(requested.terminology),
        "feature_flags": dict(requested.feature_flags),
    }


# --------------------------------------------------------------------------- devices

_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_WINDOWS_VERSIONS = {"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7"}


def parse_user_agent(user_agent: str | None) -> dict[str, str]:
    """platform, type, name and osVersion of a browser or app User-Agent ("unknown" when unsaid)."""
    agent = (user_agent or "").strip()
    platform, device_type, version = UNKNOWN, UNKNOWN, UNKNOWN
    if found := re.search(r"\b(iPhone|iPad|iPod)\b.*?\bOS (\d+(?:_\d+)*)", agent):
        platform, version = "iOS", found.group(2).replace("_", ".")
        device_type = "tablet" if found.group(1) == "iPad" else "mobile"
    elif found := re.search(r"\bAndroid(?: (\d+(?:\.\d+)*))?", agent):
        platform, version = "Android", found.group(1) or UNKNOWN
        device_type = "mobile" if "Mobile" in agent else "tablet"
    elif found := re.search(r"\bWindows NT (\d+\.\d+)", agent):
        platform, device_type = "Windows", "desktop"
        version = _WINDOWS_VERSIONS.get(found.group(1), found.group(1))
    elif found := re.search(r"\bMac OS X (\d+(?:[_.]\d+)*)", agent):
        platform, device_type, version = "macOS", "desktop", found.group(1).replace("_", ".")
    elif "CrOS" in agent:
        platform, device_type = "ChromeOS", "desktop"
    elif "Linux" in agent:
        platform, device_type = "Linux", "desktop"
    browser = next((name for name, pattern in _BROWSERS if pattern.search(agent)), None)
    if browser is None and (product := re.match(r"([A-Za-z][\w.-]*)/", agent)):
        browser = product.group(1)  # curl/8.4, okhttp/4.12, MyApp/2.1 ...
        if device_type == UNKNOWN:
            device_type = "other"
    if browser and platform != UNKNOWN:
        name = f"{browser} on {platform}"
    else:
        name = browser or (platform if platform != UNKNOWN else UNKNOWN)
    return {"platform": platform, "type": device_type, "name": name, "osVersion": version}


def derived_device_id(user_id: str, user_agent: str | None) -> str:
    """Stable per user and browser, so a later switch from the same browser finds its session."""
    return "dev_" + hashlib.sha256(f"{user_id}\n{user_agent or ''}".encode()).hexdigest()[:24]


def describe_device(user_id: str, requested: DeviceRequest | None, user_agent: str | None) -> dict[str, str]:
    """The body's device fields, the rest parsed from the User-Agent."""
    parsed = parse_user_agent(user_agent)
    given = requested.model_dump(exclude_none=True) if requested else {}
    return {
        "id": given.get("id") or derived_device_id(user_id, user_agent),
        **{field: given.get(field) or parsed[field] for field in ("platform", "type", "name", "osVersion")},
    }


# --------------------------------------------------------------------------- storage helpers


def _open(
    organization_id: str,
    user_id: str,
    context: dict[str, Any],
    device: dict[str, Any],
    user_agent: str | None,
    now: datetime,
) -> login_sessions_dal.LoginSessionItem:
    expires = now + ABSOLUTE_LIFETIME
    return login_sessions_dal.put_new(
        organization_id,
        session_id=clock.new_sortable_id(),
        user_id=user_id,
        created=now,
        created_at=clock.to_iso(now),
        expires_at=clock.to_iso(expires),
        tenant_context=context,
        device=device,
        user_agent=(user_agent or "")[:512] or None,
        ttl=int((expires + RETENTION_AFTER_EXPIRY).timestamp()),
    )


def _end(item: login_sessions_dal.LoginSessionItem, now: datetime, reason: str) -> bool:
    """Release the session; True when it was active until now. One that already expired keeps
    its natural end as releasedAt."""
    natural_end = ended_at(item, now)
    if item.releasedAt:
        return False
    return login_sessions_dal.release(item, clock.to_iso(natural_end or now), reason) and natural_end is None


def _own(user_id: str, session_id: str) -> login_sessions_dal.LoginSessionItem:
    item = login_sessions_dal.find_for_user(user_id, session_id) if session_id and "#" not in session_id else None
    if item is None:
        raise NotFoundError(f"tenant session {session_id} not found", code="tenant_session_not_found")
    return item


def _record_activity(item: login_sessions_dal.LoginSessionItem, now: datetime) -> None:
    if now - clock.parse_iso(item.lastActiveAt) >= ACTIVITY_WRITE_INTERVAL:
        login_sessions_dal.touch(item, at=clock.to_iso(now))


class _OrganizationNames:
    """Organization names for one response (a user's sessions name few organizations)."""

    def __init__(self) -> None:
        self._names: dict[str, str | None] = {}

    def __call__(self, organization_id: str) -> str | None:
        if organization_id not in self._names:
            found = organizations_dal.get(organization_id)
            self._names[organization_id] = found.name if found else None
        return self._names[organization_id]


def _summary_fields(item: login_sessions_dal.LoginSessionItem, now: datetime, org_name: str | None) -> dict[str, Any]:
    return {
        "session_id": item.sessionId,
        "user_id": item.userId,
        "org_id": item.organizationId,
        "org_name": org_name,
        "is_active": ended_at(item, now) is None,
        "created_at": item.createdAt,
        "expires_at": item.expiresAt,
    }


def _tenant_context(item: login_sessions_dal.LoginSessionItem) -> TenantContext:
    stored = item.tenantContext or {}
    return TenantContext(
        org_id=item.organizationId,
        role=stored.get("role", "member"),
        terminology=stored.get("terminology") or {},
        feature_flags=stored.get("feature_flags") or {},
    )


# --------------------------------------------------------------------------- tenant sessions


def list_own_sessions(user_id: str, *, page: int, limit: int, organization_id: str | None = None) -> TenantSessionPage:
    """The caller's active sessions, newest first; `page` is 1-based."""
    now, names = clock.now(), _OrganizationNames()
    active = (
        item for item in login_sessions_dal.list_for_user(user_id, organization_id) if ended_at(item, now) is None
    )
    data, counted = paginate(
        active, page - 1, limit, lambda item: TenantSession(**_summary_fields(item, now, names(item.organizationId)))
    )
    return TenantSessionPage(data=data, pagination=PagePagination(page=page, limit=limit, total=counted.totalCount))


def get_own_session(user_id: str, session_id: str) -> TenantSessionDetail:
    item, now = _own(user_id, session_id), clock.now()
    if ended_at(item, now) is None:
        _record_activity(item, now)
    org_name = _OrganizationNames()(item.organizationId)
    return TenantSessionDetail(**_summary_fields(item, now, org_name), tenant_context=_tenant_context(item))


def create_session(
    user_id: str, super_admin: bool, request: CreateTenantSessionRequest, *, user_agent: str | None
) -> TenantSession:
    role = membership_role(request.org_id, user_id, super_admin)
    context = _checked_context(request.tenant_context, request.org_id, role)
    now = clock.now()
    item = _open(
        request.org_id, user_id, context, describe_device(user_id, request.device, user_agent), user_agent, now
    )
    return TenantSession(**_summary_fields(item, now, _OrganizationNames()(request.org_id)))


def update_session(
    user_id: str, super_admin: bool, session_id: str, request: UpdateTenantSessionRequest
) -> TenantSessionUpdated:
    item, now = _own(user_id, session_id), clock.now()
    if ended_at(item, now) is not None:
        raise ConflictError(f"tenant session {session_id} has ended", code="tenant_session_inactive")
    role = membership_role(item.organizationId, user_id, super_admin)
    context = _checked_context(request.tenant_context, item.organizationId, role)
    if not login_sessions_dal.touch(item, at=clock.to_iso(now), tenant_context=context):
        raise ConflictError(f"tenant session {session_id} has ended", code="tenant_session_inactive")
    return TenantSessionUpdated(
        session_id=item.sessionId,
        user_id=item.userId,
        org_id=item.organizationId,
        is_active=True,
        updated_at=clock.to_iso(now),
        expires_at=item.expiresAt,
    )


def delete_session(user_id: str, session_id: str) -> TenantSessionCleared:
    """Idempotent: deleting an ended session answers with the moment it ended."""
    item = _own(user_id, session_id)
    _end(item, clock.now(), "signed_out")
    if not item.releasedAt:
        item.refresh(consistent_read=True)
    return TenantSessionCleared(cleared_at=item.releasedAt)


def end_member_sessions(organization_id: str, user_id: str) -> int:
    """A member left or was removed: end their sessions in that organization; returns how many
    were active."""
    now = clock.now()
    return sum(
        1
        for item in list(login_sessions_dal.list_for_user(user_id, organization_id))
        if _end(item, now, "member_removed")
    )


# --------------------------------------------------------------------------- tenant switch


def checked_tenant_id(tenant_id: str | None) -> str:
    if tenant_id is None or not is_uuid(tenant_id):
        raise ValidationError.for_field("tenantId", "must be a UUID", code="invalid_tenant_id")
    return tenant_id


def switch_tenant(user_id: str, super_admin: bool, tenant_id: str, *, user_agent: str | None) -> str:
    """Check the target (400/403/404), then rotate the caller's session on this device to it.

    Returns the organization id the `active_tenant_id` cookie is to name."""
    organization_id = checked_tenant_id(tenant_id)
    role = membership_role(organization_id, user_id, super_admin)
    rotate_device_session(user_id, organization_id, role, user_agent=user_agent)
    return organization_id


def _on_device(item: login_sessions_dal.LoginSessionItem, device_id: str, user_agent: str | None) -> bool:
    return (item.device or {}).get("id") == device_id or (item.userAgent or "") == (user_agent or "")[:512]


def rotate_device_session(
    user_id: str, organization_id: str, role: str, *, user_agent: str | None
) -> login_sessions_dal.LoginSessionItem:
    """The user's active sessions on this browser end (reason `switched`) and one bound to the
    new organization takes over their device; one already bound to it is kept."""
    now = clock.now()
    device_id = derived_device_id(user_id, user_agent)
    current = [
        item
        for item in login_sessions_dal.list_for_user(user_id)
        if ended_at(item, now) is None and _on_device(item, device_id, user_agent)
    ]
    kept = next((item for item in current if item.organizationId == organization_id), None)
    for item in current:
        if item is not kept:
            _end(item, now, "switched")
    if kept is not None:
        login_sessions_dal.touch(kept, at=clock.to_iso(now))
        return kept
    device = dict(current[0].device) if current and current[0].device else describe_device(user_id, None, user_agent)
    context = {"org_id": organization_id, "role": role, "terminology": {}, "feature_flags": {}}
    return _open(organization_id, user_id, context, device, user_agent, now)


# --------------------------------------------------------------------------- organization sessions


def parse_before(before: str | None) -> datetime | None:
    if before is None:
        return None
    found = RFC3339_PATTERN.match(before.strip())
    if not found:
        raise ValidationError.for_field("before", "must be an RFC3339 date-time, e.g. 2026-03-26T09:00:00Z")
    try:
        return clock.parse_iso(before)
    except ValueError as error:
        raise ValidationError.for_field("before", f"not a valid date-time ({error})") from error


def _organization_session(item: login_sessions_dal.LoginSessionItem, now: datetime) -> OrganizationSession:
    device = item.device or {}
    end = ended_at(item, now)
    return OrganizationSession(
        id=item.sessionId,
        organization=item.organizationId,
        user=item.userId,
        device=Device(
            **{field: device.get(field) or UNKNOWN for field in ("id", "platform", "type", "name", "osVersion")}
        ),
        createdAt=item.createdAt,
        releasedAt=None if end is None else clock.to_iso(end),
    )


def _cursor_of(item: login_sessions_dal.LoginSessionItem) -> str:
    return item.GSI1SK.partition("#")[0]  # the µs creation stamp: RFC3339, and exact for `before`


def list_organization_sessions(organization_id: str, *, limit: int, before: str | None) -> OrganizationSessionPage:
    """Newest first; nextCursor is null once there are no more."""
    cursor = parse_before(before)
    items = login_sessions_dal.list_for_organization(organization_id, before=cursor, limit=limit + 1)
    now, page = clock.now(), items[:limit]
    return OrganizationSessionPage(
        data=[_organization_session(item, now) for item in page],
        nextCursor=_cursor_of(page[-1]) if len(items) > limit else None,
    )


def get_organization_session(organization_id: str, session_id: str) -> OrganizationSession:
    if not is_uuid(session_id):
        raise ValidationError.for_field("sessionId", "must be a UUID")
    item = login_sessions_dal.get(organization_id, session_id)
    if item is None:
        raise NotFoundError(f"session {session_id} not found", code="session_not_found")
    return _organization_session(item, clock.now())
