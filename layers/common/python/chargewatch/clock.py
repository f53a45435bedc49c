"""Time and id helpers shared by every module (one place to fake the clock in tests)."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def epoch_seconds() -> float:
    return time.time()


def to_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z suffix; milliseconds only when present."""
    moment = moment.astimezone(timezone.utc)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_now() -> str:
    return to_iso(now())


def from_epoch_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)


def to_epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))


def new_id() -> str:
    """Opaque ids (UUID v4): never derived from names, so they never collide across tenants."""
    return str(uuid.uuid4())
