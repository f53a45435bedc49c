"""The /v1/webhooks operations: create, list, read, update, delete, rotate the secret, send a test.
Events are published by chargewatch.services.webhook_events and delivered by
chargewatch.services.webhook_delivery; signatures are chargewatch.services.webhook_signing's."""

from __future__ import annotations

from typing import Any

from chargewatch import clock, outbound
from chargewatch.dal import webhooks as webhooks_dal
from chargewatch.dal.table import Action
from chargewatch.errors import ConflictError, NotFoundError
from chargewatch.pagination import paginate
from chargewatch.schemas.webhooks import (
    WEBHOOK_TEST,
    CreateWebhookRequest,
    UpdateWebhookRequest,
    Webhook,
    WebhookDeleted,
    WebhookDelivery,
    WebhookDetail,
    WebhookPage,
    WebhookTestData,
    WebhookTestResult,
    WebhookWithSecret,
)
from chargewatch.services import webhook_delivery, webhook_events, webhook_signing
from chargewatch.settings import get_settings

RECENT_DELIVERIES = 20
MAX_WEBHOOKS_PER_ORGANIZATION = 20


# --------------------------------------------------------------------------- /v1/webhooks


def _webhook_fields(item: webhooks_dal.WebhookItem) -> dict[str, Any]:
    return {
        "id": item.webhookId,
        "url": item.url,
        "events": list(item.events or []),
        "description": item.description,
        "enabled": bool(item.enabled),
        "failureCount": int(item.failureCount or 0),
        "disabledAt": item.disabledAt,
        "disabledReason": item.disabledReason,
        "createdAt": item.createdAt,
        "updatedAt": item.updatedAt,
    }


def _delivery_out(item: webhooks_dal.DeliveryItem) -> WebhookDelivery:
    return WebhookDelivery(
        id=item.deliveryId,
        eventType=item.eventType,
        status=item.status,
        httpStatus=None if item.httpStatus is None else int(item.httpStatus),
        attemptCount=int(item.attemptCount or 0),
        createdAt=item.createdAt,
        completedAt=item.completedAt,
        nextAttemptAt=item.nextAttemptAt,
        error=item.error,
        responseBody=item.responseBody,
    )


def _require(organization_id: str, webhook_id: str) -> webhooks_dal.WebhookItem:
    item = webhooks_dal.get_webhook(organization_id, webhook_id)
    if item is None:
        raise NotFoundError(f"webhook {webhook_id} not found", code="webhook_not_found")
    return item


def _checked_url(url: str) -> str:
    return outbound.validate_url(url, "url", allow_local_http=get_settings().webhook_allow_local_http)


def list_webhooks(organization_id: str, page: int, page_size: int) -> WebhookPage:
    content, pagination = paginate(
        webhooks_dal.list_webhooks(organization_id), page, page_size, lambda item: Webhook(**_webhook_fields(item))
    )
    return WebhookPage(content=content, pagination=pagination)


def create_webhook(organization_id: str, request: CreateWebhookRequest) -> WebhookWithSecret:
    url = _checked_url(request.url)
    if sum(1 for _ in webhooks_dal.list_webhooks(organization_id)) >= MAX_WEBHOOKS_PER_ORGANIZATION:
        raise ConflictError(
            f"an organization can have at most {MAX_WEBHOOKS_PER_ORGANIZATION} webhooks", code="webhook_limit_reached"
        )
    now = clock.iso_now()
    item = webhooks_dal.put_new_webhook(
        organization_id,
        clock.new_id(),
        url=url,
        events=request.events,
        description=request.description or None,
        enabled=True,
        failureCount=0,
        secret=webhook_signing.generate_secret(),
        createdAt=now,
        updatedAt=now,
    )
    return WebhookWithSecret(**_webhook_fields(item), secret=item.secret)


