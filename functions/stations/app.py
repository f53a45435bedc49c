"""/v1/stations: routes only. Logic lives in chargewatch.services.stations."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from chargewatch.params import schema_of
from chargewatch.schemas.shade import ShadeOverview, StationAnomalyPage, StationEnergy, StationInference
from chargewatch.schemas.stations import StationConnectors, StationDetail, StationLookup, StationPage
from chargewatch.services import shade, stations

app = create_app()

StationId = Annotated[str, Path(min_length=1, max_length=128)]
Day = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="UTC day (YYYY-MM-DD); default: the latest analysed",
        json_schema_extra=schema_of({"type": "string", "format": "date"}),  # a calendar date, as checked
    ),
]


@app.get("/v1/stations", summary="List Stations", tags=["stations"])
def list_stations(
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
    pageSize: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> StationPage:
    return stations.list_stations(current_tenant(app).organization_id, page, pageSize)


@app.get("/v1/stations/lookup", summary="Lookup Station Ids", tags=["stations"])
def lookup_stations() -> StationLookup:
    return stations.lookup_station_ids(current_tenant(app).organization_id)


@app.get("/v1/stations/<charging_station_id>", summary="Get Station Detail", tags=["stations"])
def get_station(charging_station_id: StationId) -> StationDetail:
    return stations.get_station(current_tenant(app).organization_id, charging_station_id)


@app.get("/v1/stations/<charging_station_id>/connectors", summary="Get Station Connectors", tags=["stations"])
def get_station_connectors(charging_station_id: StationId) -> StationConnectors:
    return stations.get_station_connectors(current_tenant(app).organization_id, charging_station_id)


@app.get("/v1/stations/<charging_station_id>/anomalies", summary="List Station Anomalies", tags=["stations"])
def list_station_anomalies(
    charging_station_id: StationId,
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
    pageSize: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> StationAnomalyPage:
    return shade.list_station_anomalies(current_tenant(app).organization_id, charging_station_id, page, pageSize)


@app.get("/v1/stations/<charging_station_id>/energy", summary="Get Station Energy", tags=["stations"])
def get_station_energy(charging_station_id: StationId, date: Day = None) -> StationEnergy:
    return shade.get_station_energy(current_tenant(app).organization_id, charging_station_id, date)


@app.get("/v1/stations/<charging_station_id>/inference", summary="Get Station Inference", tags=["stations"])
def get_station_inference(charging_station_id: StationId) -> StationInference:
    return shade.get_station_inference(current_tenant(app).organization_id, charging_station_id)


@app.get("/v1/stations/<charging_station_id>/shade-overview", summary="Get Shade Overview", tags=["stations"])
def get_shade_overview(charging_station_id: StationId, date: Day = None) -> ShadeOverview:
    return shade.get_shade_overview(current_tenant(app).organization_id, charging_station_id, date)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, event, context)
