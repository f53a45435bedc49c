"""Webhooks and their delivery records, in one partition per webhook.

- webhook:  PK `ORG#<orgId>#WEBHOOK#<webhookId>`, SK `WEBHOOK`
            GSI2 `ORG#<orgId>#WEBHOOKS` / `<createdAt>#<webhookId>` (list a tenant's webhooks)
- delivery: PK `ORG#<orgId>#WEBHOOK#<webhookId>`, SK `DELIVERY#<deliveryId>` (UUIDv7: sorts by
            creation time, so a descending query is "newest first"); `ttl` = created + 30 days

Counters that the delivery consumer and the API both change (failureCount, enabled) are changed
with update expressions, never by saving a read copy, so neither overwrites the other.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chargewatch.dal.table import GSI2, is_condition_failure, register, tenant_pk

WEBHOOK_SK = "WEBHOOK"
DELIVERY_PREFIX = "DELIVERY#"


def webhook_pk(organization_id: str, webhook_id: str) -> str:
    return tenant_pk(organization_id, "WEBHOOK", webhook_id)


def webhooks_index_pk(organization_id: str) -> str:
    return tenant_pk(organization_id, "WEBHOOKS")


@register
class WebhookItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI2PK = UnicodeAttribute()
    GSI2SK = UnicodeAttribute()
    by_tenant = GSI2()

    webhookId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    url = UnicodeAttribute()
    events = ListAttribute(of=UnicodeAttribute, default=list)
    description = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(default=True)
    failureCount = NumberAttribute(default=0)
    # start of the current run of failed attempts (none since the last success); drives auto-disable
    failingSince = UnicodeAttribute(null=True)
    disabledAt = UnicodeAttribute(null=True)
    disabledReason = UnicodeAttribute(null=True)
    # The signing secret must be usable, so it is stored (the table is encrypted at rest);
    # it leaves the API only in the create and rotate-secret responses.
    secret = UnicodeAttribute()
    previousSecret = UnicodeAttribute(null=True)
    previousSecretExpiresAt = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()


@register
class DeliveryItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)

    deliveryId = UnicodeAttribute()
    webhookId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    eventType = UnicodeAttribute()
    eventId = UnicodeAttribute()
    payload = UnicodeAttribute()  # the exact body bytes (JSON text), identical on every attempt
    status = UnicodeAttribute()  # pending | succeeded | failed
    attemptCount = NumberAttribute(default=0)  # attempts claimed (started)
    completedAttempts = NumberAttribute(default=0)  # attempts whose outcome is recorded
    attemptStartedAt = UnicodeAttribute(null=True)
    attempts = ListAttribute(of=JSONAttribute, default=list)
    httpStatus = NumberAttribute(null=True)
    responseBody = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    nextAttemptAt = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    completedAt = UnicodeAttribute(null=True)
    ttl = NumberAttribute()


class ClaimLost(Exception):
    """Another invocation already claimed (or recorded) this attempt."""


# --------------------------------------------------------------------------- webhooks

def put_new_webhook(organization_id: str, webhook_id: str, **attributes: Any) -> WebhookItem:
    item = WebhookItem(
        webhook_pk(organization_id, webhook_id), WEBHOOK_SK,
        GSI2PK=webhooks_index_pk(organization_id), GSI2SK=f"{attributes['createdAt']}#{webhook_id}",
        webhookId=webhook_id, organizationId=organization_id, **attributes,
    )
    item.save(condition=WebhookItem.PK.does_not_exist())
    return item


def get_webhook(organization_id: str, webhook_id: str) -> WebhookItem | None:
    try:
        return WebhookItem.get(webhook_pk(organization_id, webhook_id), WEBHOOK_SK, consistent_read=True)
    except WebhookItem.DoesNotExist:
        return None


def list_webhooks(organization_id: str) -> Iterator[WebhookItem]:
    """Newest first."""
    return WebhookItem.by_tenant.query(webhooks_index_pk(organization_id), scan_index_forward=False)


def update_webhook(item: WebhookItem, actions: list, condition=None) -> WebhookItem | None:
    """Apply update actions to an existing webhook; None when it is gone or the condition failed."""
    exists = WebhookItem.PK.exists()
    try:
        item.update(actions=actions, condition=exists if condition is None else exists & condition)
    except UpdateError as error:
        if is_condition_failure(error):
            return None
        raise
    return item


def delete_webhook_with_deliveries(organization_id: str, webhook_id: str) -> int | None:
    """Delete the webhook, then every delivery record of it; None when there was no webhook."""
    item = get_webhook(organization_id, webhook_id)
    if item is None:
        return None
    item.delete()
    deleted = 0
    keys = DeliveryItem.query(webhook_pk(organization_id, webhook_id), DeliveryItem.SK.startswith(DELIVERY_PREFIX),
                              attributes_to_get=["PK", "SK"])
    with DeliveryItem.batch_write() as batch:
        for delivery in keys:
            batch.delete(delivery)
            deleted += 1
    return deleted


# --------------------------------------------------------------------------- deliveries

def put_new_delivery(organization_id: str, webhook_id: str, delivery_id: str, **attributes: Any) -> DeliveryItem:
    item = DeliveryItem(
        webhook_pk(organization_id, webhook_id), DELIVERY_PREFIX + delivery_id,
        deliveryId=delivery_id, webhookId=webhook_id, organizationId=organization_id, **attributes,
    )
    item.save(condition=DeliveryItem.PK.does_not_exist())
    return item


def get_delivery(organization_id: str, webhook_id: str, delivery_id: str) -> DeliveryItem | None:
    try:
        return DeliveryItem.get(webhook_pk(organization_id, webhook_id), DELIVERY_PREFIX + delivery_id,
                                consistent_read=True)
    except DeliveryItem.DoesNotExist:
        return None


def recent_deliveries(organization_id: str, webhook_id: str, limit: int) -> list[DeliveryItem]:
    """Newest first (delivery ids are time-ordered)."""
    return list(DeliveryItem.query(webhook_pk(organization_id, webhook_id), DeliveryItem.SK.startswith(DELIVERY_PREFIX),
                                   scan_index_forward=False, limit=limit))


def claim_attempt(delivery: DeliveryItem, attempt: int, started_at: str) -> DeliveryItem:
    """Mark `attempt` as started, only if it is the next one: a redelivered message cannot claim it again."""
    try:
        delivery.update(
            actions=[DeliveryItem.attemptCount.set(attempt), DeliveryItem.attemptStartedAt.set(started_at)],
            condition=(DeliveryItem.attemptCount == attempt - 1) & (DeliveryItem.status == "pending"),
        )
    except UpdateError as error:
        if is_condition_failure(error):
            raise ClaimLost(delivery.deliveryId) from error
        raise
    return delivery


def record_attempt(delivery: DeliveryItem, attempt: int, record: dict[str, Any], changes: dict[str, Any]) -> DeliveryItem:
    """Store one attempt's outcome once (conditioned on it not being recorded yet)."""
    actions = [DeliveryItem.completedAttempts.set(attempt), DeliveryItem.attempts.set(
        (delivery.attempts or []) + [record])]
    for name, value in changes.items():
        attribute = getattr(DeliveryItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    try:
        delivery.update(actions=actions, condition=DeliveryItem.completedAttempts == attempt - 1)
    except UpdateError as error:
        if is_condition_failure(error):
            raise ClaimLost(delivery.deliveryId) from error
        raise
    return delivery


def finish_without_attempt(delivery: DeliveryItem, *, error: str, completed_at: str) -> None:
    """A pending delivery that will not be attempted any more (its webhook is disabled or gone)."""
    try:
        delivery.update(actions=[DeliveryItem.status.set("failed"), DeliveryItem.error.set(error),
                                 DeliveryItem.completedAt.set(completed_at), DeliveryItem.nextAttemptAt.remove()],
                        condition=DeliveryItem.status == "pending")
    except UpdateError as error_:
        if not is_condition_failure(error_):
            raise
