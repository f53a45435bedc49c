"""The HTTP surface shared by every function: one resolver factory, one error mapping.

Every client error leaves as `{"error": {"code", "message", "details"}}` with a 4xx status;
authentication is enforced in `handle`, before the resolver parses or validates anything, so an
unauthenticated request never learns whether its body was valid.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from chargewatch import access, limits, observability
from chargewatch.errors import (
    ChargewatchError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
    validation_code,
    validation_details,
)
from chargewatch.settings import get_settings
from chargewatch.tenancy import Tenant, tenant_from_event

logger = observability.logger


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response[str]:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


# --------------------------------------------------------------------------- JSON bodies


def _body_error(message: str, code: str) -> ValidationError:
    return ValidationError(f"request body {message}", code=code, details=[{"field": "body", "message": message}])


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise _body_error(f"has the key {duplicate!r} twice in one object", "duplicate_json_key")
    return document


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > limits.MAX_NUMBER_DIGITS:
        raise _body_error(f"has a number with more than {limits.MAX_NUMBER_DIGITS} digits", "number_too_long")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _body_error(f"has a number too large to represent ({text[:40]})", "number_too_large")
    return value


def _no_constant(text: str) -> Any:
    raise _body_error(f"is not valid JSON ({text} is not a JSON number)", "invalid_json")


def _check_depth(document: Any) -> None:
    """Iterative, so a deep document cannot exhaust the stack while being checked."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.MAX_JSON_DEPTH:
            raise _body_error(f"is nested deeper than {limits.MAX_JSON_DEPTH} levels", "json_too_deep")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def parse_json_body(text: str | bytes) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity, numbers DynamoDB can hold, bounded
    nesting. Every refusal is a 400 ValidationError naming `body` (docs/errors.md lists the codes)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _body_error("is not valid UTF-8", "invalid_encoding") from None
    try:
        document = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise _body_error(f"is nested deeper than {limits.MAX_JSON_DEPTH} levels", "json_too_deep") from None
    except json.JSONDecodeError as error:
        raise _body_error(f"is not valid JSON ({error.msg} at position {error.pos})", "invalid_json") from None
    if isinstance(document, dict | list):
        _check_depth(document)
    return document


def _check_encoding(event: dict[str, Any]) -> None:
    """A body that is not UTF-8 arrives base64-encoded: refuse it before anything decodes it as text."""
    body = event.get("body")
    if body and event.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _body_error("is not valid UTF-8", "invalid_encoding") from None


def _check_request(event: dict[str, Any], organization_required: bool) -> Tenant:
    """Authentication, the route's access level, body size and media type: settled before any
    parsing or validation."""
    tenant = tenant_from_event(event, organization_required=organization_required)
    access.enforce(event.get("routeKey") or "", tenant)
    body = event.get("body")
    limit = get_settings().max_body_bytes
    if body is not None and len(body) > limit:
        raise PayloadTooLargeError(
            f"request body exceeds {limit} bytes", details=[{"field": "body", "message": "too large"}]
        )
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    if body and method in ("POST", "PUT", "PATCH"):
        content_type = (event.get("headers") or {}).get("content-type", "application/json")
        if "json" not in content_type.lower():
            raise UnsupportedMediaTypeError(
                "request body must be application/json", details=[{"field": "Content-Type", "message": content_type}]
            )
        _check_encoding(event)
    return tenant


def handle(
    app: APIGatewayHttpResolver, event: dict[str, Any], context: Any, *, organization_required: bool = True
) -> dict[str, Any]:
    """The Lambda entry point of every API function: guard the request, then route it.

    `organization_required=False` lets a signed-in user without any organization through (open
    signup, invitations, own sessions); the routes then see `tenant.organization_id == ""`."""
    try:
        tenant = _check_request(event, organization_required)
    except ChargewatchError as error:
        return {
            "statusCode": error.status_code,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(error.to_body()),
        }
    observability.bind_tenant(tenant.organization_id, principal_type=tenant.principal_type)
    app.append_context(tenant=tenant)
    return app.resolve(event, context)


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)

    @app.exception_handler(ChargewatchError)
    def _client_error(error: ChargewatchError) -> Response[str]:
        if error.status_code == 402:
            observability.count(observability.PLAN_LIMIT_REFUSALS, dimension=("code", error.code))
        return error_response(error.status_code, error.code, error.message, error.details)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        errors = list(error.errors())
        details = validation_details(errors)
        if any(detail["type"] == "json_invalid" for detail in details):
            return error_response(
                400,
                "invalid_json",
                "request body is not valid JSON",
                [{"field": "body", "message": "not valid JSON", "type": "json_invalid"}],
            )
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return error_response(400, validation_code(errors), summary or "invalid request", details)

    @app.exception_handler(RouteNotFound)
    def _no_route(_error: Exception) -> Response[str]:
        return error_response(404, "route_not_found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")

    return app


def current_tenant(app: APIGatewayHttpResolver) -> Tenant:
    tenant: Tenant = app.context["tenant"]  # put there by handle() before any route runs
    return tenant
