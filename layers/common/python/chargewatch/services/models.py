"""Models: the base engine models every tenant sees, the tenant's fine-tuned ones, which one is
active, and fine-tune jobs (create, status, the worker's state machine).

A model is a versioned parameter set of the engine (csar.CsarParams). The active model of a
tenant is what every later analysis of that tenant uses — single requests (services.sessions),
PATCH/PUT re-analyses and batch work — through `active_model(org)` / `active_params(org)`.
Training itself lives in chargewatch.services.fine_tune (loaded by the worker only).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chargewatch import aws, clock, observability
from chargewatch.dal import models as models_dal
from chargewatch.errors import NotFoundError, ValidationError
from chargewatch.schemas.models import (
    FineTuneCreated,
    FineTuneJob,
    FineTuneRequest,
    ModelDetail,
    ModelList,
    ModelSummary,
)
from chargewatch.settings import get_settings

if TYPE_CHECKING:
    from chargewatch.schemas.models import TrainingConfig
    from csar import CsarParams, SessionAnalysis

logger = observability.logger

CSAR_MODEL_ID = "csar-2"
SHADE_MODEL_ID = "shade-1"
BASE_RELEASED_AT = "2026-01-01T00:00:00Z"
BASE_MODELS: dict[str, dict[str, str]] = {
    CSAR_MODEL_ID: {
        "name": "CSAR-2",
        "type": "csar_2",
        "description": "Per-session anomaly engine: twelve categories over a session's meter values (docs/engine.md).",
    },
    SHADE_MODEL_ID: {
        "name": "SHADE",
        "type": "shade_1",
        "description": "Per-station-day engine: 15-minute buckets against the same weekday of past weeks.",
    },
}
FINE_TUNABLE_TYPES = ("csar_2",)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
UPLOAD_URL_SECONDS = 3600
UPLOAD_POLL_SECONDS = 10  # how often a queued upload job looks for its upload
# A job whose worker died mid-run (Lambda timeout) may be claimed again after this long.
STALE_RUN = timedelta(minutes=20)
ACTIVE, AVAILABLE = "active", "available"


# --------------------------------------------------------------------------- the active model


@dataclass(frozen=True)
class ActiveModel:
    model_id: str
    model_version: str
    params: CsarParams

    def stamp(self, result: SessionAnalysis) -> SessionAnalysis:
        """Record on a csar.SessionAnalysis which model produced it (stored on the AnalysisItem)."""
        result.model_id, result.model_version = self.model_id, self.model_version
        return result


def _base_version(model_id: str) -> str:
    import csar  # numpy: only routes that list or run models pay for it

    if model_id == SHADE_MODEL_ID:
        return str(getattr(csar.shade, "MODEL_VERSION", "1.0.0"))
    return str(csar.MODEL_VERSION)


def active_model(organization_id: str) -> ActiveModel:
    """The model the tenant's analyses use now: its fine-tuned model when one is active, else CSAR-2."""
    import csar

    active = models_dal.get_active(organization_id)
    if active is None or active.modelId == CSAR_MODEL_ID:
        return ActiveModel(csar.MODEL_ID, str(csar.MODEL_VERSION), csar.DEFAULT_PARAMS)
    return ActiveModel(active.modelId, active.modelVersion, csar.CsarParams.from_dict(active.params))


def active_params(organization_id: str) -> CsarParams:
    """csar.CsarParams of the tenant's active model (pass to csar.analyze_session/analyze_batch)."""
    return active_model(organization_id).params


def _active_id(organization_id: str) -> str:
    active = models_dal.get_active(organization_id)
    return active.modelId if active is not None else CSAR_MODEL_ID


# --------------------------------------------------------------------------- listing


def _base_model(model_id: str, active_id: str) -> dict[str, Any]:
    info = BASE_MODELS[model_id]
    status = ACTIVE if model_id == active_id else AVAILABLE
    if model_id == SHADE_MODEL_ID:
        status = ACTIVE  # station-day analysis always runs the base SHADE model
    return {
        "id": model_id,
        "name": info["name"],
        "type": info["type"],
        "version": _base_version(model_id),
        "isBase": True,
        "baseModel": None,
        "metrics": None,
        "status": status,
        "createdAt": BASE_RELEASED_AT,
        "s3Path": None,
        "description": info["description"],
    }


def _tenant_model(item: models_dal.ModelItem, active_id: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "type": item.type,
        "version": item.version,
        "isBase": False,
        "baseModel": item.baseModel,
        "metrics": item.metrics,
        "status": ACTIVE if item.id == active_id else AVAILABLE,
        "createdAt": item.createdAt,
        "s3Path": item.s3Path,
        "description": item.description,
    }


