"""API keys. Only the SHA-256 hash of a key is stored.

- item:   PK `ORG#<orgId>#APIKEY#<keyId>`, SK `APIKEY`
- GSI1:   `APIKEYHASH#<sha256>` -> the key (authorizer lookup by hash)
- GSI2:   `ORG#<orgId>#APIKEYS`, `<createdAt>#<keyId>` (list a tenant's keys)
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chargewatch.dal.table import GSI1, GSI2, is_condition_failure, register, tenant_pk

KEY_SK = "APIKEY"


@register
class ApiKeyItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    GSI2PK = UnicodeAttribute()
    GSI2SK = UnicodeAttribute()
    by_hash: GSI1[ApiKeyItem] = GSI1()
    by_tenant: GSI2[ApiKeyItem] = GSI2()

    keyId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    keyHash = UnicodeAttribute()
    prefix = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    # pynamodb types ListAttribute(of=X) as a list of X attributes; the stored values are strings
    scopes: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, default=list)  # type: ignore[arg-type]
    createdAt = UnicodeAttribute()
    expiresAt = UnicodeAttribute(null=True)
    revokedAt = UnicodeAttribute(null=True)
    lastUsedAt = UnicodeAttribute(null=True)


def hash_index_key(key_hash: str) -> str:
    return f"APIKEYHASH#{key_hash}"


def put_new(
    organization_id: str,
    *,
    key_id: str,
    key_hash: str,
    prefix: str,
    name: str,
    description: str | None,
    scopes: list[str],
    created_at: str,
    expires_at: str | None = None,
) -> ApiKeyItem:
    item = ApiKeyItem(
        tenant_pk(organization_id, "APIKEY", key_id),
        KEY_SK,
        GSI1PK=hash_index_key(key_hash),
        GSI1SK=KEY_SK,
        GSI2PK=tenant_pk(organization_id, "APIKEYS"),
        GSI2SK=f"{created_at}#{key_id}",
        keyId=key_id,
        organizationId=organization_id,
        keyHash=key_hash,
        prefix=prefix,
        name=name,
        description=description,
        scopes=scopes,
        createdAt=created_at,
        expiresAt=expires_at,
    )
    item.save(condition=ApiKeyItem.PK.does_not_exist())
    return item


def find_by_hash(key_hash: str) -> ApiKeyItem | None:
    """Authorizer lookup. Not tenant-scoped by design: the key is what names the tenant."""
    for item in ApiKeyItem.by_hash.query(hash_index_key(key_hash), limit=2):
        return item
    return None


def key_pk(organization_id: str, key_id: str) -> str:
    return tenant_pk(organization_id, "APIKEY", key_id)


def get_key(organization_id: str, key_id: str) -> ApiKeyItem | None:
    try:
        return ApiKeyItem.get(key_pk(organization_id, key_id), KEY_SK, consistent_read=True)
    except ApiKeyItem.DoesNotExist:
        return None


def list_keys(organization_id: str) -> Iterator[ApiKeyItem]:
    """A tenant's keys, newest first."""
    return ApiKeyItem.by_tenant.query(tenant_pk(organization_id, "APIKEYS"), scan_index_forward=False)


def revoke(item: ApiKeyItem, revoked_at: str) -> ApiKeyItem:
    """Set revokedAt once (a second revoke keeps the first time)."""
    try:
        item.update(
            actions=[ApiKeyItem.revokedAt.set(revoked_at)],
            condition=ApiKeyItem.PK.exists() & ApiKeyItem.revokedAt.does_not_exist(),
        )
    except UpdateError as error:
        if not is_condition_failure(error):
            raise
        item.refresh(consistent_read=True)
    return item


def touch_last_used(item: ApiKeyItem, used_at: str, not_after: str) -> bool:
    """Set lastUsedAt = used_at only when it is unset or not after `not_after` (at most one write a
    minute per key, whichever container gets there first). False when another request already did."""
    try:
        item.update(
            actions=[ApiKeyItem.lastUsedAt.set(used_at)],
            condition=ApiKeyItem.PK.exists()
            & (ApiKeyItem.lastUsedAt.does_not_exist() | (ApiKeyItem.lastUsedAt <= not_after)),
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
