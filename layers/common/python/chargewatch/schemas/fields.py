"""Field types shared by the request schemas, bounded by `chargewatch.limits`.

A `field_error` names a sub-field and, optionally, its own error code: `chargewatch.api` turns it
into `details[].field` (e.g. `meterValues[3].value`) and the response's `error.code`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
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


# A JSON number: finite, not a boolean, not a numeric string. Bounds go in the same Field, before
# NOT_A_BOOLEAN (`Annotated[float, Field(strict=True, allow_inf_nan=False, le=...), NOT_A_BOOLEAN]`):
# bounds added around an already-validated type are enforced but reach the JSON Schema as unknown
# keywords (pydantic), so the contract would not state them.
NOT_A_BOOLEAN = BeforeValidator(_not_a_boolean)
Number = Annotated[float, Field(strict=True, allow_inf_nan=False), NOT_A_BOOLEAN]
# at most 38 digits before and after the point and a two-digit exponent: always a finite double
_DECIMAL_TEXT = r"^\s*[+-]?([0-9]{1,38}(\.[0-9]{0,38})?|\.[0-9]{1,38})([eE][+-]?[0-9]{1,2})?\s*$"


def _decimal_text(value: Any) -> Any:
    # only the decimal strings the contract states (pydantic alone would also take "1_000")
    if isinstance(value, str) and not re.match(_DECIMAL_TEXT, value):
        raise PydanticCustomError("float_parsing", "must be a number or a decimal string")
    return value


# A meter reading: a JSON number or, as OCPP's sampledValue.value carries it, a decimal string.
MeterReading = Annotated[
    float,
    Field(allow_inf_nan=False),
    NOT_A_BOOLEAN,
    BeforeValidator(_decimal_text),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "pattern": _DECIMAL_TEXT}]}),
]
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
SubIdentifier = Annotated[
    _SubIdentifierText | None,
    BeforeValidator(_int_to_str),
    # the contract states the integers OCPP uses for connector/EVSE ids, which are taken as their text
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": limits.MAX_SUB_IDENTIFIER_LENGTH,
                    "pattern": limits.SUB_IDENTIFIER_PATTERN,
                },
                {"type": "integer"},
                {"type": "null"},
            ]
        }
    ),
]
Status = Annotated[str, Field(min_length=1, max_length=limits.MAX_STATUS_LENGTH, pattern=limits.STATUS_PATTERN)]
MetadataSizeCheck = BeforeValidator(_metadata_size)
