"""Field types shared by the request schemas, bounded by `chargewatch.limits`.

A `field_error` names a sub-field and, optionally, its own error code: `chargewatch.api` turns it
into `details[].field` (e.g. `meterValues[3].value`) and the response's `error.code`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from chargewatch import clock, limits


def field_error(field: str | None, message: str, *, code: str | None = None) -> PydanticCustomError:
    """A validation error for `field` (relative to the model that raises it) with an optional code."""
    context: dict[str, Any] = {"message": message}
    if field:
        context["field"] = field
    if code:
        context["code"] = code
    return PydanticCustomError(code or "invalid_value", "{message}", context)


def _not_a_boolean(value: Any) -> Any:
    # JSON true/false are not numbers, although Python (and pydantic's lax mode) would take them as 1/0.
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "must be a number, not a boolean")
    return value


def _int_to_str(value: Any) -> Any:
    # OCPP connector ids are integers; the API treats ids as strings, so accept both.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


_RFC3339 = re.compile(limits.RFC3339_PATTERN)


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):  # from Python callers (re-validation of stored requests)
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError("timestamp_format", "must be an RFC 3339 date-time such as 2026-02-27T10:00:00Z")
    return value


def _in_window(moment: datetime) -> datetime:
    try:
        # An offset-less date-time is taken as UTC, as OCPP requires UTC anyway.
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        moment = None  # type: ignore[assignment]
    latest = limits.latest_timestamp(clock.now())
    if moment is None or not limits.EARLIEST_TIMESTAMP <= moment <= latest:
        raise PydanticCustomError(
            "timestamp_out_of_range",
            "must be between {earliest} and {days} days from now",
            {"earliest": limits.EARLIEST_TIMESTAMP.date().isoformat(), "days": limits.MAX_FUTURE_SKEW.days},
        )
    return moment


def _metadata_size(value: Any) -> Any:
    if isinstance(value, dict):
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
        if size > limits.MAX_METADATA_BYTES:
            raise field_error(
                None,
                f"must be at most {limits.MAX_METADATA_BYTES} bytes as JSON (is {size})",
                code="metadata_too_large",
            )
    return value


Number = Annotated[float, BeforeValidator(_not_a_boolean), Field(allow_inf_nan=False)]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_in_window),
    Field(description="RFC 3339 date-time (an offset-less one is taken as UTC), from 2000-01-01 to 7 days ahead"),
]
Identifier = Annotated[
    str, Field(min_length=1, max_length=limits.MAX_IDENTIFIER_LENGTH, pattern=limits.IDENTIFIER_PATTERN)
]
# The constraints sit on the string alone: on `str | None` they would be applied to a null too.
_SubIdentifierText = Annotated[
    str, Field(min_length=1, max_length=limits.MAX_SUB_IDENTIFIER_LENGTH, pattern=limits.SUB_IDENTIFIER_PATTERN)
]
SubIdentifier = Annotated[_SubIdentifierText | None, BeforeValidator(_int_to_str)]
Status = Annotated[str, Field(min_length=1, max_length=limits.MAX_STATUS_LENGTH, pattern=limits.STATUS_PATTERN)]
MetadataSizeCheck = BeforeValidator(_metadata_size)
