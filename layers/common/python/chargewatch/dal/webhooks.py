"""Webhooks and their delivery records, in one partition per webhook.

- webhook:  PK `ORG#<orgId>#WEBHOOK#<webhookId>`, SK `WEBHOOK`
            GSI2 `ORG#<orgId>#WEBHOOKS` / `<createdAt>#<webhookId>` (list a tenant's webhooks)
- delivery: PK `ORG#<orgId>#WEBHOOK#<webhookId>`, SK `DELIVERY#<deliveryId>` (UUIDv7: sorts by
            creation time, so a descending query is "newest first"); `ttl` = created + 30 days
            GSI1 `WEBHOOKPENDING#<shard>` / `<dueAt, to the second>#<deliveryId>` only while the
            delivery is pending and owned by the queue (sparse): the sweeper's overdue query

The pending entry is written and removed by the same conditional writes that create a delivery
and record its attempts, so it cannot disagree with `status`. It is platform data (not tenant
data): the sweeper reads it across tenants and takes the tenant from each item it finds; no
request path reads it. SHARDS spread the writes over a few index partitions.

Counters that the delivery consumer and the API both change (failureCount, enabled) are changed
with update expressions, never by saving a read copy, so neither overwrites the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chargewatch import clock
from chargewatch.dal.table import GSI1, GSI2, is_condition_failure, register, tenant_pk

WEBHOOK_SK = "WEBHOOK"
DELIVERY_PREFIX = "DELIVERY#"
PENDING_PREFIX = "WEBHOOKPENDING#"
PENDING_SHARDS = 4


def webhook_pk(organization_id: str, webhook_id: str) -> str:
    return tenant_pk(organization_id, "WEBHOOK", webhook_id)


def webhooks_index_pk(organization_id: str) -> str:
    return tenant_pk(organization_id, "WEBHOOKS")


def pending_index_pk(delivery_id: str) -> str:
    """A stable shard per delivery, so every write of one delivery lands on the same index key."""
    shard = int(hashlib.sha256(delivery_id.encode()).hexdigest()[:8], 16) % PENDING_SHARDS
    return f"{PENDING_PREFIX}{shard}"


def pending_index_sk(due_at: str | datetime, delivery_id: str) -> str:
    """`<due, to the second, fixed width>#<deliveryId>`: text order is time order."""
    moment = clock.parse_iso(due_at) if isinstance(due_at, str) else due_at
    return f"{_second(moment)}#{delivery_id}"


def _second(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@register
class WebhookItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI2PK = UnicodeAttribute()
    GSI2SK = UnicodeAttribute()
    by_tenant: GSI2[WebhookItem] = GSI2()

    webhookId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    url = UnicodeAttribute()
    # pynamodb types ListAttribute(of=X) as a list of X attributes; the stored values are strings
    events: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, default=list)  # type: ignore[arg-type]
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
    # the sweeper's index entry: present only while pending (see the module docstring)
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    pending_by_due: GSI1[DeliveryItem] = GSI1()

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
    # pynamodb types ListAttribute(of=X) as a list of X attributes; the values are the JSON documents
    attempts: ListAttribute[dict[str, Any]] = ListAttribute(of=JSONAttribute, default=list)  # type: ignore[arg-type]
    httpStatus = NumberAttribute(null=True)
    responseBody = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    nextAttemptAt = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    completedAt = UnicodeAttribute(null=True)
    sweepCount = NumberAttribute(null=True)  # times the sweeper re-queued it (its message was lost)
    ttl = NumberAttribute()


class ClaimLost(Exception):
    """Another invocation already claimed (or recorded) this attempt."""


# --------------------------------------------------------------------------- webhooks


def put_new_webhook(organization_id: str, webhook_id: str, **attributes: Any) -> WebhookItem:
    item = WebhookItem(
        webhook_pk(organization_id, webhook_id),
        WEBHOOK_SK,
        GSI2PK=webhooks_index_pk(organization_id),
        GSI2SK=f"{attributes['createdAt']}#{webhook_id}",
        webhookId=webhook_id,
        organizationId=organization_id,
        **attributes,
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


def update_webhook(item: WebhookItem, actions: list[Action], condition: Condition | None = None) -> WebhookItem | None:
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
    keys = DeliveryItem.query(
        webhook_pk(organization_id, webhook_id),
        DeliveryItem.SK.startswith(DELIVERY_PREFIX),
        attributes_to_get=["PK", "SK"],
    )
    with DeliveryItem.batch_write() as batch:
        for delivery in keys:
            batch.delete(delivery)
            deleted += 1
    return deleted


# --------------------------------------------------------------------------- deliveries


def put_new_delivery(
    organization_id: str, webhook_id: str, delivery_id: str, *, sweepable: bool = True, **attributes: Any
) -> DeliveryItem:
    """A new delivery; a pending one the queue is to attempt (`sweepable`) gets its pending index entry."""
    if sweepable and attributes.get("status") == "pending" and attributes.get("nextAttemptAt"):
        attributes.update(
            GSI1PK=pending_index_pk(delivery_id), GSI1SK=pending_index_sk(attributes["nextAttemptAt"], delivery_id)
        )
    item = DeliveryItem(
        webhook_pk(organization_id, webhook_id),
        DELIVERY_PREFIX + delivery_id,
        deliveryId=delivery_id,
        webhookId=webhook_id,
        organizationId=organization_id,
        **attributes,
    )
    item.save(condition=DeliveryItem.PK.does_not_exist())
    return item


def get_delivery(organization_id: str, webhook_id: str, delivery_id: str) -> DeliveryItem | None:
    try:
        return DeliveryItem.get(
            webhook_pk(organization_id, webhook_id), DELIVERY_PREFIX + delivery_id, consistent_read=True
        )
    except DeliveryItem.DoesNotExist:
        return None


def recent_deliveries(organization_id: str, webhook_id: str, limit: int) -> list[DeliveryItem]:
    """Newest first (delivery ids are time-ordered)."""
    return list(
        DeliveryItem.query(
            webhook_pk(organization_id, webhook_id),
            DeliveryItem.SK.startswith(DELIVERY_PREFIX),
            scan_index_forward=False,
            limit=limit,
        )
    )


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


def record_attempt(
    delivery: DeliveryItem, attempt: int, record: dict[str, Any], changes: dict[str, Any]
) -> DeliveryItem:
    """Store one attempt's outcome once (conditioned on it not being recorded yet)."""
    actions: list[Action] = [
        DeliveryItem.completedAttempts.set(attempt),
        DeliveryItem.attempts.set((delivery.attempts or []) + [record]),
    ]
    for name, value in changes.items():
        attribute = getattr(DeliveryItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    if changes.get("status", "pending") != "pending":  # finished: out of the sweeper's index
        actions += [DeliveryItem.GSI1PK.remove(), DeliveryItem.GSI1SK.remove()]
    elif changes.get("nextAttemptAt"):  # due again later (also indexes deliveries older than the index)
        actions += [
            DeliveryItem.GSI1PK.set(pending_index_pk(delivery.deliveryId)),
            DeliveryItem.GSI1SK.set(pending_index_sk(changes["nextAttemptAt"], delivery.deliveryId)),
        ]
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
        delivery.update(
            actions=[
                DeliveryItem.status.set("failed"),
                DeliveryItem.error.set(error),
                DeliveryItem.completedAt.set(completed_at),
                DeliveryItem.nextAttemptAt.remove(),
                DeliveryItem.GSI1PK.remove(),
                DeliveryItem.GSI1SK.remove(),
            ],
            condition=DeliveryItem.status == "pending",
        )
    except UpdateError as error_:
        if not is_condition_failure(error_):
            raise


# --------------------------------------------------------------------------- the sweeper's index


@dataclass(frozen=True)
class PendingRef:
    """What the pending index says about a delivery: where it is, and its due key when indexed."""

    organizationId: str
    webhookId: str
    deliveryId: str
    dueKey: str


def overdue_pending(due_before: datetime, limit: int) -> Iterator[PendingRef]:
    """Pending deliveries whose index entry is due before `due_before`, oldest first per shard
    (at most `limit` in all). Keys only: the caller re-reads each one within its tenant."""
    found = 0
    for shard in range(PENDING_SHARDS):
        query = DeliveryItem.pending_by_due.query(
            f"{PENDING_PREFIX}{shard}",
            DeliveryItem.GSI1SK < _second(due_before),
            limit=limit - found,
            attributes_to_get=["organizationId", "webhookId", "deliveryId", "GSI1SK"],
        )
        for item in query:
            yield PendingRef(item.organizationId, item.webhookId, item.deliveryId, item.GSI1SK)
            found += 1
            if found >= limit:
                return


def postpone_sweep(delivery: DeliveryItem, seen_due_key: str, next_check: datetime) -> bool:
    """Take one delivery for a re-queue: move its index entry to `next_check` and count the sweep,
    only if nothing happened to it since it was read (same due key, still pending, no new outcome).
    False when another sweeper or the consumer got there first."""
    try:
        delivery.update(
            actions=[
                DeliveryItem.GSI1SK.set(pending_index_sk(next_check, delivery.deliveryId)),
                DeliveryItem.sweepCount.add(1),
            ],
            condition=(DeliveryItem.GSI1SK == seen_due_key)
            & (DeliveryItem.status == "pending")
            & (DeliveryItem.completedAttempts == int(delivery.completedAttempts or 0)),
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
