"""API key format, hashing and verification.

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

from chargewatch import clock
from chargewatch.dal import api_keys as api_keys_dal

_ALPHABET = string.digits + string.ascii_letters
_RANDOM_LENGTH = 32
_CHECKSUM_LENGTH = 6
KEY_PATTERN = re.compile(r"^cw_(?P<env>[a-z]{2,8})_(?P<body>[0-9A-Za-z]{%d})$" % (_RANDOM_LENGTH + _CHECKSUM_LENGTH))
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


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hashes_match(stored_hash: str, presented_key: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_key(presented_key))


def issue_key(organization_id: str, *, env: str, name: str, description: str | None = None,
              scopes: list[str] | None = None, expires_at: str | None = None,
              key: str | None = None) -> tuple[str, api_keys_dal.ApiKeyItem]:
    """Create and store a key; the plain key is returned once and never stored.

    `key` lets local tooling register a chosen, well-formed key (the emulator's DEMO_API_KEY).
    """
    if key is None:
        key = generate_key(env)
    elif not is_well_formed(key):
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
