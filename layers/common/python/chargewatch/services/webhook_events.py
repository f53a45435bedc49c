"""Webhook events: publishing one stores a delivery record per subscribed, enabled webhook and
queues its first attempt (chargewatch.services.webhook_delivery runs the attempts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from chargewatch import clock, observability
from chargewatch.dal import webhooks as webhooks_dal
from chargewatch.schemas.webhooks import (
    ANOMALY_DETECTED,
    EVENT_TYPES,
    SESSION_ANALYZED,
    AnomalyDetectedData,
    AnomalySummary,
    BatchCompletedData,
    EventEnvelope,
    IssueUpdatedData,
    SessionAnalyzedData,
    StationAnomalyDetectedData,
)
from chargewatch.services import webhook_delivery

logger = observability.logger

DELIVERY_RETENTION = timedelta(days=30)


def envelope(organization_id: str, event_type: str, data: BaseModel | dict[str, Any]) -> tuple[str, str]:
    event_id = clock.new_id()
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    envelope = EventEnvelope(
        id=event_id, type=event_type, timestamp=clock.iso_now(), organizationId=organization_id, data=payload
    )
    return envelope.model_dump_json(), event_id


def new_delivery(
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
    body, event_id = envelope(organization_id, event_type, data)
    delivery_ids = []
    for webhook in subscribers:
        delivery = new_delivery(webhook, event_type, event_id, body)
        delivery_ids.append(delivery.deliveryId)
        webhook_delivery.enqueue_or_leave_to_sweeper(webhook_delivery.attempt_message(delivery, 1, clock.now()), 0)
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
