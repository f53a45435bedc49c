"""/v1/sessions: routes only. Logic lives in chargewatch.services.sessions."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.params import ChargingSessionId, DateBound
from chargewatch.schemas.batches import BatchStatusResponse, BatchSubmitted, SubmitBatchRequest
from chargewatch.schemas.sessions import (
    AppendSessionRequest,
    CreateSessionRequest,
    ReplaceSessionRequest,
    SessionDetail,
    SessionPage,
    SessionResult,
)
from chargewatch.services import batches, sessions

app = create_app()

BatchId = Annotated[str, Path(min_length=1, max_length=64)]


@app.get(
    "/v1/sessions",
    summary="List Sessions",
    tags=["sessions"],
    description="Newest first by session start. `pagination.totalCount` is exact. With no filter, "
    "chargingStationId, isAnomaly or both, it comes from counters kept with every write and a page reads "
    "only the sessions up to its end, whatever the tenant holds (with isAnomaly, also the non-matching "
    "sessions between them). With dateFrom, dateTo, evseId, minScore or minConfidence it is counted by "
    "reading every matching session: narrow the range for large tenants.",
)
def list_sessions(
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
    pageSize: Annotated[int, Query(ge=1, le=100)] = 20,
    chargingStationId: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    evseId: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    isAnomaly: Annotated[bool | None, Query()] = None,
    minScore: Annotated[float | None, Query(ge=0, le=1)] = None,
    minConfidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    dateFrom: DateBound = None,
    dateTo: DateBound = None,
) -> SessionPage:
    filters = sessions.SessionFilters(
        page=page,
        page_size=pageSize,
        charging_station_id=chargingStationId,
        evse_id=evseId,
        is_anomaly=isAnomaly,
        min_score=minScore,
        min_confidence=minConfidence,
        date_from=sessions.parse_date_bound(dateFrom, "dateFrom", end_of_day=False),
        date_to=sessions.parse_date_bound(dateTo, "dateTo", end_of_day=True),
    )
    return sessions.list_sessions(current_tenant(app).organization_id, filters)


@app.post("/v1/sessions", summary="Create Session", tags=["sessions"])
def create_session(body: Annotated[CreateSessionRequest, Body()]) -> SessionResult:
    return sessions.create_session(current_tenant(app).organization_id, body)


# The batch routes come before /v1/sessions/<session_id>: a literal segment wins, as in API Gateway.
@app.post(
    "/v1/sessions/batch",
    summary="Submit Batch",
    tags=["sessions"],
    description="Validate every session (an invalid one is reported by index, nothing is stored), store the "
    "batch and enqueue its analysis. Poll GET /v1/sessions/batch/{batch_id}. Bodies are limited "
    "to 6 MB: send larger files as several batches (`chargewatch upload` does).",
)
def submit_batch(body: Annotated[SubmitBatchRequest, Body()]) -> BatchSubmitted:
    return batches.submit_batch(current_tenant(app).organization_id, body)


@app.get("/v1/sessions/batch/<batch_id>", summary="Get Batch Status", tags=["sessions"])
def get_batch(
    batch_id: BatchId,
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
    pageSize: Annotated[int, Query(ge=1, le=100)] = 20,
) -> BatchStatusResponse:
    return batches.get_batch(current_tenant(app).organization_id, batch_id, page, pageSize)


@app.get("/v1/sessions/<session_id>", summary="Get Session Detail", tags=["sessions"])
def get_session(session_id: ChargingSessionId) -> SessionDetail:
    return sessions.get_session(current_tenant(app).organization_id, session_id)


@app.put("/v1/sessions/<session_id>", summary="Replace Session", tags=["sessions"])
def replace_session(session_id: ChargingSessionId, body: Annotated[ReplaceSessionRequest, Body()]) -> SessionResult:
    return sessions.replace_session(current_tenant(app).organization_id, session_id, body)


@app.patch("/v1/sessions/<session_id>", summary="Update Session", tags=["sessions"])
def append_session(session_id: ChargingSessionId, body: Annotated[AppendSessionRequest, Body()]) -> SessionResult:
    return sessions.append_session(current_tenant(app).organization_id, session_id, body)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, event, context)
