"""Request and response models of /v1/sessions/{session_id}/ask and /explain (camelCase)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from chargewatch.params import choice_pattern

LANGUAGES = ("en", "nl", "de")
# as services.explain.check_lang reads it: trimmed, any case, "" for the default
LANGUAGE_SCHEMA: JsonDict = {"pattern": choice_pattern(LANGUAGES, lenient=True)}


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1, max_length=2000, examples=["Why did the SoC drop unexpectedly?"])
    lang: str = Field(default="en", description="en, nl or de", json_schema_extra=LANGUAGE_SCHEMA)


class AskResponse(BaseModel):
    sessionId: str
    answer: str


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lang: str = Field(default="en", description="en, nl or de", json_schema_extra=LANGUAGE_SCHEMA)
    regenerate: bool = Field(default=False, strict=True)


class ExplainResponse(BaseModel):
    sessionId: str
    explanation: str
    cached: bool
