"""Request and response models of /v1/sessions (camelCase)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from chargewatch import limits, meter_values
from chargewatch.pagination import Pagination
from chargewatch.schemas.fields import (
    NOT_A_BOOLEAN,
    Identifier,
    MetadataSizeCheck,
    MeterReading,
    Status,
    SubIdentifier,
    Timestamp,
    field_error,
)

MAX_READINGS_PER_REQUEST = limits.MAX_READINGS_PER_REQUEST

OptionalId = SubIdentifier


class MeterValueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    timestamp: Timestamp
    value: MeterReading
    # Any letter case and surrounding blanks are accepted; the pattern says so (documentation only:
    # the validators below give the clearer message).
    measurand: str | None = Field(
        default=None, max_length=64, json_schema_extra={"pattern": meter_values.MEASURAND_PATTERN}
    )
    unit: str | None = Field(default=None, max_length=32, json_schema_extra={"pattern": meter_values.UNIT_PATTERN})
    phase: Literal[meter_values.PHASES] | None = None  # type: ignore[valid-type]
    location: Literal[meter_values.LOCATIONS] | None = None  # type: ignore[valid-type]
    reconstructed: StrictBool | None = None

    @field_validator("measurand")
    @classmethod
    def _known_measurand(cls, measurand: str | None) -> str:
        try:
            return meter_values.canonical_measurand(measurand)
        except KeyError:
            raise ValueError(f"unknown measurand {measurand!r}") from None

    @model_validator(mode="after")
    def _unit_and_value_fit_measurand(self) -> MeterValueRequest:
        if self.measurand is None:
            self.measurand = meter_values.ENERGY_IMPORT_REGISTER
        try:
            self.unit = meter_values.canonical_unit(self.measurand, self.unit)
        except ValueError as error:
            raise field_error("unit", str(error)) from None
        problem = meter_values.check_value(self.measurand, self.unit, self.value)
        if problem is not None:
            raise field_error("value", problem, code="value_out_of_range")
        return self


class SessionMetadata(BaseModel):
    """Known keys are checked; other keys are kept as the operator sent them."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"description": f"at most {limits.MAX_METADATA_BYTES} bytes as JSON"},
    )

    maxPowerKw: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=2000), NOT_A_BOOLEAN] | None = None
    batteryCapacityKwh: (
        Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1000), NOT_A_BOOLEAN] | None
    ) = None
    startSoc: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=100), NOT_A_BOOLEAN] | None = None
    currentType: Literal["AC", "DC"] | None = None


Metadata = Annotated[SessionMetadata, MetadataSizeCheck]


MeterValueList = Annotated[list[MeterValueRequest], Field(max_length=MAX_READINGS_PER_REQUEST)]


class CreateSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sessionId: Identifier
    chargingStationId: Identifier
    connectorId: OptionalId = None
    evseId: OptionalId = None
    meterValues: MeterValueList = Field(default_factory=list)
    metadata: Metadata | None = None
    status: Status | None = None


class ReplaceSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meterValues: Annotated[list[MeterValueRequest], Field(min_length=1, max_length=MAX_READINGS_PER_REQUEST)]
    metadata: Metadata | None = None
    status: Status | None = None


class AppendSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meterValues: MeterValueList = Field(default_factory=list)
    metadata: Metadata | None = None
    status: Status | None = None


# ------------------------------------------------------------------ responses


class BucketRange(BaseModel):
    startUnit: int
    endUnit: int


class TimeRange(BaseModel):
    startTimestamp: str | None = None
    endTimestamp: str | None = None


class Anomaly(BaseModel):
    category: str
    score: float
    confidence: float
    bucketRange: BucketRange
    timeRange: TimeRange | None = None
    details: dict[str, Any] | None = None


class SessionResult(BaseModel):
    sessionId: str
    status: str
    chargingStationId: str | None = None
    connectorId: str | None = None
    evseId: str | None = None
    isAnomaly: bool | None = None
    anomalyScore: float | None = None
    anomalyConfidence: float | None = None
    isIncident: bool | None = None
    isRecurring: bool | None = None
    anomalies: list[Anomaly] = Field(default_factory=list)
    analyzedAt: str | None = None
    socReconstructed: bool | None = None
    message: str | None = None
    meterValueCount: int = 0
    createdAt: str | None = None


class MeterValue(BaseModel):
    timestamp: str
    value: float
    measurand: str | None = None
    unit: str | None = None
    phase: str | None = None
    location: str | None = None
    reconstructed: StrictBool | None = None


class SessionDetail(SessionResult):
    meterValues: list[MeterValue] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    updatedAt: str | None = None


class SessionListItem(BaseModel):
    sessionId: str
    chargingStationId: str
    connectorId: str | None = None
    evseId: str | None = None
    isAnomaly: bool
    anomalyScore: float
    anomalyConfidence: float | None = None
    anomalyCount: int
    status: str
    createdAt: str
    startedAt: str
    lastAnalyzedAt: str | None = None


class SessionPage(BaseModel):
    content: list[SessionListItem]
    pagination: Pagination
