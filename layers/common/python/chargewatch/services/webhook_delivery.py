"""Webhook delivery through SQS: attempts, retries, health and the sweeper.

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

import json
import math
from datetime import datetime, timedelta
from typing import Any

from chargewatch import clock, observability, outbound
from chargewatch.dal import webhooks as webhooks_dal
from chargewatch.dal.table import Action
from chargewatch.errors import ChargewatchError
from chargewatch.services import webhook_signing
from chargewatch.settings import get_settings

logger = observability.logger

# Delay before attempt n+1 after attempt n failed; attempt 1 is immediate.
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
SQS_MAX_DELAY_SECONDS = 900
AUTO_DISABLE_AFTER = timedelta(days=5)
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


class AttemptInProgress(Exception):
    """Another invocation holds this attempt; the message is retried later (batch item failure)."""


# --------------------------------------------------------------------------- the queue


def _sqs_client() -> Any:  # boto3's sqs client (boto3 ships no types)
    from chargewatch import aws

    return aws.client("sqs")


def attempt_message(delivery: webhooks_dal.DeliveryItem, attempt: int, not_before: datetime) -> dict[str, Any]:
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


def enqueue_or_leave_to_sweeper(message: dict[str, Any], wait_seconds: float) -> None:
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
            record_outcome(
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
    record_outcome(webhook, delivery, attempt, post(webhook, delivery))


def post(webhook: webhooks_dal.WebhookItem, delivery: webhooks_dal.DeliveryItem) -> outbound.HttpOutcome:
    headers = webhook_signing.signed_headers(webhook, delivery.deliveryId, delivery.payload, clock.now())
    return outbound.post(
        webhook.url,
        delivery.payload.encode(),
        headers,
        timeout_seconds=HTTP_TIMEOUT_SECONDS,
        allow_local_http=get_settings().webhook_allow_local_http,
    )


def record_outcome(
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
        enqueue_or_leave_to_sweeper(attempt_message(delivery, attempt + 1, next_at), (next_at - now).total_seconds())
    elif delivery.status == "failed" and bookkeeping:
        _dead_letter(attempt_message(delivery, attempt, now), delivery.error or f"HTTP {outcome.http_status}")


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
    _enqueue(attempt_message(delivery, attempt, due), 0)
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