def list_models(organization_id: str) -> ModelList:
    active_id = _active_id(organization_id)
    models = [_base_model(model_id, active_id) for model_id in BASE_MODELS]
    models += [_tenant_model(item, active_id) for item in models_dal.list_models(organization_id)]
    return ModelList(models=[ModelSummary.model_validate(model) for model in models])


def _require_model(organization_id: str, model_id: str) -> models_dal.ModelItem:
    item = models_dal.get_model(organization_id, model_id)
    if item is None:
        raise NotFoundError(f"model {model_id} not found", code="model_not_found")
    return item


def get_model(organization_id: str, model_id: str) -> ModelDetail:
    active_id = _active_id(organization_id)
    if model_id in BASE_MODELS:
        return ModelDetail.model_validate(_base_model(model_id, active_id))
    return ModelDetail.model_validate(_tenant_model(_require_model(organization_id, model_id), active_id))


def set_model_active(organization_id: str, model_id: str, active: bool) -> ModelDetail:
    """PATCH /v1/models/{id}: activate a model for this tenant only (or fall back to CSAR-2)."""
    if model_id == SHADE_MODEL_ID:
        raise ValidationError(
            "shade-1 runs per station-day and is always active; it cannot be switched",
            code="model_not_activatable",
            details=[{"field": "model_id", "message": "shade-1"}],
        )
    now = clock.iso_now()
    if model_id == CSAR_MODEL_ID:
        if active:
            models_dal.set_active(organization_id, CSAR_MODEL_ID, _base_version(CSAR_MODEL_ID), None, now)
        # deactivating the base model leaves nothing else active: it stays the default
        return get_model(organization_id, model_id)
    item = _require_model(organization_id, model_id)
    if active:
        models_dal.set_active(organization_id, item.id, item.version, item.params, now)
    else:
        models_dal.clear_active(organization_id, item.id)
    return get_model(organization_id, model_id)


# --------------------------------------------------------------------------- fine-tune jobs


def upload_key(organization_id: str, job_id: str) -> str:
    return f"fine-tune/{organization_id}/{job_id}.jsonl"


def base_params_for(organization_id: str, base_model_id: str) -> dict[str, Any] | None:
    """The parameters fine-tuning starts from (None = CSAR-2 defaults); 400 for anything else."""
    if base_model_id == CSAR_MODEL_ID:
        return None
    if base_model_id in BASE_MODELS:
        raise ValidationError(
            f"{base_model_id} cannot be fine-tuned; fine-tune {CSAR_MODEL_ID} or a model derived from it",
            code="fine_tune_not_supported",
            details=[{"field": "baseModelId", "message": "not fine-tunable"}],
        )
    item = models_dal.get_model(organization_id, base_model_id)
    if item is None or item.type not in FINE_TUNABLE_TYPES:
        raise ValidationError(
            f"baseModelId: unknown model {base_model_id!r}",
            code="unknown_base_model",
            details=[{"field": "baseModelId", "message": "unknown model"}],
        )
    params: dict[str, Any] | None = item.params  # a JSON attribute
    return params


def create_fine_tune(organization_id: str, request: FineTuneRequest) -> FineTuneCreated:
    settings = get_settings()
    base_params_for(organization_id, request.baseModelId)
    if request.dataSource.type == "upload" and request.dataSource.sessionFilter is not None:
        raise ValidationError.for_field("dataSource.sessionFilter", "only for dataSource.type 'sessions'")
    if not settings.fine_tune_queue_url or not settings.payload_bucket:
        raise RuntimeError("FINE_TUNE_QUEUE_URL and PAYLOAD_BUCKET must be configured")
    job_id = clock.new_sortable_id()
    now = clock.iso_now()
    config = {
        "name": request.name,
        "trainingConfig": (request.trainingConfig or _default_training()).model_dump(),
        "dataSource": request.dataSource.model_dump(mode="json", exclude_none=True),
    }
    created = {"jobId": job_id, "status": QUEUED, "baseModelId": request.baseModelId, "createdAt": now}
    key = None
    if request.dataSource.type == "upload":
        key = upload_key(organization_id, job_id)
        created["uploadUrl"] = aws.presigned_put_url(str(settings.payload_bucket), key, UPLOAD_URL_SECONDS)
        created["uploadExpiresAt"] = clock.to_iso(clock.now() + timedelta(seconds=UPLOAD_URL_SECONDS))
    models_dal.put_job(
        organization_id,
        job_id,
        name=request.name,
        status=QUEUED,
        baseModelId=request.baseModelId,
        config=config,
        uploadKey=key,
        createdAt=now,
    )
    aws.client("sqs").send_message(
        QueueUrl=settings.fine_tune_queue_url,
        MessageBody=json.dumps({"organizationId": organization_id, "jobId": job_id}),
    )
    return FineTuneCreated.model_validate(created)


