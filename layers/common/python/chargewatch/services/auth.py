"""Request authentication: an API key in `Authorization: Bearer <key>` -> a tenant context.

The verdict travels to the handlers in the authorizer context (see `chargewatch.tenancy`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools import Logger

from chargewatch import clock
from chargewatch.dal import api_keys as api_keys_dal
from chargewatch.services import api_keys
from chargewatch.settings import get_settings


@dataclass(frozen=True)
class AuthVerdict:
    authorized: bool
    error_code: str | None = None
    error_message: str | None = None
    status: int = 200
    organization_id: str | None = None
    key_id: str | None = None
    scopes: tuple[str, ...] = field(default_factory=tuple)

    def to_context(self) -> dict[str, str]:
        """Flat string values, as API Gateway passes authorizer contexts."""
        if not self.authorized:
            return {"authStatus": "denied", "errorStatus": str(self.status),
                    "errorCode": self.error_code or "unauthorized", "errorMessage": self.error_message or ""}
        return {"authStatus": "ok", "principalType": "api_key", "organizationId": self.organization_id or "",
                "keyId": self.key_id or "", "scopes": " ".join(self.scopes)}


logger = Logger(service="chargewatch-auth")


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


def authorize(headers: dict[str, str] | None, *, now: datetime | None = None) -> AuthVerdict:
    authorization = _header(headers, "authorization")
    if not authorization:
        return _deny("missing_credentials", "Authorization header with a Bearer API key is required")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _deny("invalid_credentials", "Authorization must be 'Bearer <api key>'")
    if not api_keys.is_acceptable(token):
        return _deny("invalid_api_key", "API key is malformed or has a bad checksum")
    key_hash = api_keys.hash_key(token)
    item = _lookup(key_hash)
    if item is None or not api_keys.hashes_match(item.keyHash, token):
        return _deny("invalid_api_key", "API key is not valid")
    moment = now or clock.now()
    if item.revokedAt:
        return _deny("api_key_revoked", "API key has been revoked")
    if item.expiresAt and clock.parse_iso(item.expiresAt) <= moment:
        return _deny("api_key_expired", "API key has expired")
    requested_org = _header(headers, "x-organization-id")
    if requested_org and requested_org.strip() != item.organizationId:
        return _deny("organization_mismatch", "X-Organization-Id does not match the API key's organization", 403)
    try:
        api_keys.record_use(item, moment)
    except Exception:  # bookkeeping must never turn a valid key away
        logger.exception("could not record lastUsedAt")
    return AuthVerdict(True, organization_id=item.organizationId, key_id=item.keyId, scopes=tuple(item.scopes or ()))
