"""Response models of /v1/stations (camelCase)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from chargewatch.pagination import Pagination


class StationListItem(BaseModel):
    id: str
    ocppChargingStationId: str
    chargingStationId: str
    aiScore: float | None = None
    totalAnomalies: int = 0
    lastAnomalyDate: str | None = None
    totalSessions: int = 0
    anomalousSessions: int = 0


class StationPage(BaseModel):
    content: list[StationListItem]
    pagination: Pagination


class ConnectorSummary(BaseModel):
    connectorId: str
    totalSessions: int
    anomalousSessions: int
    evseId: str | None = None


class StationDetail(BaseModel):
    chargingStationId: str
    id: str | None = None
    connectors: list[ConnectorSummary]
    totalSessions: int
    anomalousSessions: int
    totalAnomalies: int = 0
    lastAnomalyDate: str | None = None
    metadata: dict[str, Any] | None = None


class ConnectorBreakdown(ConnectorSummary):
    anomalyCategories: dict[str, int]


class StationConnectors(BaseModel):
    chargingStationId: str
    connectors: list[ConnectorBreakdown]


class StationLookup(BaseModel):
    items: list[str]
