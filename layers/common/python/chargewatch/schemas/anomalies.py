"""Request and response models of /v1/anomalies and /v1/statistics (camelCase)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargewatch.pagination import Pagination

IssueStatus = Literal["OPEN", "IN_PROGRESS", "RESOLVED", "DISMISSED"]


class IssueRef(BaseModel):
    id: str
    statusName: str
    assignedTo: str | None = None


class AnomalyListItem(BaseModel):
    id: str
    anomalyType: str
    anomalyTypeId: str
    aiRiskScore: float
    connectorId: str | None = None
    chargingPointId: str
    ocppChargingStationId: str
    evseId: str | None = None
    chargingSessionId: str
    dateOfAnomalyOccurrence: str
    dateOfLastUpdate: str
    issues: list[IssueRef]


class AnomalyPage(BaseModel):
    content: list[AnomalyListItem]
    pagination: Pagination


class AnomalyTypeCount(BaseModel):
    type: str
    typeId: str
    count: int


class AnomalyConnector(BaseModel):
    id: str
    connectorId: str | None = None
    anomalyCount: int
    chargingPointId: str
    evseId: str | None = None
    detectionDate: str
    lastUpdate: str
    anomalyTypes: list[AnomalyTypeCount]


class AnomalyConnectorPage(BaseModel):
    content: list[AnomalyConnector]
    pagination: Pagination


class AnomalySession(BaseModel):
    id: str
    chargingSessionId: str
    anomalyCount: int
    detectionDate: str
    lastUpdate: str
    aiRiskScore: float
    anomalyTypes: list[AnomalyTypeCount]


class AnomalySessionPage(BaseModel):
    content: list[AnomalySession]
    pagination: Pagination


class UpdateIssueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: IssueStatus
    assignedTo: Annotated[str, Field(min_length=1, max_length=254)] | None = None
    reason: Annotated[str, Field(max_length=1000)] | None = None


class IssueResult(IssueRef):
    pass


class DetailMeterValue(BaseModel):
    timestamp: str
    energy: float | None = None
    stateOfCharge: float | None = None
    power: float | None = None
    soc: float | None = None


class AnomalyCategoryInfo(BaseModel):
    id: str
    name: str
    description: str | None = None
    maxScore: float | None = None


class RiskPoint(BaseModel):
    timestamp: str
    riskScore: float


class Period(BaseModel):
    start: str
    end: str


class AnomalyDetail(BaseModel):
    sessionId: str
    clientId: str
    connectorId: str | None = None
    chargingPointId: str
    ocppChargingStationId: str
    evseId: str | None = None
    detectionLevel: str
    meterValues: list[DetailMeterValue]
    currentRiskScore: float
    firstDetectionDate: str
    lastUpdateDate: str
    anomalyCategory: AnomalyCategoryInfo
    riskScoreTimeline: list[RiskPoint]
    anomalyPeriod: Period
    issues: list[IssueRef]


class Statistics(BaseModel):
    activeAnomaliesCount: int
    sessionsWithAnomaliesCount: int
    connectorsWithAnomaliesCount: int
    totalAnomaliesCount: int
    chargingStationsWithAnomaliesCount: int
    uptimePercentage: float
    uptimeDelta: float
    totalSessions: int
    totalRevenue: float
    revenueAtRisk: float
    revenueLeakEstimate: float
    currency: str
    pricePerKwh: float
