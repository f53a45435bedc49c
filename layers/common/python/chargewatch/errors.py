"""One error hierarchy; `chargewatch.api` maps it to HTTP in one place.

Every client error becomes `{"error": {"code", "message", "details"}}` with a 4xx status.
A 5xx is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_ERROR_MESSAGES = {
    "json_invalid": "request body is not valid JSON",
    "missing": "field required",
    "extra_forbidden": "unknown field",
}


class ChargewatchError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationError(ChargewatchError):
    status_code = 400
    code = "validation_error"

    @classmethod
    def for_field(cls, field: str, message: str, *, code: str | None = None) -> ValidationError:
        return cls(f"{field}: {message}", code=code, details=[{"field": field, "message": message}])


class AuthenticationError(ChargewatchError):
    status_code = 401
    code = "unauthorized"


class PermissionDeniedError(ChargewatchError):
    status_code = 403
    code = "forbidden"


class NotFoundError(ChargewatchError):
    status_code = 404
    code = "not_found"


class ConflictError(ChargewatchError):
    status_code = 409
    code = "conflict"


class PayloadTooLargeError(ChargewatchError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(ChargewatchError):
    status_code = 415
    code = "unsupported_media_type"


class ConcurrencyError(ChargewatchError):
    """Optimistic-lock retries were exhausted; the client may retry the request."""

    status_code = 409
    code = "concurrent_modification"


class QuotaExceededError(ChargewatchError):
    """A plan limit is reached (e.g. `ai_limit_exceeded`); nothing was done."""

    status_code = 402
    code = "quota_exceeded"


class ProviderThrottledError(ChargewatchError):
    """An upstream AI provider (Bedrock) throttled the call; the client may retry later."""

    status_code = 429
    code = "ai_provider_throttled"


class ProviderError(ChargewatchError):
    """An upstream AI provider failed or is misconfigured: not our bug, not the client's."""

    status_code = 502
    code = "ai_provider_error"


# ---------------------------------------------------------------- pydantic errors, as the API names them


def field_path(location: Sequence[str | int]) -> str:
    """('body', 'meterValues', 3, 'measurand') -> 'meterValues[3].measurand'."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        source, parts = parts[0], parts[1:]
    else:
        source = None
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and not str(part).startswith("function-after") and "[" not in str(part):
            path += ("." if path else "") + str(part)
    return path or (source or "body")


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's `errors()` as the API's details: {field, message, type}."""
    details = []
    for error in errors:
        message = error.get("msg") or _ERROR_MESSAGES.get(error.get("type", ""), error.get("type", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        location = tuple(error.get("loc", ()))
        context = error.get("ctx") or {}
        if isinstance(context, dict) and context.get("field"):  # schemas.fields.field_error names a sub-field
            location += (context["field"],)
        details.append({"field": field_path(location), "message": message, "type": error.get("type")})
    return details


def validation_code(errors: Sequence[Any]) -> str:
    """A specific code (e.g. `metadata_too_large`) when every error carries the same one."""
    codes = {(error.get("ctx") or {}).get("code") if isinstance(error.get("ctx"), dict) else None for error in errors}
    code = codes.pop() if len(codes) == 1 else None
    return code if isinstance(code, str) else "validation_error"
