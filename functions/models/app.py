"""/v1/models and /v1/models/fine-tune: routes only. Logic lives in chargewatch.services.models."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.schemas.models import (
    FineTuneCreated,
    FineTuneJob,
    FineTuneRequest,
    ModelDetail,
    ModelList,
    UpdateModelRequest,
)
from chargewatch.services import models
from chargewatch.tenancy import require_admin

app = create_app()

ModelId = Annotated[str, Path(min_length=1, max_length=64)]
# shade-1 runs per station-day and cannot be switched: the contract says so, the service answers 400
ActivatableModelId = Annotated[
    str, Path(min_length=1, max_length=64, json_schema_extra={"not": {"const": models.SHADE_MODEL_ID}})
]
JobId = Annotated[str, Path(min_length=1, max_length=64)]


@app.get(
    "/v1/models",
    summary="List Models",
    tags=["models"],
    description="List available models: base SaaS models + tenant's fine-tuned models.",
)
def list_models() -> ModelList:
    return models.list_models(current_tenant(app).organization_id)


@app.post(
    "/v1/models/fine-tune",
    summary="Start Fine Tune",
    tags=["models"],
    description="Trigger model fine-tuning. Client specifies base model and training data source "
    "(previously submitted sessions or direct upload). Owners and admins only (403 insufficient_privilege).",
)
def start_fine_tune(body: Annotated[FineTuneRequest, Body()]) -> FineTuneCreated:
    tenant = current_tenant(app)
    require_admin(tenant)  # trains a model for the whole organization, on its data
    return models.create_fine_tune(tenant.organization_id, body)


@app.get(
    "/v1/models/fine-tune/<job_id>",
    summary="Get Fine Tune Status",
    tags=["models"],
    description="Get fine-tuning job status and progress.",
)
def get_fine_tune(job_id: JobId) -> FineTuneJob:
    return models.get_fine_tune(current_tenant(app).organization_id, job_id)


@app.get(
    "/v1/models/<model_id>",
    summary="Get Model Detail",
    tags=["models"],
    description="Get model details: version, metrics, training date.",
)
def get_model(model_id: ModelId) -> ModelDetail:
    return models.get_model(current_tenant(app).organization_id, model_id)


@app.patch(
    "/v1/models/<model_id>",
    summary="Activate Model",
    tags=["models"],
    description="`active: true` makes later analyses of this tenant (single, PATCH/PUT, batch) use the model; "
    "`active: false` returns to the base model. Owners and admins only (403 insufficient_privilege).",
)
def update_model(model_id: ActivatableModelId, body: Annotated[UpdateModelRequest, Body()]) -> ModelDetail:
    tenant = current_tenant(app)
    require_admin(tenant)  # the active model changes every later analysis of the organization
    return models.set_model_active(tenant.organization_id, model_id, body.active)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, event, context)