def get_webhook(organization_id: str, webhook_id: str) -> WebhookDetail:
    item = _require(organization_id, webhook_id)
    deliveries = webhooks_dal.recent_deliveries(organization_id, webhook_id, RECENT_DELIVERIES)
    return WebhookDetail(**_webhook_fields(item), recentDeliveries=[_delivery_out(d) for d in deliveries])


def update_webhook(organization_id: str, webhook_id: str, request: UpdateWebhookRequest) -> Webhook:
    item = _require(organization_id, webhook_id)
    Item = webhooks_dal.WebhookItem
    actions: list[Action] = [Item.updatedAt.set(clock.iso_now())]
    if request.url is not None:
        actions.append(Item.url.set(_checked_url(request.url)))
    if request.events is not None:
        actions.append(Item.events.set(request.events))
    if request.description is not None:
        actions.append(Item.description.set(request.description) if request.description else Item.description.remove())
    if request.enabled is True and not item.enabled:
        # re-enabling starts over: no failure history, nothing disabled
        actions += [
            Item.enabled.set(True),
            Item.failureCount.set(0),
            Item.failingSince.remove(),
            Item.disabledAt.remove(),
            Item.disabledReason.remove(),
        ]
    elif request.enabled is False and item.enabled:
        actions += [
            Item.enabled.set(False),
            Item.disabledAt.set(clock.iso_now()),
            Item.disabledReason.set("disabled through the API"),
        ]
    if webhooks_dal.update_webhook(item, actions) is None:
        raise NotFoundError(f"webhook {webhook_id} not found", code="webhook_not_found")
    return Webhook(**_webhook_fields(item))


def delete_webhook(organization_id: str, webhook_id: str) -> WebhookDeleted:
    deleted = webhooks_dal.delete_webhook_with_deliveries(organization_id, webhook_id)
    if deleted is None:
        raise NotFoundError(f"webhook {webhook_id} not found", code="webhook_not_found")
    return WebhookDeleted(id=webhook_id, deleted=True, deliveriesDeleted=deleted)


def rotate_secret(organization_id: str, webhook_id: str) -> WebhookWithSecret:
    item = _require(organization_id, webhook_id)
    Item = webhooks_dal.WebhookItem
    now = clock.now()
    new_secret = webhook_signing.generate_secret()
    actions: list[Action] = [
        Item.secret.set(new_secret),
        Item.previousSecret.set(item.secret),
        Item.previousSecretExpiresAt.set(clock.to_iso(now + webhook_signing.SECRET_GRACE)),
        Item.updatedAt.set(clock.to_iso(now)),
    ]
    # conditioned on the secret read, so two concurrent rotations cannot lose a secret in between
    if webhooks_dal.update_webhook(item, actions, condition=Item.secret == item.secret) is None:
        raise ConflictError("the webhook changed while rotating its secret; retry", code="concurrent_modification")
    return WebhookWithSecret(**_webhook_fields(item), secret=new_secret)


def send_test(organization_id: str, webhook_id: str) -> WebhookTestResult:
    """A signed webhook.test event, sent now; recorded as a delivery, but it neither retries nor
    changes the webhook's failure count or enabled state (it is a diagnostic, allowed when disabled)."""
    webhook = _require(organization_id, webhook_id)
    data = WebhookTestData(webhookId=webhook_id, message="This is a test event from Chargewatch.")
    body, event_id = webhook_events.envelope(organization_id, WEBHOOK_TEST, data)
    delivery = webhook_events.new_delivery(webhook, WEBHOOK_TEST, event_id, body, sweepable=False)  # never queued
    webhooks_dal.claim_attempt(delivery, 1, clock.iso_now())
    outcome = webhook_delivery.post(webhook, delivery)
    webhook_delivery.record_outcome(webhook, delivery, 1, outcome, bookkeeping=False)
    return WebhookTestResult(
        success=delivery.status == "succeeded",
        deliveryId=delivery.deliveryId,
        eventType=WEBHOOK_TEST,
        status=delivery.status,
        httpStatus=outcome.http_status,
        durationMs=outcome.duration_ms,
        error=outcome.error,
        responseBody=delivery.responseBody,
    )
