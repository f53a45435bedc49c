"""Time and id helpers shared by every module (one place to fake the clock in tests)."""

from __future__ import annotations

import os
import re
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


# date, time, optional fraction (any length: beyond microseconds it is cut), optional offset
_INSTANT = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?$")


def parse_iso(text: str) -> datetime:
    """The one parser of date-times in the API: an RFC 3339 / ISO-8601 instant -> an aware UTC
    datetime. An offset-less one is taken as UTC (OCPP requires UTC anyway); a bare date is its
    midnight UTC. ValueError when `text` is neither."""
    text = text.strip()
    found = _INSTANT.match(text)
    if found is None:
        moment = datetime.fromisoformat(text)  # a bare date (or raises ValueError)
        if len(text) != 10:
            raise ValueError(f"not an RFC 3339 date-time: {text!r}")
        return moment.replace(tzinfo=UTC)
    day, time_of_day, fraction, offset = found.groups()
    microseconds = f".{(fraction or '0')[:6]:0<6}"
    offset = "+00:00" if offset in (None, "Z", "z") else offset
    return datetime.fromisoformat(f"{day}T{time_of_day}{microseconds}{offset}").astimezone(UTC)


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