def _default_training() -> TrainingConfig:

    from chargewatch.schemas.models import TrainingConfig

    return TrainingConfig()


def _job_out(job: models_dal.FineTuneJobItem) -> FineTuneJob:
    return FineTuneJob(
        jobId=job.jobId,
        status=job.status,
        baseModelId=job.baseModelId,
        resultModelId=job.resultModelId,
        config=job.config,
        createdAt=job.createdAt,
        startedAt=job.startedAt,
        completedAt=job.completedAt,
        errorMessage=job.errorMessage,
        metrics=job.metrics,
    )


def get_fine_tune(organization_id: str, job_id: str) -> FineTuneJob:
    job = models_dal.get_job(organization_id, job_id)
    if job is None:
        raise NotFoundError(f"fine-tune job {job_id} not found", code="fine_tune_job_not_found")
    return _job_out(job)


# --------------------------------------------------------------------------- the worker


def _fail(job: models_dal.FineTuneJobItem, message: str, metrics: dict[str, Any] | None = None) -> None:
    models_dal.transition_job(
        job, (RUNNING,), {"status": FAILED, "errorMessage": message, "metrics": metrics, "completedAt": clock.iso_now()}
    )


def _look_again_later(message: dict[str, Any], seconds_left: float) -> None:
    """The upload has not arrived yet: a new, delayed message (not a failed receive, which would
    count towards the dead-letter queue and log a traceback every time); the job stays `queued`
    until its upload arrives or the upload URL expires (then `failed`)."""
    delay = int(min(UPLOAD_POLL_SECONDS, max(seconds_left, 0) + 1))
    aws.client("sqs").send_message(
        QueueUrl=get_settings().fine_tune_queue_url, MessageBody=json.dumps(message), DelaySeconds=delay
    )
    logger.info("fine-tune upload not there yet", extra={"jobId": message["jobId"], "lookAgainInSeconds": delay})


def result_model_id(job_id: str) -> str:
    """Deterministic per job, so a redelivered message never stores a second model."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chargewatch:fine-tune:{job_id}"))


def process_job_message(message: dict[str, Any]) -> None:
    """One fine-tune job from the queue. Idempotent on the job id: only a `queued` job (or a
    `running` one whose worker died) is claimed; a finished job is acknowledged untouched."""
    from chargewatch.services import fine_tune  # numpy and the engine: the worker only

    organization_id, job_id = message["organizationId"], message["jobId"]
    job = models_dal.get_job(organization_id, job_id)
    if job is None or job.status in (SUCCEEDED, FAILED):
        return
    data_source = job.config.get("dataSource") or {}
    if data_source.get("type") == "upload" and job.status == QUEUED and not fine_tune.upload_exists(job.uploadKey):
        waited = clock.now() - clock.parse_iso(job.createdAt)
        if waited < timedelta(seconds=UPLOAD_URL_SECONDS):
            _look_again_later(message, UPLOAD_URL_SECONDS - waited.total_seconds())
            return
        models_dal.transition_job(
            job,
            (QUEUED,),
            {
                "status": FAILED,
                "completedAt": clock.iso_now(),
                "errorMessage": "no upload arrived before the upload URL expired",
            },
        )
        return
    now = clock.now()
    try:
        models_dal.transition_job(
            job,
            (QUEUED,),
            {"status": RUNNING, "startedAt": clock.to_iso(now)},
            extra_condition=(models_dal.FineTuneJobItem.status == RUNNING)
            & (models_dal.FineTuneJobItem.startedAt < clock.to_iso(now - STALE_RUN)),
        )
    except models_dal.TransitionRefused:
        return  # another worker has it (or finished it)
    model_id = result_model_id(job_id)
    try:
        outcome = fine_tune.train(organization_id, job, model_id)
    except fine_tune.FineTuneFailed as failure:
        _fail(job, str(failure), failure.metrics)
        return
    except Exception:
        logger.exception("fine-tune job crashed", extra={"jobId": job_id})
        _fail(job, "internal error while training; the job can be submitted again")
        return
    if models_dal.get_model(organization_id, model_id) is None:
        models_dal.put_model(
            organization_id,
            model_id,
            name=job.name,
            type="csar_2",
            version=outcome.version,
            baseModel=job.baseModelId,
            description=outcome.description,
            metrics=outcome.metrics,
            params=outcome.params,
            s3Path=outcome.s3_path,
            jobId=job_id,
            createdAt=clock.iso_now(),
        )
    models_dal.transition_job(
        job,
        (RUNNING,),
        {"status": SUCCEEDED, "resultModelId": model_id, "metrics": outcome.metrics, "completedAt": clock.iso_now()},
    )
