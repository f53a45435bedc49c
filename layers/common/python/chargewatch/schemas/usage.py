"""Tenant usage: GET/POST /api/tenant-usage (field names as the published contract spells them)."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# JSON numbers only: "5" and true are not numbers (strict), NaN/Infinity are refused below
Delta = Annotated[float | None, Field(default=None, strict=True)]
MAX_METADATA_BYTES = 4096
MAX_DELTA = 10**15


class PlanLimits(BaseModel):
    storageBytes: int | None = Field(description="null = unlimited")
    aiTokens: int | None = Field(description="per billing month; null = unlimited")
    whatsappMessages: int | None = Field(description="per billing month; null = unlimited")


class Plan(BaseModel):
    id: str
    name: str
    limits: PlanLimits


class UsageCounters(BaseModel):
    storageBytes: int
    aiTokens: int
    whatsappMessages: int
    periodStart: str = Field(description="start of the billing month (UTC)")
    periodEnd: str = Field(description="end of the billing month (exclusive)")


class TenantUsage(BaseModel):
    tenantId: str
    plan: Plan
    usage: UsageCounters


class TenantUsageUpdated(BaseModel):
    ok: bool = True
    plan: Plan
    usage: UsageCounters


_DELTA_FIELDS = ("storageBytesDelta", "aiTokensDelta", "whatsappMessagesDelta")


def _delta_schema(minimum: int) -> dict[str, Any]:
    """A whole number (5.0 counts) within the bounds `_finite_whole` / `_not_negative` check, or null."""
    return {"anyOf": [{"type": "integer", "minimum": minimum, "maximum": MAX_DELTA}, {"type": "null"}]}


class UsageIncrementRequest(BaseModel):
    """At least one delta must be non-zero: checked by the service, which names the fields (and stated
    in the schema as an anyOf)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [field], "properties": {field: {"type": "integer", "not": {"const": 0}}}}
                for field in _DELTA_FIELDS
            ]
        },
    )

    storageBytesDelta: Delta = Field(
        default=None,
        description="bytes to add (positive) or release (negative); the counter floors at 0",
        json_schema_extra=_delta_schema(-MAX_DELTA),
    )
    aiTokensDelta: Delta = Field(
        default=None, description="AI tokens to add (not negative)", json_schema_extra=_delta_schema(0)
    )
    whatsappMessagesDelta: Delta = Field(
        default=None, description="WhatsApp messages to add (not negative)", json_schema_extra=_delta_schema(0)
    )
    reason: str | None = Field(default=None, max_length=200, description="logged with the usage event")
    metadata: dict[str, Any] | None = Field(
        default=None, description=f"logged with the usage event (at most {MAX_METADATA_BYTES} bytes as JSON)"
    )

    @field_validator("storageBytesDelta", "aiTokensDelta", "whatsappMessagesDelta")
    @classmethod
    def _finite_whole(cls, value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if value != int(value):
            raise ValueError("must be a whole number")
        if abs(value) > MAX_DELTA:
            raise ValueError("is too large")
        return value

    @field_validator("aiTokensDelta", "whatsappMessagesDelta")
    @classmethod
    def _not_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("must not be negative (only storage can be released)")
        return value

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return value
