"""Time and id helpers shared by every module (one place to fake the clock in tests)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def epoch_seconds() -> float:
    return time.time()


def to_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z suffix; milliseconds only when present."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_now() -> str:
    return to_iso(now())


def parse_iso(text: str) -> datetime:
    """An ISO-8601 instant as stored by `to_iso` (Z suffix) -> an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def from_epoch_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def to_epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(round(moment.timestamp() * 1000))


def new_id() -> str:
    """Opaque ids (UUID v4): never derived from names, so they never collide across tenants."""
    return str(uuid.uuid4())


def new_sortable_id() -> str:
    """A UUIDv7 (RFC 9562): opaque, but its text sorts by creation time (ms) under `clock.now()`."""
    millis = to_epoch_ms(now()) & ((1 << 48) - 1)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))
