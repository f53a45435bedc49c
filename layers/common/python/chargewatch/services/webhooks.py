"""Webhooks: the /v1/webhooks operations, event publishing, and signed delivery through SQS.

Publishing an event stores one delivery record per subscribed, enabled webhook and queues its
first attempt. The delivery consumer (functions/webhook_delivery) runs one attempt per message:

- attempts follow RETRY_DELAYS (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
  24 h); SQS delays at most 900 s, so a longer wait is a chain of messages carrying `notBefore`;
- an attempt is claimed with a conditional write (attemptCount n-1 -> n) before the POST, so a
  redelivered message never POSTs the same attempt twice, and its outcome is recorded once;
- 2xx succeeds; 410 disables the webhook at once; anything else retries until the last attempt,
  after which the delivery is failed and its message is sent to the dead-letter queue;
- a run of failures lasting AUTO_DISABLE_AFTER disables the webhook (enabled=false, disabledAt);
- a message that is lost (a send that failed after the record was written, a dead invocation, a
  chained wait that never arrived) leaves a pending delivery whose next attempt is overdue: the
  sweeper (functions/webhook_sweeper, every 5 minutes) re-queues that attempt after SWEEP_GRACE.
  Claims make a re-queue harmless when the original message arrives too.

Bodies are signed per Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature); for
SECRET_GRACE after a rotation, every attempt carries a signature with the old secret too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets as secrets_module
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from chargewatch import clock, observability, outbound
from chargewatch.dal import webhooks as webhooks_dal
from chargewatch.dal.table import Action
from chargewatch.errors import ChargewatchError, ConflictError, NotFoundError
from chargewatch.pagination import paginate
from chargewatch.schemas.webhooks import (
    ANOMALY_DETECTED,
    EVENT_TYPES,
    SESSION_ANALYZED,
    WEBHOOK_TEST,
    AnomalyDetectedData,
    AnomalySummary,
    BatchCompletedData,
    CreateWebhookRequest,
    EventEnvelope,
    IssueUpdatedData,
    SessionAnalyzedData,
    StationAnomalyDetectedData,
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
from chargewatch.settings import get_settings

logger = observability.logger

# Delay before attempt n+1 after attempt n failed; attempt 1 is immediate.
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
SQS_MAX_DELAY_SECONDS = 900
AUTO_DISABLE_AFTER = timedelta(days=5)
SECRET_GRACE = timedelta(hours=24)
DELIVERY_RETENTION = timedelta(days=30)
RECENT_DELIVERIES = 20
MAX_WEBHOOKS_PER_ORGANIZATION = 20
RESPONSE_BODY_LIMIT = 1024
HTTP_TIMEOUT_SECONDS = 10.0
# A claimed attempt whose outcome is still unrecorded this long after it started belongs to an
# invocation that died (the consumer's timeout is 120 s): it counts as a failed attempt.
STALE_CLAIM = timedelta(seconds=180)
# A pending delivery whose next attempt is this overdue has lost its message; the sweeper re-queues
# it. Longer than any normal lateness (a busy queue, a retried in-progress message).
SWEEP_GRACE = timedelta(minutes=10)
# A delivery re-queued again and again (a consumer outage) is re-queued ever less often.
SWEEP_BACKOFF_MAX = timedelta(hours=6)
SWEEP_BATCH = 500  # per run; the rest stay overdue and are found by the next run
SECRET_PREFIX = "whsec_"
USER_AGENT = "Chargewatch-Webhooks/1.0"


class AttemptInProgress(Exception):
    """Another invocation holds this attempt; the message is retried later (batch item failure)."""


# --------------------------------------------------------------------------- signing


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets_module.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(webhook: webhooks_dal.WebhookItem, moment: datetime) -> list[str]:
    """The current secret, plus the previous one inside its grace window."""
    found = [webhook.secret]
    if (
        webhook.previousSecret
        and webhook.previousSecretExpiresAt
        and clock.parse_iso(webhook.previousSecretExpiresAt) > moment
    ):
        found.append(webhook.previousSecret)
    return found


def signed_headers(webhook: webhooks_dal.WebhookItem, message_id: str, body: str, moment: datetime) -> dict[str, str]:
    timestamp = int(moment.timestamp())
    signature = " ".join(sign(secret, message_id, timestamp, body) for secret in signing_secrets(webhook, moment))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


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
        secret=generate_secret(),
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
    new_secret = generate_secret()
    actions: list[Action] = [
        Item.secret.set(new_secret),
        Item.previousSecret.set(item.secret),
        Item.previousSecretExpiresAt.set(clock.to_iso(now + SECRET_GRACE)),
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
    body, event_id = _envelope(organization_id, WEBHOOK_TEST, data)
    delivery = _new_delivery(webhook, WEBHOOK_TEST, event_id, body, sweepable=False)  # never queued
    webhooks_dal.claim_attempt(delivery, 1, clock.iso_now())
    outcome = _post(webhook, delivery)
    _record_outcome(webhook, delivery, 1, outcome, bookkeeping=False)
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


# --------------------------------------------------------------------------- publishing


def _envelope(organization_id: str, event_type: str, data: BaseModel | dict[str, Any]) -> tuple[str, str]:
    event_id = clock.new_id()
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    envelope = EventEnvelope(
        id=event_id, type=event_type, timestamp=clock.iso_now(), organizationId=organization_id, data=payload
    )
    return envelope.model_dump_json(), event_id


def _new_delivery(
    webhook: webhooks_dal.WebhookItem, event_type: str, event_id: str, body: str, *, sweepable: bool = True
) -> webhooks_dal.DeliveryItem:
    now = clock.now()
    return webhooks_dal.put_new_delivery(
        webhook.organizationId,
        webhook.webhookId,
        clock.new_sortable_id(),
        sweepable=sweepable,
        eventType=event_type,
        eventId=event_id,
        payload=body,
        status="pending",
        attemptCount=0,
        completedAttempts=0,
        createdAt=clock.to_iso(now),
        nextAttemptAt=clock.to_iso(now),
        ttl=int((now + DELIVERY_RETENTION).timestamp()),
    )


def publish(
    organization_id: str,
    event_type: str,
    data: BaseModel | dict[str, Any],
    *,
    webhooks: list[webhooks_dal.WebhookItem] | None = None,
) -> list[str]:
    """Queue `event_type` for every enabled webhook of the organization subscribed to it.

    Returns the delivery ids. The payload goes only to the organization's own webhooks. A caller
    publishing several events at once passes the organization's `webhooks` (read once). A failed
    send is logged and the pending record left to the sweeper (the delivery is only late)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    if webhooks is None:
        webhooks = list(webhooks_dal.list_webhooks(organization_id))
    subscribers = [webhook for webhook in webhooks if webhook.enabled and event_type in (webhook.events or [])]
    if not subscribers:
        return []
    body, event_id = _envelope(organization_id, event_type, data)
    delivery_ids = []
    for webhook in subscribers:
        delivery = _new_delivery(webhook, event_type, event_id, body)
        delivery_ids.append(delivery.deliveryId)
        _enqueue_or_leave_to_sweeper(_message(delivery, 1, clock.now()), 0)
    return delivery_ids


