"""Response models of the SHADE station endpoints (camelCase; detectionDetails keys
are snake_case as in the seed's example) and the queue message of the station-day fan-out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from chargewatch.pagination import Pagination


class StationAnomaly(BaseModel):
    inferenceId: str
    isAnomaly: bool
    anomalyScore: float
    detectionDetails: dict[str, Any]
    analyzedAt: str


class StationAnomalyPage(BaseModel):
    content: list[StationAnomaly]
    pagination: Pagination


class EnergyPoint(BaseModel):
    timestamp: str
    energy: float


class ConnectorEnergy(BaseModel):
    connectorId: str
    energy: list[EnergyPoint]


class StationEnergy(BaseModel):
    chargingStationId: str
    energyDelivered: float
    energyConsumptionStation: list[EnergyPoint]
    energyConsumptionConnectors: list[ConnectorEnergy]
    anomalyOccurrences: list[str]


class StationInference(BaseModel):
    chargingStationId: str
    isAnomaly: bool
    anomalyScore: float
    detectionDetails: dict[str, Any]
    analyzedAt: str


class CumulativePoint(BaseModel):
    timestamp: str
    cumulativeKwh: float


class AnomalyMarker(BaseModel):
    startMinute: int
    timestamp: str
    score: float


class ShadeOverview(BaseModel):
    chargingStationId: str
    dayScore: float
    isAnomaly: bool
    energyTimeline: list[CumulativePoint]
    anomalyMarkers: list[AnomalyMarker]
    analyzedAt: str


class ShadeWorkMessage(BaseModel):
    """One message of ShadeQueue: expand a tenant into station groups, or analyse a group."""

    kind: Literal["tenant", "stations"]
    organizationId: str = Field(min_length=1)
    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    stationIds: list[str] = Field(default_factory=list, max_length=100)
