"""/api/tenant-usage: routes only. Logic lives in chargewatch.services.usage."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.schemas.usage import TenantUsage, TenantUsageUpdated, UsageIncrementRequest
from chargewatch.services import usage
from chargewatch.tenancy import require_admin

app = create_app()

_ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


@app.get(
    "/api/tenant-usage",
    summary="Get Tenant Usage",
    tags=["usage"],
    description="The current plan (with its limits) and usage counters of the active tenant.",
)
def get_tenant_usage() -> TenantUsage:
    return usage.get_usage(current_tenant(app).organization_id)


@app.post(
    "/api/tenant-usage",
    summary="Increment Tenant Usage",
    tags=["usage"],
    description="Apply a usage delta (admins only). If the updated value would exceed a plan limit the "
    "answer is 402 and no counter changes. An `Idempotency-Key` makes a retry apply once.",
    responses={
        200: {"description": "Applied; the updated plan and counters"},
        402: {
            "description": "storage_limit_exceeded, ai_limit_exceeded or whatsapp_limit_exceeded: nothing was changed",
            "content": _ERROR_BODY,
        },
    },
)
def increment_tenant_usage(
    body: Annotated[UsageIncrementRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="a retry with the same key applies once (24 h)",
            json_schema_extra={"minLength": 1},  # the service refuses an empty key
        ),
    ] = None,
) -> TenantUsageUpdated:
    tenant = current_tenant(app)
    require_admin(tenant)
    return usage.increment(tenant, body, idempotency_key)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, event, context)