def _publish_safely(
    organization_id: str, event_type: str, data: BaseModel, *, webhooks: list[webhooks_dal.WebhookItem] | None = None
) -> list[str]:
    """Publishing never fails the request that caused the event (the event is logged instead)."""
    try:
        return publish(organization_id, event_type, data, webhooks=webhooks)
    except Exception:
        logger.exception(
            "could not publish webhook event", extra={"eventType": event_type, "organizationId": organization_id}
        )
        return []


def publish_session_analysis(
    organization_id: str, session: Any, result: dict[str, Any] | None, analyzed_at: str | None
) -> list[str]:
    """session.analyzed for every stored analysis, and anomaly.detected when it found anomalies
    (nothing when the analysis was cleared)."""
    if result is None or analyzed_at is None:
        return []
    anomalies = result.get("anomalies") or []
    ids: dict[str, Any] = {
        "sessionId": session.sessionId,
        "chargingStationId": session.chargingStationId,
        "connectorId": session.connectorId,
        "evseId": session.evseId,
    }
    scores: dict[str, Any] = {
        key: result.get(key) for key in ("anomalyScore", "anomalyConfidence", "isIncident", "isRecurring")
    }
    try:  # one read of the organization's webhooks for both events
        webhooks = list(webhooks_dal.list_webhooks(organization_id))
    except Exception:
        logger.exception("could not list webhooks", extra={"organizationId": organization_id})
        return []
    delivered = _publish_safely(
        organization_id,
        SESSION_ANALYZED,
        webhooks=webhooks,
        data=SessionAnalyzedData(
            **ids,
            **scores,
            isAnomaly=bool(result.get("isAnomaly")),
            anomalyCount=len(anomalies),
            categories=sorted({anomaly["category"] for anomaly in anomalies}),
            analyzedAt=analyzed_at,
        ),
    )
    if anomalies:
        delivered += _publish_safely(
            organization_id,
            ANOMALY_DETECTED,
            webhooks=webhooks,
            data=AnomalyDetectedData(
                **ids,
                **scores,
                analyzedAt=analyzed_at,
                anomalies=[
                    AnomalySummary(
                        category=a["category"],
                        score=a.get("score"),
                        confidence=a.get("confidence"),
                        timeRange=a.get("timeRange"),
                    )
                    for a in anomalies
                ],
            ),
        )
    return delivered


