"""/v1/stations read side: everything comes from maintained aggregates (dal.stations)."""

from __future__ import annotations

from typing import Any

from chargewatch.dal import stations as stations_dal
from chargewatch.errors import NotFoundError
from chargewatch.pagination import Pagination
from chargewatch.schemas.stations import (
    ConnectorBreakdown,
    ConnectorSummary,
    StationConnectors,
    StationDetail,
    StationListItem,
    StationLookup,
    StationPage,
)


def _require(organization_id: str, station_id: str) -> stations_dal.StationItem:
    station = stations_dal.get_station(organization_id, station_id)
    if station is None:
        raise NotFoundError(f"station {station_id} not found", code="station_not_found")
    return station


def _list_item(station: stations_dal.StationItem) -> StationListItem:
    return StationListItem(
        id=station.id,
        ocppChargingStationId=station.chargingStationId,
        chargingStationId=station.chargingStationId,
        aiScore=None if station.lastAnomalyScore is None else round(float(station.lastAnomalyScore), 4),
        totalAnomalies=int(station.totalAnomalies or 0),
        lastAnomalyDate=station.lastAnomalyDate,
        totalSessions=int(station.totalSessions or 0),
        anomalousSessions=int(station.anomalousSessions or 0),
    )


def list_stations(organization_id: str, page: int, page_size: int) -> StationPage:
    """Stations in id order: the page's ids from the directory partition (offset + pageSize keys),
    their items by one BatchGetItem, totalCount from TOTALS.stationCount."""
    totals = stations_dal.totals(organization_id)
    ids = stations_dal.station_ids(organization_id, offset=page * page_size, limit=page_size)
    content = [_list_item(station) for station in stations_dal.get_stations(organization_id, ids)]
    total = int(totals.stationCount or 0) if totals is not None else 0
    return StationPage(content=content, pagination=Pagination(totalCount=total, page=page, size=page_size))


def lookup_station_ids(organization_id: str) -> StationLookup:
    """Every station id (the seed's dropdown has no paging): keys only, from the directory partition."""
    return StationLookup(items=stations_dal.station_ids(organization_id))


def backfill_tenant_counts(organization_id: str) -> dict[str, int]:
    """`chargewatch admin backfill-station-counts`: count data written before the counters existed."""
    return stations_dal.backfill_tenant(organization_id)


def _connector_summary(connector: stations_dal.ConnectorItem) -> dict[str, Any]:
    return {
        "connectorId": connector.connectorId,
        "totalSessions": int(connector.totalSessions or 0),
        "anomalousSessions": int(connector.anomalousSessions or 0),
        "evseId": connector.evseId,
    }


def get_station(organization_id: str, station_id: str) -> StationDetail:
    station = _require(organization_id, station_id)
    connectors = [
        ConnectorSummary(**_connector_summary(c)) for c in stations_dal.connectors_of(organization_id, station_id)
    ]
    return StationDetail(
        chargingStationId=station.chargingStationId,
        id=station.id,
        connectors=connectors,
        totalSessions=int(station.totalSessions or 0),
        anomalousSessions=int(station.anomalousSessions or 0),
        totalAnomalies=int(station.totalAnomalies or 0),
        lastAnomalyDate=station.lastAnomalyDate,
        metadata=station.metadata or {},
    )


def get_station_connectors(organization_id: str, station_id: str) -> StationConnectors:
    station = _require(organization_id, station_id)
    categories = stations_dal.connector_categories_of(organization_id, station_id)
    connectors = [
        ConnectorBreakdown(**_connector_summary(c), anomalyCategories=categories.get(c.connectorId, {}))
        for c in stations_dal.connectors_of(organization_id, station_id)
    ]
    return StationConnectors(chargingStationId=station.chargingStationId, connectors=connectors)
