"""The HTTP surface shared by every function: one resolver factory, one error mapping.

Every client error leaves as `{"error": {"code", "message", "details"}}` with a 4xx status;
authentication is enforced in `handle`, before the resolver parses or validates anything, so an
unauthenticated request never learns whether its body was valid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from chargewatch import access, observability
from chargewatch.errors import ChargewatchError, PayloadTooLargeError, UnsupportedMediaTypeError
from chargewatch.settings import get_settings
from chargewatch.tenancy import Tenant, tenant_from_event

logger = observability.logger

_ERROR_MESSAGES = {
    "json_invalid": "request body is not valid JSON",
    "missing": "field required",
    "extra_forbidden": "unknown field",
}


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response[str]:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


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


def _validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    details = []
    for error in errors:
        message = error.get("msg") or _ERROR_MESSAGES.get(error.get("type", ""), error.get("type", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        details.append({"field": field_path(error.get("loc", ())), "message": message, "type": error.get("type")})
    return details


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
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(ChargewatchError)
    def _client_error(error: ChargewatchError) -> Response[str]:
        if error.status_code == 402:
            observability.count(observability.PLAN_LIMIT_REFUSALS, dimension=("code", error.code))
        return error_response(error.status_code, error.code, error.message, error.details)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        details = _validation_details(list(error.errors()))
        if any(detail["type"] == "json_invalid" for detail in details):
            return error_response(
                400,
                "invalid_json",
                "request body is not valid JSON",
                [{"field": "body", "message": "not valid JSON", "type": "json_invalid"}],
            )
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return error_response(400, "validation_error", summary or "invalid request", details)

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
