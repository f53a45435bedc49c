"""Tenant models (fine-tuned CSAR-2 parameter sets), fine-tune jobs and the active model.

- model:        PK `ORG#<org>#MODEL#<modelId>`    SK `MODEL`
                GSI1 `ORG#<org>#MODELS` / `<createdAt>#<modelId>` (list a tenant's models)
- job:          PK `ORG#<org>#FINETUNE#<jobId>`   SK `JOB`
- active model: PK `ORG#<org>#`                   SK `SETTINGS#MODEL` — the model every analysis of
                the tenant uses, with a copy of its parameters so an analysis costs one GetItem.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chargewatch.dal.table import GSI1, is_condition_failure, register, tenant_pk

MODEL_SK = "MODEL"
JOB_SK = "JOB"
ACTIVE_MODEL_SK = "SETTINGS#MODEL"


class TransitionRefused(Exception):
    """A job status transition's condition failed (another worker, or a final state)."""


@register
class ModelItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    by_tenant: GSI1[ModelItem] = GSI1()
    id = UnicodeAttribute()
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    version = UnicodeAttribute()
    baseModel = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    metrics = JSONAttribute(null=True)
    params = JSONAttribute()
    s3Path = UnicodeAttribute(null=True)
    jobId = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()


@register
class FineTuneJobItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    jobId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    baseModelId = UnicodeAttribute()
    config = JSONAttribute()  # trainingConfig and dataSource as submitted
    uploadKey = UnicodeAttribute(null=True)
    resultModelId = UnicodeAttribute(null=True)
    metrics = JSONAttribute(null=True)
    createdAt = UnicodeAttribute()
    startedAt = UnicodeAttribute(null=True)
    completedAt = UnicodeAttribute(null=True)
    errorMessage = UnicodeAttribute(null=True)


@register
class ActiveModelItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    modelId = UnicodeAttribute()
    modelVersion = UnicodeAttribute()
    params = JSONAttribute(null=True)
    updatedAt = UnicodeAttribute()


def model_key(organization_id: str, model_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "MODEL", model_id), MODEL_SK


def job_key(organization_id: str, job_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "FINETUNE", job_id), JOB_SK


# --------------------------------------------------------------------------- models


def put_model(organization_id: str, model_id: str, **attributes: Any) -> ModelItem:
    item = ModelItem(
        *model_key(organization_id, model_id),
        GSI1PK=tenant_pk(organization_id, "MODELS"),
        GSI1SK=f"{attributes['createdAt']}#{model_id}",
        id=model_id,
        **attributes,
    )
    item.save(condition=ModelItem.PK.does_not_exist())
    return item


def get_model(organization_id: str, model_id: str) -> ModelItem | None:
    try:
        return ModelItem.get(*model_key(organization_id, model_id), consistent_read=True)
    except ModelItem.DoesNotExist:
        return None


def list_models(organization_id: str) -> list[ModelItem]:
    return list(ModelItem.by_tenant.query(tenant_pk(organization_id, "MODELS"), scan_index_forward=False))


# --------------------------------------------------------------------------- active model


def get_active(organization_id: str) -> ActiveModelItem | None:
    try:
        return ActiveModelItem.get(tenant_pk(organization_id), ACTIVE_MODEL_SK, consistent_read=True)
    except ActiveModelItem.DoesNotExist:
        return None


def set_active(
    organization_id: str, model_id: str, model_version: str, params: dict[str, Any] | None, now: str
) -> None:
    ActiveModelItem(
        tenant_pk(organization_id),
        ACTIVE_MODEL_SK,
        modelId=model_id,
        modelVersion=model_version,
        params=params,
        updatedAt=now,
    ).save()


def clear_active(organization_id: str, model_id: str) -> bool:
    """Back to the base model, only if `model_id` is still the active one."""
    try:
        ActiveModelItem(tenant_pk(organization_id), ACTIVE_MODEL_SK).delete(
            condition=ActiveModelItem.modelId == model_id
        )
    except DeleteError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


# --------------------------------------------------------------------------- jobs


def put_job(organization_id: str, job_id: str, **attributes: Any) -> FineTuneJobItem:
    item = FineTuneJobItem(
        *job_key(organization_id, job_id), jobId=job_id, organizationId=organization_id, **attributes
    )
    try:
        item.save(condition=FineTuneJobItem.PK.does_not_exist())
    except PutError as error:
        if is_condition_failure(error):
            raise TransitionRefused(job_id) from error
        raise
    return item


def get_job(organization_id: str, job_id: str) -> FineTuneJobItem | None:
    try:
        return FineTuneJobItem.get(*job_key(organization_id, job_id), consistent_read=True)
    except FineTuneJobItem.DoesNotExist:
        return None


def transition_job(
    job: FineTuneJobItem,
    from_statuses: tuple[str, ...],
    changes: dict[str, Any],
    extra_condition: Condition | None = None,
) -> FineTuneJobItem:
    """Move a job between statuses only from one of `from_statuses` (idempotent processing)."""
    condition = FineTuneJobItem.status.is_in(*from_statuses)
    if extra_condition is not None:
        condition = condition | extra_condition
    actions = [
        getattr(FineTuneJobItem, name).remove() if value is None else getattr(FineTuneJobItem, name).set(value)
        for name, value in changes.items()
    ]
    try:
        job.update(actions=actions, condition=condition)
    except UpdateError as error:
        if is_condition_failure(error):
            raise TransitionRefused(job.jobId) from error
        raise
    return job