def publish_batch_completed(organization_id: str, data: BatchCompletedData) -> list[str]:
    return _publish_safely(organization_id, "batch.completed", data)


def publish_station_anomaly_detected(organization_id: str, data: StationAnomalyDetectedData) -> list[str]:
    return _publish_safely(organization_id, "station.anomaly_detected", data)


def publish_issue_updated(organization_id: str, data: IssueUpdatedData) -> list[str]:
    return _publish_safely(organization_id, "issue.updated", data)


# --------------------------------------------------------------------------- the queue


def _sqs_client() -> Any:  # boto3's sqs client (boto3 ships no types)
    from chargewatch import aws

    return aws.client("sqs")


def _message(delivery: webhooks_dal.DeliveryItem, attempt: int, not_before: datetime) -> dict[str, Any]:
    return {
        "organizationId": delivery.organizationId,
        "webhookId": delivery.webhookId,
        "deliveryId": delivery.deliveryId,
        "attempt": attempt,
        "notBefore": math.ceil(not_before.timestamp()),
    }


def _enqueue(message: dict[str, Any], wait_seconds: float) -> None:
    settings = get_settings()
    if not settings.webhook_queue_url:
        raise ChargewatchError("WEBHOOK_QUEUE_URL is not configured")
    delay = min(math.ceil(max(wait_seconds, 0)), SQS_MAX_DELAY_SECONDS, settings.webhook_max_delay_seconds)
    _sqs_client().send_message(QueueUrl=settings.webhook_queue_url, MessageBody=json.dumps(message), DelaySeconds=delay)


def _enqueue_or_leave_to_sweeper(message: dict[str, Any], wait_seconds: float) -> None:
    """Queue an attempt whose delivery record is already written: if the send fails, the record
    stays pending and overdue, and the sweeper re-queues it (so the failure is only logged)."""
    try:
        _enqueue(message, wait_seconds)
    except Exception:
        logger.exception(
            "could not queue a webhook delivery attempt; the sweeper will re-queue it",
            extra={key: message[key] for key in ("organizationId", "webhookId", "deliveryId", "attempt")},
        )


def _dead_letter(message: dict[str, Any], reason: str) -> None:
    url = get_settings().webhook_dlq_url
    if not url:
        logger.warning("delivery exhausted; no WEBHOOK_DLQ_URL configured", extra=message)
        return
    _sqs_client().send_message(QueueUrl=url, MessageBody=json.dumps({**message, "reason": reason}))


# --------------------------------------------------------------------------- delivery


