"""/v1/sessions/{session_id}/ask and /explain: routes only. Logic lives in chargewatch.services.explain.

A function of its own (not SessionsFunction) so the sessions handler's cold start stays small."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.params import ChargingSessionId
from chargewatch.schemas.explain import LANGUAGE_SCHEMA, AskRequest, AskResponse, ExplainRequest, ExplainResponse
from chargewatch.services import explain

app = create_app()


@app.post(
    "/v1/sessions/<session_id>/ask",
    summary="Ask Session",
    tags=["explain"],
    description="Ask a natural language question about a specific session.",
)
def ask_session(session_id: ChargingSessionId, body: Annotated[AskRequest, Body()]) -> AskResponse:
    return explain.ask(current_tenant(app).organization_id, session_id, body)


@app.get(
    "/v1/sessions/<session_id>/explain",
    summary="Get Session Explanation",
    tags=["explain"],
    description="Return cached LLM explanation if available (404 when there is none).",
)
def get_session_explanation(
    session_id: ChargingSessionId,
    lang: Annotated[str, Query(max_length=8, description="en, nl or de", json_schema_extra=LANGUAGE_SCHEMA)] = "en",
) -> ExplainResponse:
    return explain.get_explanation(current_tenant(app).organization_id, session_id, lang)


@app.post(
    "/v1/sessions/<session_id>/explain",
    summary="Explain Session",
    tags=["explain"],
    description="Get an LLM-generated explanation of session anomalies (cached per analysis and language; "
    "`regenerate: true` makes a new one).",
)
def explain_session(session_id: ChargingSessionId, body: Annotated[ExplainRequest, Body()] = None) -> ExplainResponse:
    return explain.explain(current_tenant(app).organization_id, session_id, body or ExplainRequest())


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, event, context)
