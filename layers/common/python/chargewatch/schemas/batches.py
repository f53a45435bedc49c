"""Request and response models of /v1/sessions/batch (camelCase)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from chargewatch import limits
from chargewatch.schemas.sessions import CreateSessionRequest, SessionResult

MAX_SESSIONS_PER_BATCH = limits.MAX_SESSIONS_PER_BATCH

BatchStatus = Literal["pending", "processing", "completed", "completed_with_failures"]


class SubmitBatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Each session is validated on its own by the service (SkipValidation keeps the documented
    # schema): one malformed session must not reject the valid ones sent with it.
    sessions: Annotated[
        list[SkipValidation[CreateSessionRequest]],
        Field(
            min_length=1,
            max_length=MAX_SESSIONS_PER_BATCH,
            description="validated one by one: an invalid session becomes a failed result of the batch at "
            "its index, whose message names the field (sessions[3].meterValues[0].value: ...), and the valid "
            "ones are processed; 400 only when no session is valid",
        ),
    ]


class BatchSubmitted(BaseModel):
    batchId: str
    totalSessions: int = Field(
        description="every submitted session; invalid ones are already failed results of the batch"
    )
    status: BatchStatus


class BatchStatusResponse(BaseModel):
    batchId: str
    status: BatchStatus = Field(
        description="pending (stored, nothing processed yet) -> processing -> completed "
        "(every session analysed) or completed_with_failures (some failed: "
        "see results[].message)"
    )
    totalSessions: int
    processedSessions: int = Field(description="sessions stored and analysed")
    failedSessions: int = Field(description="sessions that could not be processed (reason in results[].message)")
    results: list[SessionResult] = Field(
        description="the sessions at positions page*pageSize ... of the submit "
        "that have an outcome already, in submit order"
    )
    page: int
    pageSize: int
    createdAt: str
    completedAt: str | None = None