def process_delivery_message(message: dict[str, Any]) -> None:
    """One SQS message: wait more (chain), or run attempt `message["attempt"]` at most once."""
    organization_id, webhook_id = message["organizationId"], message["webhookId"]
    attempt = int(message["attempt"])
    delivery = webhooks_dal.get_delivery(organization_id, webhook_id, message["deliveryId"])
    if delivery is None or delivery.status != "pending":
        return  # webhook deleted, or already finished: nothing to do
    now = clock.now()
    remaining = float(message.get("notBefore", 0)) - now.timestamp()
    if remaining > 0:
        _enqueue(message, remaining)  # a wait longer than SQS's 15 minutes: the next link of the chain
        return
    if int(delivery.completedAttempts or 0) >= attempt:
        # a duplicate (redelivery, or a sweeper re-queue whose original arrived too): the attempt is
        # recorded and whoever recorded it queued the next one (or the sweeper will); dropping it
        # keeps a duplicate from living on as a second chain of messages
        return
    if int(delivery.attemptCount or 0) >= attempt:
        started = delivery.attemptStartedAt and clock.parse_iso(delivery.attemptStartedAt)
        if started and now - started < STALE_CLAIM:
            raise AttemptInProgress(delivery.deliveryId)
        webhook = webhooks_dal.get_webhook(organization_id, webhook_id)
        if webhook is not None:  # the invocation that claimed it died: the attempt failed
            _record_outcome(
                webhook,
                delivery,
                attempt,
                outbound.HttpOutcome(None, None, "attempt interrupted before its outcome was recorded", 0),
            )
        return
    if int(delivery.attemptCount or 0) != attempt - 1:
        return  # an out-of-date message
    webhook = webhooks_dal.get_webhook(organization_id, webhook_id)
    if webhook is None or not webhook.enabled:
        webhooks_dal.finish_without_attempt(
            delivery, error="webhook disabled" if webhook else "webhook deleted", completed_at=clock.iso_now()
        )
        return
    try:
        webhooks_dal.claim_attempt(delivery, attempt, clock.iso_now())
    except webhooks_dal.ClaimLost:
        raise AttemptInProgress(delivery.deliveryId) from None
    _record_outcome(webhook, delivery, attempt, _post(webhook, delivery))


def _post(webhook: webhooks_dal.WebhookItem, delivery: webhooks_dal.DeliveryItem) -> outbound.HttpOutcome:
    headers = signed_headers(webhook, delivery.deliveryId, delivery.payload, clock.now())
    return outbound.post(
        webhook.url,
        delivery.payload.encode(),
        headers,
        timeout_seconds=HTTP_TIMEOUT_SECONDS,
        allow_local_http=get_settings().webhook_allow_local_http,
    )


def _record_outcome(
    webhook: webhooks_dal.WebhookItem,
    delivery: webhooks_dal.DeliveryItem,
    attempt: int,
    outcome: outbound.HttpOutcome,
    *,
    bookkeeping: bool = True,
) -> None:
    now = clock.now()
    now_iso = clock.to_iso(now)
    succeeded = outcome.http_status is not None and 200 <= outcome.http_status < 300
    gone = outcome.http_status == 410
    body = outcome.body[:RESPONSE_BODY_LIMIT] if outcome.body else None
    changes: dict[str, Any] = {"httpStatus": outcome.http_status, "responseBody": body, "error": outcome.error}
    next_at = None
    if succeeded:
        changes.update(status="succeeded", completedAt=now_iso, nextAttemptAt=None)
    elif gone and bookkeeping:
        changes.update(
            status="failed",
            completedAt=now_iso,
            nextAttemptAt=None,
            error="endpoint answered 410 Gone: webhook disabled",
        )
    elif attempt >= MAX_ATTEMPTS or not bookkeeping:
        changes.update(status="failed", completedAt=now_iso, nextAttemptAt=None)
    else:
        next_at = now + timedelta(seconds=RETRY_DELAYS[attempt - 1])
        changes["nextAttemptAt"] = clock.to_iso(next_at)
    record = {
        "attempt": attempt,
        "at": delivery.attemptStartedAt or now_iso,
        "completedAt": now_iso,
        "httpStatus": outcome.http_status,
        "error": outcome.error,
        "durationMs": outcome.duration_ms,
    }
    try:
        webhooks_dal.record_attempt(delivery, attempt, record, changes)
    except webhooks_dal.ClaimLost:
        return  # recorded by another invocation
    if not succeeded:
        observability.count(observability.WEBHOOK_DELIVERY_FAILURES)
    if bookkeeping:
        _update_health(webhook, now, succeeded=succeeded, gone=gone, first_failure=attempt == 1)
    if next_at is not None:
        _enqueue_or_leave_to_sweeper(_message(delivery, attempt + 1, next_at), (next_at - now).total_seconds())
    elif delivery.status == "failed" and bookkeeping:
        _dead_letter(_message(delivery, attempt, now), delivery.error or f"HTTP {outcome.http_status}")


