"""/v1/anomalies and /v1/statistics: routes only. Logic in chargewatch.services.anomalies / statistics."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from chargewatch.params import AnomalyType, DateBound, schema_of
from chargewatch.schemas.anomalies import (
    AnomalyConnectorPage,
    AnomalyDetail,
    AnomalyPage,
    AnomalySessionPage,
    IssueResult,
    IssueStatus,
    Statistics,
    UpdateIssueRequest,
)
from chargewatch.services import anomalies, statistics
from chargewatch.services.sessions import parse_date_bound

app = create_app()

Page = Annotated[int, Query(ge=0, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
OptionalText = Annotated[str | None, Query(min_length=1, max_length=128)]
GroupSort = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        description="default lastUpdate",
        json_schema_extra=schema_of({"type": "string", "enum": sorted(anomalies.GROUP_SORTS)}),
    ),
]


def _date_filters(
    occurrence_from: str | None, occurrence_to: str | None, update_from: str | None = None, update_to: str | None = None
) -> dict:
    return {
        "occurrence_from": parse_date_bound(occurrence_from, "occurrenceFrom", end_of_day=False),
        "occurrence_to": parse_date_bound(occurrence_to, "occurrenceTo", end_of_day=True),
        "update_from": parse_date_bound(update_from, "updateFrom", end_of_day=False),
        "update_to": parse_date_bound(update_to, "updateTo", end_of_day=True),
    }


@app.get(
    "/v1/anomalies",
    summary="List Anomalies",
    tags=["anomalies"],
    description="Newest first by occurrence (sortByScore: highest score first). `pagination.totalCount` is "
    "exact. With no filter or only anomalyType it comes from counters kept with every write and a page reads "
    "only the anomalies up to its end, whatever the tenant holds; with any other filter, or sortByScore, "
    "every matching anomaly is read to count (and sort): narrow occurrenceFrom/occurrenceTo for large tenants.",
)
def list_anomalies(
    page: Page = 0,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,
    anomalyType: AnomalyType = None,
    connectorId: OptionalText = None,
    chargingSessionId: OptionalText = None,
    chargingPointId: OptionalText = None,
    evseId: OptionalText = None,
    occurrenceFrom: DateBound = None,
    occurrenceTo: DateBound = None,
    updateFrom: DateBound = None,
    updateTo: DateBound = None,
    sortByScore: Annotated[bool, Query()] = False,
    anomalyIssuesStatus: Annotated[IssueStatus | None, Query()] = None,
    assignedTo: OptionalText = None,
) -> AnomalyPage:
    filters = anomalies.AnomalyFilters(
        anomaly_type=anomalyType,
        connector_id=connectorId,
        session_id=chargingSessionId,
        station_id=chargingPointId,
        evse_id=evseId,
        issue_status=anomalyIssuesStatus,
        assigned_to=assignedTo,
        **_date_filters(occurrenceFrom, occurrenceTo, updateFrom, updateTo),
    )
    return anomalies.list_anomalies(current_tenant(app).organization_id, filters, page, pageSize, sortByScore)


@app.get("/v1/anomalies/connectors", summary="List Anomaly Connectors", tags=["anomalies"])
def list_anomaly_connectors(
    page: Page = 0,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,
    connectorId: OptionalText = None,
    anomalyType: AnomalyType = None,
    occurrenceFrom: DateBound = None,
    occurrenceTo: DateBound = None,
    sortBy: GroupSort = None,
) -> AnomalyConnectorPage:
    filters = anomalies.AnomalyFilters(
        anomaly_type=anomalyType, connector_id=connectorId, **_date_filters(occurrenceFrom, occurrenceTo)
    )
    return anomalies.list_anomaly_connectors(current_tenant(app).organization_id, filters, page, pageSize, sortBy)


@app.get("/v1/anomalies/sessions", summary="List Anomaly Sessions", tags=["anomalies"])
def list_anomaly_sessions(
    page: Page = 0,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,
    anomalyType: AnomalyType = None,
    chargingSessionId: OptionalText = None,
    occurrenceFrom: DateBound = None,
    occurrenceTo: DateBound = None,
    sortBy: GroupSort = None,
) -> AnomalySessionPage:
    filters = anomalies.AnomalyFilters(
        anomaly_type=anomalyType, session_id=chargingSessionId, **_date_filters(occurrenceFrom, occurrenceTo)
    )
    return anomalies.list_anomaly_sessions(current_tenant(app).organization_id, filters, page, pageSize, sortBy)


@app.patch("/v1/anomalies/issues/<issue_id>", summary="Update Issue", tags=["anomalies"])
def update_issue(
    issue_id: Annotated[str, Path(min_length=1, max_length=64)], body: Annotated[UpdateIssueRequest, Body()]
) -> IssueResult:
    tenant = current_tenant(app)
    return anomalies.update_issue(
        tenant.organization_id, issue_id, body, actor=f"{tenant.principal_type}:{tenant.key_id}"
    )


@app.get(
    "/v1/anomalies/sessions/<session_id>/categories/<category_id>/details",
    summary="Get Anomaly Detail",
    tags=["anomalies"],
)
def get_anomaly_detail(
    session_id: Annotated[str, Path(min_length=1, max_length=128)],
    category_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> AnomalyDetail:
    return anomalies.get_anomaly_detail(current_tenant(app).organization_id, session_id, category_id)


@app.get("/v1/statistics", summary="Get Statistics", tags=["statistics"])
def get_statistics() -> Statistics:
    return statistics.get_statistics(current_tenant(app).organization_id)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, event, context)
