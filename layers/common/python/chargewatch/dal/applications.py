"""Applications (an organization's registered integrations) and their sessions.

- application: PK `ORG#<org>#APP#<appId>`, SK `APP`; GSI1 `ORG#<org>#APPS` / `<createdAt>#<appId>`;
  GSI2 `APPSECRET#<sha256>` / `APP` (the authorizer finds the application by its secret)
- session:     PK `ORG#<org>#APP#<appId>#SESSION#<sessionId>`, SK `APPSESSION`;
  GSI1 `ORG#<org>#APP#<appId>#SESSIONS` / `<createdAt>#<sessionId>`;
  GSI2 `APPSESSIONTOKEN#<sha256>` / `APPSESSION`; `ttl` = token expiry + 30 days
Only SHA-256 hashes of secrets and tokens are stored (`secretHash`, `tokenHash`: what the service
compares in constant time after the index lookup).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chargewatch.dal.table import GSI1, GSI2, is_condition_failure, register, tenant_pk

APP_SK = "APP"
SESSION_SK = "APPSESSION"


class _KeyedItem(Model):
    """The table's key attributes, shared by both items below (not registered: never stored as such)."""

    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    GSI2PK = UnicodeAttribute()
    GSI2SK = UnicodeAttribute()


@register
class ApplicationItem(_KeyedItem):
    class Meta:
        table_name = "unbound"

    by_tenant: GSI1[ApplicationItem] = GSI1()
    by_secret: GSI2[ApplicationItem] = GSI2()
    applicationId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    createdBy = UnicodeAttribute(null=True)
    secretHash = UnicodeAttribute()
    # Revoke-all: sessions connected at or before this instant are refused even if a GSI lags.
    sessionsRevokedAt = UnicodeAttribute(null=True)


@register
class AppSessionItem(_KeyedItem):
    class Meta:
        table_name = "unbound"

    by_application: GSI1[AppSessionItem] = GSI1()
    by_token: GSI2[AppSessionItem] = GSI2()
    sessionId = UnicodeAttribute()
    applicationId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    tokenHash = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    tokenExpiresAt = UnicodeAttribute()
    lastActiveAt = UnicodeAttribute()
    connectedAt = UnicodeAttribute()
    disconnectedAt = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    hostname = UnicodeAttribute(null=True)
    userAgent = UnicodeAttribute(null=True)
    clientInfo = JSONAttribute(null=True)
    ttl = NumberAttribute(null=True)


def application_key(organization_id: str, application_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "APP", application_id), APP_SK


def session_key(organization_id: str, application_id: str, session_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "APP", application_id, "SESSION", session_id), SESSION_SK


def put_application(
    organization_id: str,
    *,
    application_id: str,
    secret_hash: str,
    name: str,
    type: str,
    description: str | None,
    created_at: str,
    created_by: str | None,
) -> ApplicationItem:
    item = ApplicationItem(
        *application_key(organization_id, application_id),
        GSI1PK=tenant_pk(organization_id, "APPS"),
        GSI1SK=f"{created_at}#{application_id}",
        GSI2PK=f"APPSECRET#{secret_hash}",
        GSI2SK=APP_SK,
        applicationId=application_id,
        organizationId=organization_id,
        name=name,
        type=type,
        description=description,
        createdAt=created_at,
        createdBy=created_by,
        secretHash=secret_hash,
    )
    item.save(condition=ApplicationItem.PK.does_not_exist())
    return item


def get_application(organization_id: str, application_id: str) -> ApplicationItem | None:
    try:
        return ApplicationItem.get(*application_key(organization_id, application_id), consistent_read=True)
    except ApplicationItem.DoesNotExist:
        return None


def list_applications(organization_id: str) -> Iterator[ApplicationItem]:
    return ApplicationItem.by_tenant.query(tenant_pk(organization_id, "APPS"), scan_index_forward=False)


def find_application_by_secret(secret_hash: str) -> ApplicationItem | None:
    """Authorizer lookup (the secret names the tenant)."""
    for found in ApplicationItem.by_secret.query(f"APPSECRET#{secret_hash}", limit=1):
        return get_application(found.organizationId, found.applicationId)
    return None


def put_session(item: AppSessionItem) -> AppSessionItem:
    item.GSI2PK = f"APPSESSIONTOKEN#{item.tokenHash}"
    item.GSI1PK = tenant_pk(item.organizationId, "APP", item.applicationId, "SESSIONS")
    item.GSI1SK = f"{item.createdAt}#{item.sessionId}"
    item.GSI2SK = SESSION_SK
    item.save(condition=AppSessionItem.PK.does_not_exist())
    return item


def new_session(organization_id: str, application_id: str, session_id: str, **attributes: Any) -> AppSessionItem:
    return AppSessionItem(
        *session_key(organization_id, application_id, session_id),
        sessionId=session_id,
        applicationId=application_id,
        organizationId=organization_id,
        **attributes,
    )


def get_session(organization_id: str, application_id: str, session_id: str) -> AppSessionItem | None:
    try:
        return AppSessionItem.get(*session_key(organization_id, application_id, session_id), consistent_read=True)
    except AppSessionItem.DoesNotExist:
        return None


def list_sessions(
    organization_id: str, application_id: str, *, connected_only: bool = False
) -> Iterator[AppSessionItem]:
    """Newest first; `connected_only` leaves disconnected sessions out on the server side."""
    return AppSessionItem.by_application.query(
        tenant_pk(organization_id, "APP", application_id, "SESSIONS"),
        scan_index_forward=False,
        filter_condition=(AppSessionItem.status == "active") if connected_only else None,
    )


def find_session_by_token(token_hash: str) -> AppSessionItem | None:
    """Authorizer lookup; the item is re-read consistently so a revoke is seen at once."""
    for found in AppSessionItem.by_token.query(f"APPSESSIONTOKEN#{token_hash}", limit=1):
        return get_session(found.organizationId, found.applicationId, found.sessionId)
    return None


def mark_revoked(application: ApplicationItem, at: str) -> None:
    application.update(actions=[ApplicationItem.sessionsRevokedAt.set(at)], condition=ApplicationItem.PK.exists())


def disconnect(item: AppSessionItem, at: str) -> bool:
    """active -> disconnected exactly once (concurrent revokes count each session once)."""
    try:
        item.update(
            actions=[AppSessionItem.status.set("disconnected"), AppSessionItem.disconnectedAt.set(at)],
            condition=AppSessionItem.status == "active",
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def touch(item: AppSessionItem, at: str) -> bool:
    """lastActiveAt = at, only if nobody moved it since `item` was read and the session is still
    connected: of concurrent requests one writes, the others (False) leave it."""
    try:
        item.update(
            actions=[AppSessionItem.lastActiveAt.set(at)],
            condition=(AppSessionItem.status == "active") & (AppSessionItem.lastActiveAt == item.lastActiveAt),
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