def _update_health(
    webhook: webhooks_dal.WebhookItem, now: datetime, *, succeeded: bool, gone: bool, first_failure: bool
) -> None:
    """failureCount counts consecutive failed deliveries (each once, at its first failed attempt);
    any success resets it. 410 disables at once; AUTO_DISABLE_AFTER of only failures disables too."""
    Item = webhooks_dal.WebhookItem
    now_iso = clock.to_iso(now)
    if succeeded:
        if webhook.failureCount or webhook.failingSince:
            webhooks_dal.update_webhook(webhook, [Item.failureCount.set(0), Item.failingSince.remove()])
        return
    actions: list[Action] = [Item.failingSince.set(Item.failingSince | now_iso)]
    if first_failure:
        actions.append(Item.failureCount.add(1))
    if webhooks_dal.update_webhook(webhook, actions) is None or not webhook.enabled:
        return
    reason = None
    if gone:
        reason = "endpoint answered 410 Gone"
    elif now - clock.parse_iso(webhook.failingSince) >= AUTO_DISABLE_AFTER:
        reason = f"every delivery attempt failed for {AUTO_DISABLE_AFTER.days} days"
    if reason:
        webhooks_dal.update_webhook(
            webhook,
            [
                Item.enabled.set(False),
                Item.disabledAt.set(now_iso),
                Item.disabledReason.set(reason),
                Item.updatedAt.set(now_iso),
            ],
            condition=Item.enabled == True,  # noqa: E712 (builds a DynamoDB condition, not a truth test)
        )


# --------------------------------------------------------------------------- the sweeper


def sweep_pending_deliveries(*, limit: int = SWEEP_BATCH) -> dict[str, int]:
    """Re-queue the current attempt of every pending delivery overdue by more than SWEEP_GRACE.

    Candidates come from the sparse pending index (no Scan); each is re-read within its own
    tenant's partition and taken with a conditional write before its message is sent, so two
    sweeps never both re-queue it and a delivery that moved on meanwhile is left alone."""
    now = clock.now()
    counts = {"overdue": 0, "requeued": 0, "skipped": 0, "errors": 0}
    for ref in webhooks_dal.overdue_pending(now - SWEEP_GRACE, limit):
        counts["overdue"] += 1
        try:
            counts["requeued" if _requeue(ref, now) else "skipped"] += 1
        except Exception:  # one bad delivery must not stop the sweep; it is found again next run
            counts["errors"] += 1
            logger.exception(
                "could not re-queue a webhook delivery",
                extra={"organizationId": ref.organizationId, "webhookId": ref.webhookId, "deliveryId": ref.deliveryId},
            )
    return counts


def _requeue(ref: webhooks_dal.PendingRef, now: datetime) -> bool:
    delivery = webhooks_dal.get_delivery(ref.organizationId, ref.webhookId, ref.deliveryId)
    if delivery is None or delivery.status != "pending" or delivery.GSI1SK != ref.dueKey:
        return False  # deleted, finished, or moved on since the (eventually consistent) index read
    sweeps = int(delivery.sweepCount or 0)
    # looked at again after SWEEP_GRACE, then 2x, 4x ... later, while its messages keep getting lost
    next_check = now + min(SWEEP_GRACE * (2 ** min(sweeps, 16) - 1), SWEEP_BACKOFF_MAX)
    if not webhooks_dal.postpone_sweep(delivery, ref.dueKey, next_check):
        return False
    attempt = int(delivery.completedAttempts or 0) + 1
    due = clock.parse_iso(delivery.nextAttemptAt) if delivery.nextAttemptAt else now
    _enqueue(_message(delivery, attempt, due), 0)
    logger.warning(
        "re-queued an overdue webhook delivery",
        extra={
            "organizationId": delivery.organizationId,
            "webhookId": delivery.webhookId,
            "deliveryId": delivery.deliveryId,
            "attempt": attempt,
            "nextAttemptAt": delivery.nextAttemptAt,
            "sweepCount": sweeps + 1,
        },
    )
    return True
