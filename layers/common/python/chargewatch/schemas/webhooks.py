"""Request, response and event-payload models of /v1/webhooks (camelCase)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chargewatch import limits
from chargewatch.pagination import Pagination

# Every event a webhook can subscribe to; docs/webhooks.md has an example payload of each.
SESSION_ANALYZED = "session.analyzed"
ANOMALY_DETECTED = "anomaly.detected"
ISSUE_UPDATED = "issue.updated"
BATCH_COMPLETED = "batch.completed"
STATION_ANOMALY_DETECTED = "station.anomaly_detected"
WEBHOOK_TEST = "webhook.test"
EVENT_TYPES = (
    SESSION_ANALYZED,
    ANOMALY_DETECTED,
    ISSUE_UPDATED,
    BATCH_COMPLETED,
    STATION_ANOMALY_DETECTED,
    WEBHOOK_TEST,
)

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.MAX_URL_LENGTH,
        pattern=limits.WEBHOOK_URL_PATTERN,
        examples=["https://hooks.example.com/chargewatch"],
    ),
]
Description = Annotated[str, Field(max_length=500)]


def _known_events(events: list[str] | None) -> list[str] | None:
    if events is None:
        return None
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type(s) {', '.join(map(repr, unknown))}; known: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(events))  # duplicates collapse, order kept


EventList = Annotated[
    list[str],
    Field(
        min_length=1,
        max_length=len(EVENT_TYPES) * 2,
        examples=[[SESSION_ANALYZED, ANOMALY_DETECTED]],
        json_schema_extra={"items": {"type": "string", "enum": list(EVENT_TYPES)}},  # as _known_events checks
    ),
]


class CreateWebhookRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: Url
    events: EventList
    description: Description | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str] | None) -> list[str] | None:
        return _known_events(events)


class UpdateWebhookRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: Url | None = None
    events: EventList | None = None
    description: Description | None = None
    enabled: bool | None = Field(default=None, strict=True)

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str] | None) -> list[str] | None:
        return _known_events(events)


class Webhook(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    failureCount: int
    disabledAt: str | None = None
    disabledReason: str | None = None
    createdAt: str
    updatedAt: str


class WebhookWithSecret(Webhook):
    secret: str = Field(description="whsec_... signing secret; shown only in this response")


class WebhookDelivery(BaseModel):
    id: str
    eventType: str
    status: str = Field(description="pending | succeeded | failed")
    httpStatus: int | None = None
    attemptCount: int
    createdAt: str
    completedAt: str | None = None
    nextAttemptAt: str | None = None
    error: str | None = None
    responseBody: str | None = Field(default=None, description="first 1,024 characters of the last response")


class WebhookDetail(Webhook):
    recentDeliveries: list[WebhookDelivery]


class WebhookPage(BaseModel):
    content: list[Webhook]
    pagination: Pagination


class WebhookDeleted(BaseModel):
    id: str
    deleted: bool
    deliveriesDeleted: int


class WebhookTestResult(BaseModel):
    success: bool
    deliveryId: str
    eventType: str
    status: str
    httpStatus: int | None = None
    durationMs: int
    error: str | None = None
    responseBody: str | None = None


# ------------------------------------------------------------------ event payloads (the `data` object)


class EventEnvelope(BaseModel):
    """The body of every delivery (Standard Webhooks: type, timestamp, data)."""

    id: str
    type: str
    timestamp: str
    organizationId: str
    data: dict[str, Any]


class AnomalySummary(BaseModel):
    category: str
    score: float | None = None
    confidence: float | None = None
    timeRange: dict[str, Any] | None = None


class SessionAnalyzedData(BaseModel):
    sessionId: str
    chargingStationId: str
    connectorId: str | None = None
    evseId: str | None = None
    isAnomaly: bool
    anomalyScore: float | None = None
    anomalyConfidence: float | None = None
    anomalyCount: int
    isIncident: bool | None = None
    isRecurring: bool | None = None
    categories: list[str]
    analyzedAt: str


class AnomalyDetectedData(BaseModel):
    sessionId: str
    chargingStationId: str
    connectorId: str | None = None
    evseId: str | None = None
    anomalyScore: float | None = None
    anomalyConfidence: float | None = None
    isIncident: bool | None = None
    isRecurring: bool | None = None
    anomalies: list[AnomalySummary]
    analyzedAt: str


class BatchCompletedData(BaseModel):
    batchId: str
    status: str
    totalSessions: int
    analyzedSessions: int
    failedSessions: int
    anomalousSessions: int
    completedAt: str


class StationAnomalyDetectedData(BaseModel):
    chargingStationId: str
    date: str = Field(description="the station-day (YYYY-MM-DD, station local date)")
    dayScore: float
    anomalyMarkers: list[dict[str, Any]]
    analyzedAt: str


class IssueUpdatedData(BaseModel):
    issueId: str
    category: str
    chargingStationId: str
    connectorId: str | None = None
    status: str
    previousStatus: str | None = None
    updatedAt: str


class WebhookTestData(BaseModel):
    webhookId: str
    message: str
