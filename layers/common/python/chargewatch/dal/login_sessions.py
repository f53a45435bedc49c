"""Login sessions of users ("tenant sessions", also listed per organization).

Not charging sessions (those are chargewatch.dal.sessions). One record per session:
- item: PK `ORG#<org>#USESSION#<sessionId>`, SK `USESSION`
- GSI1 `ORG#<org>#USESSIONS` / `<createdAt, fixed-width µs>#<sessionId>`: the organization's
  sessions newest first with a `before` cursor
- GSI2 `USER#<userId>#USESSIONS` / `USESSION#<sessionId>`: a user's own sessions, and
  one session of theirs by id; session ids are UUIDv7, so this order is creation order too
- `ttl` = absolute expiry + retention (expired sessions are inactive at once, deleted later by TTL)

Expiry itself is decided by the service (chargewatch.services.tenant_sessions) at read time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chargewatch.dal.table import GSI1, GSI2, is_condition_failure, register, tenant_pk

SESSION_SK = "USESSION"


@register
class LoginSessionItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    GSI2PK = UnicodeAttribute()
    GSI2SK = UnicodeAttribute()
    by_tenant: GSI1[LoginSessionItem] = GSI1()
    by_user: GSI2[LoginSessionItem] = GSI2()
    sessionId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    userId = UnicodeAttribute()
    tenantContext = JSONAttribute(null=True)
    device = JSONAttribute(null=True)
    # the creating request's User-Agent: a tenant switch from the same browser rotates this session
    userAgent = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()
    lastActiveAt = UnicodeAttribute()
    expiresAt = UnicodeAttribute()
    releasedAt = UnicodeAttribute(null=True)
    releaseReason = UnicodeAttribute(null=True)
    ttl = NumberAttribute(null=True)


def sort_stamp(moment: datetime) -> str:
    """Fixed width (µs) so that text order is time order; `before` cursors compare against it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def session_key(organization_id: str, session_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "USESSION", session_id), SESSION_SK


def user_index_pk(user_id: str) -> str:
    if not user_id or "#" in user_id:
        raise ValueError("user id must be non-empty and must not contain '#'")
    return f"USER#{user_id}#USESSIONS"


def put_new(
    organization_id: str,
    *,
    session_id: str,
    user_id: str,
    created: datetime,
    created_at: str,
    expires_at: str,
    tenant_context: dict[str, Any],
    device: dict[str, Any],
    user_agent: str | None,
    ttl: int,
) -> LoginSessionItem:
    item = LoginSessionItem(
        *session_key(organization_id, session_id),
        GSI1PK=tenant_pk(organization_id, "USESSIONS"),
        GSI1SK=f"{sort_stamp(created)}#{session_id}",
        GSI2PK=user_index_pk(user_id),
        GSI2SK=f"USESSION#{session_id}",
        sessionId=session_id,
        organizationId=organization_id,
        userId=user_id,
        tenantContext=tenant_context,
        device=device,
        userAgent=user_agent,
        createdAt=created_at,
        updatedAt=created_at,
        lastActiveAt=created_at,
        expiresAt=expires_at,
        ttl=ttl,
    )
    item.save(condition=LoginSessionItem.PK.does_not_exist())
    return item


def get(organization_id: str, session_id: str) -> LoginSessionItem | None:
    try:
        return LoginSessionItem.get(*session_key(organization_id, session_id), consistent_read=True)
    except LoginSessionItem.DoesNotExist:
        return None


def find_for_user(user_id: str, session_id: str) -> LoginSessionItem | None:
    """One of the user's own sessions, whatever its organization (index names it, key read confirms)."""
    for found in LoginSessionItem.by_user.query(
        user_index_pk(user_id), LoginSessionItem.GSI2SK == f"USESSION#{session_id}", limit=1
    ):
        return get(found.organizationId, found.sessionId)
    return None


def list_for_user(user_id: str, organization_id: str | None = None) -> Iterator[LoginSessionItem]:
    """Newest first (UUIDv7 ids), optionally only those bound to one organization."""
    condition = None if organization_id is None else LoginSessionItem.organizationId == organization_id
    return LoginSessionItem.by_user.query(user_index_pk(user_id), filter_condition=condition, scan_index_forward=False)


def list_for_organization(organization_id: str, *, before: datetime | None, limit: int) -> list[LoginSessionItem]:
    """Newest first; `before` is exclusive (a session created at exactly `before` is not returned)."""
    condition = None
    if before is not None:
        condition = LoginSessionItem.GSI1SK < sort_stamp(before)
    return list(
        LoginSessionItem.by_tenant.query(
            tenant_pk(organization_id, "USESSIONS"), condition, scan_index_forward=False, limit=limit
        )
    )


def _update_while_open(item: LoginSessionItem, actions: list[Action]) -> bool:
    """Apply the update unless the session was released meanwhile (then refresh the copy)."""
    try:
        item.update(
            actions=actions, condition=LoginSessionItem.PK.exists() & LoginSessionItem.releasedAt.does_not_exist()
        )
    except UpdateError as error:
        if is_condition_failure(error):
            item.refresh(consistent_read=True)
            return False
        raise
    return True


def touch(item: LoginSessionItem, *, at: str, tenant_context: dict[str, Any] | None = None) -> bool:
    """Record activity (and a new context); False when the session was released meanwhile."""
    actions: list[Action] = [LoginSessionItem.updatedAt.set(at), LoginSessionItem.lastActiveAt.set(at)]
    if tenant_context is not None:
        actions.append(LoginSessionItem.tenantContext.set(tenant_context))
    return _update_while_open(item, actions)


def release(item: LoginSessionItem, at: str, reason: str) -> bool:
    """Set releasedAt once; False when it was already released."""
    return _update_while_open(
        item,
        [
            LoginSessionItem.releasedAt.set(at),
            LoginSessionItem.releaseReason.set(reason),
            LoginSessionItem.updatedAt.set(at),
        ],
    )
