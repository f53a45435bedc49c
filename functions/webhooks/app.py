"""/v1/webhooks and /v1/api-keys: routes only. Logic lives in chargewatch.services.webhooks and
chargewatch.services.api_keys."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from chargewatch.schemas.api_keys import ApiKeyCreated, ApiKeyPage, ApiKeyRevoked, CreateApiKeyRequest
from chargewatch.schemas.webhooks import (
    CreateWebhookRequest,
    UpdateWebhookRequest,
    Webhook,
    WebhookDeleted,
    WebhookDetail,
    WebhookPage,
    WebhookTestResult,
    WebhookWithSecret,
)
from chargewatch.services import api_keys, webhooks
from chargewatch.tenancy import Tenant, require_admin

app = create_app()

WebhookId = Annotated[str, Path(min_length=1, max_length=64)]
KeyId = Annotated[str, Path(min_length=1, max_length=64)]
Page = Annotated[int, Query(ge=0, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def _admin() -> Tenant:
    """Key and webhook management is for owners and admins (members get 403 insufficient_privilege)."""
    tenant = current_tenant(app)
    require_admin(tenant)
    return tenant


# ------------------------------------------------------------------ webhooks


@app.get("/v1/webhooks", summary="List Webhooks", tags=["webhooks"])
def list_webhooks(page: Page = 0, pageSize: PageSize = DEFAULT_PAGE_SIZE) -> WebhookPage:
    return webhooks.list_webhooks(current_tenant(app).organization_id, page, pageSize)


@app.post(
    "/v1/webhooks",
    summary="Create Webhook",
    tags=["webhooks"],
    description="Register a new webhook. Secret is returned only once.",
)
def create_webhook(body: Annotated[CreateWebhookRequest, Body()]) -> WebhookWithSecret:
    return webhooks.create_webhook(_admin().organization_id, body)


@app.get("/v1/webhooks/<webhook_id>", summary="Get Webhook", tags=["webhooks"])
def get_webhook(webhook_id: WebhookId) -> WebhookDetail:
    return webhooks.get_webhook(current_tenant(app).organization_id, webhook_id)


@app.put("/v1/webhooks/<webhook_id>", summary="Update Webhook", tags=["webhooks"])
def update_webhook(webhook_id: WebhookId, body: Annotated[UpdateWebhookRequest, Body()]) -> Webhook:
    return webhooks.update_webhook(_admin().organization_id, webhook_id, body)


@app.delete("/v1/webhooks/<webhook_id>", summary="Delete Webhook", tags=["webhooks"])
def delete_webhook(webhook_id: WebhookId) -> WebhookDeleted:
    return webhooks.delete_webhook(_admin().organization_id, webhook_id)


@app.post(
    "/v1/webhooks/<webhook_id>/rotate-secret",
    summary="Rotate Secret",
    tags=["webhooks"],
    description="Rotate webhook secret. Old secret valid for 24h grace period.",
)
def rotate_secret(webhook_id: WebhookId) -> WebhookWithSecret:
    return webhooks.rotate_secret(_admin().organization_id, webhook_id)


@app.post(
    "/v1/webhooks/<webhook_id>/test",
    summary="Test Webhook",
    tags=["webhooks"],
    description="Send a signed webhook.test event now and return the attempt's outcome.",
)
def test_webhook(webhook_id: WebhookId) -> WebhookTestResult:
    return webhooks.send_test(_admin().organization_id, webhook_id)


# ------------------------------------------------------------------ API keys


@app.get("/v1/api-keys", summary="List Api Keys", tags=["api-keys"])
def list_api_keys(page: Page = 0, pageSize: PageSize = DEFAULT_PAGE_SIZE) -> ApiKeyPage:
    return api_keys.list_api_keys(current_tenant(app).organization_id, page, pageSize)


@app.post(
    "/v1/api-keys",
    summary="Create Api Key",
    tags=["api-keys"],
    description="Create a new API key for the tenant. Returns the full key only once.",
)
def create_api_key(body: Annotated[CreateApiKeyRequest, Body()]) -> ApiKeyCreated:
    return api_keys.create_api_key(_admin(), body)


@app.delete(
    "/v1/api-keys/<key_id>",
    summary="Revoke Api Key",
    tags=["api-keys"],
    description="Revoke an API key. It stops authenticating on the next request.",
)
def revoke_api_key(key_id: KeyId) -> ApiKeyRevoked:
    return api_keys.revoke_api_key(_admin(), key_id)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, event, context)
