"""Request and response models of /v1/sessions (seed 003: camelCase)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from chargewatch import meter_values
from chargewatch.pagination import Pagination

MAX_READINGS_PER_REQUEST = 50_000

_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._:@/+\-]*$"


def _int_to_str(value: Any) -> Any:
    # OCPP connector ids are integers; the API treats ids as strings, so accept both.
    if isinstance(value, bool):
        return value
    return str(value) if isinstance(value, int) else value


Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=_IDENTIFIER)]
OptionalId = Annotated[str | None, BeforeValidator(_int_to_str), Field(default=None, min_length=1, max_length=64)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
Status = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z][A-Za-z_\-]*$")]


class MeterValueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    timestamp: datetime
    value: FiniteNumber
    measurand: str | None = None
    unit: str | None = None
    phase: Literal[meter_values.PHASES] | None = None  # type: ignore[valid-type]
    location: Literal[meter_values.LOCATIONS] | None = None  # type: ignore[valid-type]
    reconstructed: bool | None = None

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, moment: datetime) -> datetime:
        # A timestamp without an offset is taken as UTC, as OCPP requires UTC anyway.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    @field_validator("measurand")
    @classmethod
    def _known_measurand(cls, measurand: str | None) -> str:
        try:
            return meter_values.canonical_measurand(measurand)
        except KeyError:
            raise ValueError(f"unknown measurand {measurand!r}") from None

    @model_validator(mode="after")
    def _unit_fits_measurand(self) -> MeterValueRequest:
        if self.measurand is None:
            self.measurand = meter_values.ENERGY_IMPORT_REGISTER
        try:
            self.unit = meter_values.canonical_unit(self.measurand, self.unit)
        except ValueError as error:
            raise ValueError(f"unit: {error}") from None
        if self.measurand == meter_values.SOC and not 0 <= self.value <= 100:
            raise ValueError("value: SoC must be between 0 and 100 percent")
        return self


class SessionMetadata(BaseModel):
    """Known keys are checked; other keys are kept as the operator sent them."""

    model_config = ConfigDict(extra="allow")

    maxPowerKw: Annotated[float, Field(gt=0, le=2000, allow_inf_nan=False)] | None = None
    batteryCapacityKwh: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None
    startSoc: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    currentType: Literal["AC", "DC"] | None = None


MeterValueList = Annotated[list[MeterValueRequest], Field(max_length=MAX_READINGS_PER_REQUEST)]


class CreateSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sessionId: Identifier
    chargingStationId: Identifier
    connectorId: OptionalId = None
    evseId: OptionalId = None
    meterValues: MeterValueList = Field(default_factory=list)
    metadata: SessionMetadata | None = None
    status: Status | None = None


class ReplaceSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meterValues: Annotated[list[MeterValueRequest], Field(min_length=1, max_length=MAX_READINGS_PER_REQUEST)]
    metadata: SessionMetadata | None = None
    status: Status | None = None


class AppendSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meterValues: MeterValueList = Field(default_factory=list)
    metadata: SessionMetadata | None = None
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
    reconstructed: bool | None = None


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
