"""Request and response models of /v1/models and /v1/models/fine-tune (camelCase)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chargewatch.schemas.fields import Identifier, Timestamp

DATA_SOURCE_TYPES = ("sessions", "upload")


class ModelSummary(BaseModel):
    id: str
    name: str
    type: str = Field(examples=["csar_2"])
    version: str
    isBase: bool
    baseModel: str | None = None
    metrics: dict[str, Any] | None = None
    status: str = Field(examples=["active"], description="`active` for the tenant's active model, else `available`")
    createdAt: str


class ModelDetail(ModelSummary):
    s3Path: str | None = None
    description: str | None = None


class ModelList(BaseModel):
    models: list[ModelSummary]


class UpdateModelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool = Field(
        strict=True, description="true: later analyses of this tenant use this model; false: back to the base model"
    )


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holdoutFraction: float = Field(
        default=0.3, strict=True, allow_inf_nan=False, ge=0.1, le=0.5, description="share of labelled sessions held out"
    )
    seed: int = Field(default=0, strict=True, ge=0, description="seed of the deterministic train/holdout split")
    maxSessions: int = Field(default=2000, strict=True, ge=20, le=5000)


class SessionFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chargingStationIds: list[Identifier] | None = Field(default=None, max_length=100)
    # UTC-normalised, so an offset-less bound compares with one that has an offset
    dateFrom: Timestamp | None = None
    dateTo: Timestamp | None = None

    @model_validator(mode="after")
    def _range(self) -> SessionFilter:
        if self.dateFrom and self.dateTo and self.dateFrom > self.dateTo:
            raise ValueError("dateFrom must not be after dateTo")
        return self


class DataSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["sessions", "upload"] = Field(
        description="`sessions`: stored sessions labelled by the issue "
        "workflow; `upload`: JSON lines through the returned uploadUrl"
    )
    sessionFilter: SessionFilter | None = None


class FineTuneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseModelId: str = Field(min_length=1, max_length=64, examples=["csar-2"])
    name: str = Field(min_length=1, max_length=200)
    trainingConfig: TrainingConfig | None = None
    dataSource: DataSource


class FineTuneCreated(BaseModel):
    jobId: str
    status: str = Field(examples=["queued"])
    baseModelId: str
    createdAt: str
    uploadUrl: str | None = Field(default=None, description="upload source only: presigned S3 PUT for the JSON lines")
    uploadExpiresAt: str | None = None


class FineTuneJob(BaseModel):
    jobId: str
    status: str = Field(examples=["queued"], description="queued, running, succeeded or failed")
    baseModelId: str
    resultModelId: str | None
    config: dict[str, Any]
    createdAt: str
    startedAt: str | None
    completedAt: str | None
    errorMessage: str | None
    metrics: dict[str, Any] | None = Field(
        default=None, description="base and tuned precision/recall/F1 on the holdout"
    )
