"""API keys: format, hashing and verification, and the /v1/api-keys operations.

A key looks like `cw_<env>_<32 random base62><6 checksum base62>`. The checksum (CRC32 of the
rest) lets the authorizer reject typos and garbage without a database read, and lets secret
scanners recognise our keys. Only the SHA-256 of a key is stored; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from datetime import datetime, timedelta

from chargewatch import clock
from chargewatch.dal import api_keys as api_keys_dal
from chargewatch.errors import NotFoundError, ValidationError
from chargewatch.pagination import paginate
from chargewatch.schemas.api_keys import ApiKey, ApiKeyCreated, ApiKeyPage, ApiKeyRevoked, CreateApiKeyRequest
from chargewatch.settings import get_settings
from chargewatch.tenancy import Tenant

_ALPHABET = string.digits + string.ascii_letters
_RANDOM_LENGTH = 32
_CHECKSUM_LENGTH = 6
KEY_PATTERN = re.compile(
    r"^cw_(?P<env>[a-z]{2,8})_(?P<body>[0-9A-Za-z]{" + str(_RANDOM_LENGTH + _CHECKSUM_LENGTH) + "})$"
)

DISPLAY_PREFIX_LENGTH = 12
DEFAULT_SCOPES = ["sessions:read", "sessions:write"]


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(payload: str) -> str:
    return _base62(zlib.crc32(payload.encode()), _CHECKSUM_LENGTH)


def generate_key(env: str) -> str:
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    payload = f"cw_{env}_{random_part}"
    return payload + _checksum(payload)


def is_well_formed(key: str) -> bool:
    match = KEY_PATTERN.match(key)
    if not match:
        return False
    payload, checksum = key[:-_CHECKSUM_LENGTH], key[-_CHECKSUM_LENGTH:]
    return hmac.compare_digest(_checksum(payload), checksum)


# What an unchecksummed key may look like where settings allow one (local demos only).
_PLAUSIBLE_KEY = re.compile(r"^[\x21-\x7e]{8,256}$")


def is_plausible(key: str) -> bool:
    """Could be a key at all (8-256 printable characters, no spaces), checksum or not."""
    return bool(_PLAUSIBLE_KEY.match(key))


def is_acceptable(key: str) -> bool:
    """Well-formed, or — only where settings.api_key_checksum_required is off — plausibly a key."""
    if is_well_formed(key):
        return True
    from chargewatch.settings import get_settings

    return not get_settings().api_key_checksum_required and is_plausible(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hashes_match(stored_hash: str, presented_key: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_key(presented_key))


def issue_key(
    organization_id: str,
    *,
    env: str,
    name: str,
    description: str | None = None,
    scopes: list[str] | None = None,
    expires_at: str | None = None,
    key: str | None = None,
) -> tuple[str, api_keys_dal.ApiKeyItem]:
    """Create and store a key; the plain key is returned once and never stored.

    `key` lets local tooling register a chosen, well-formed key (the emulator's DEMO_API_KEY).
    """
    if key is None:
        key = generate_key(env)
    elif not is_acceptable(key):
        raise ValueError("key is not a well-formed Chargewatch API key (cw_<env>_<38 base62 chars>)")
    item = api_keys_dal.put_new(
        organization_id,
        key_id=clock.new_id(),
        key_hash=hash_key(key),
        prefix=key[:DISPLAY_PREFIX_LENGTH],
        name=name,
        description=description,
        scopes=scopes or list(DEFAULT_SCOPES),
        created_at=clock.iso_now(),
        expires_at=expires_at,
    )
    return key, item


# --------------------------------------------------------------------------- /v1/api-keys

LAST_USED_RESOLUTION = timedelta(minutes=1)


def _api_key_out(item: api_keys_dal.ApiKeyItem) -> ApiKey:
    return ApiKey(
        id=item.keyId,
        name=item.name,
        description=item.description,
        prefix=item.prefix,
        tenantId=item.organizationId,
        createdAt=item.createdAt,
        expiresAt=item.expiresAt,
        lastUsedAt=item.lastUsedAt,
        revokedAt=item.revokedAt,
    )


def is_active(item: api_keys_dal.ApiKeyItem, moment: datetime) -> bool:
    return not item.revokedAt and not (item.expiresAt and clock.parse_iso(item.expiresAt) <= moment)


def create_api_key(tenant: Tenant, request: CreateApiKeyRequest) -> ApiKeyCreated:
    """A new key of the caller's organization; it gets no more scopes than the calling key."""
    expires_at = None
    if request.expiresAt is not None:
        if request.expiresAt <= clock.now():
            raise ValidationError.for_field("expiresAt", "must be in the future")
        expires_at = clock.to_iso(request.expiresAt)
    key, item = issue_key(
        tenant.organization_id,
        env=get_settings().api_key_env,
        name=request.name.strip(),
        description=request.description,
        scopes=list(tenant.scopes) or None,
        expires_at=expires_at,
    )
    fields = _api_key_out(item).model_dump(exclude={"lastUsedAt", "revokedAt"})
    return ApiKeyCreated(**fields, key=key)


def list_api_keys(organization_id: str, page: int, page_size: int) -> ApiKeyPage:
    items, pagination = paginate(api_keys_dal.list_keys(organization_id), page, page_size, _api_key_out)
    return ApiKeyPage(items=items, pagination=pagination)


def revoke_api_key(tenant: Tenant, key_id: str) -> ApiKeyRevoked:
    """Revoke one of the caller's organization's keys; effective on the next request (see auth)."""
    from chargewatch.services import auth

    item = api_keys_dal.get_key(tenant.organization_id, key_id)
    if item is None:
        raise NotFoundError(f"API key {key_id} not found", code="api_key_not_found")
    item = api_keys_dal.revoke(item, clock.iso_now())
    auth.forget(item.keyHash)
    now = clock.now()
    remaining = sum(
        1
        for other in api_keys_dal.list_keys(tenant.organization_id)
        if other.keyId != item.keyId and is_active(other, now)
    )
    own = tenant.key_id == item.keyId
    warning = None
    if remaining == 0:
        warning = (
            "this was the organization's last active API key: no key can call the API any more "
            "until an administrator provisions a new one"
        )
    elif own:
        warning = "you revoked the key this request used: it no longer authenticates"
    return ApiKeyRevoked(
        **_api_key_out(item).model_dump(), revokedOwnKey=own, activeKeysRemaining=remaining, warning=warning
    )


def record_use(item: api_keys_dal.ApiKeyItem, moment: datetime) -> None:
    """Keep lastUsedAt to the minute without a write per request (conditional, once a minute)."""
    if item.lastUsedAt and moment - clock.parse_iso(item.lastUsedAt) < LAST_USED_RESOLUTION:
        return
    used_at = clock.to_iso(moment.replace(microsecond=0))  # one format, so stored values compare as text
    not_after = clock.to_iso((moment - LAST_USED_RESOLUTION).replace(microsecond=0))
    if not api_keys_dal.touch_last_used(item, used_at, not_after):
        item.lastUsedAt = used_at  # another container wrote it within the minute: don't try again now
