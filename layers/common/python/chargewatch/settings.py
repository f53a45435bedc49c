"""Environment settings, parsed once per cold start into one model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chargewatch.limits import MAX_BODY_BYTES


class Settings(BaseSettings):
    """Each field reads the environment variable of its name in upper case (AWS_REGION falls back
    to AWS_DEFAULT_REGION, plan_limits_json reads PLAN_LIMITS); an empty variable means unset."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    stage: str = "dev"
    table_name: str = "chargewatch"
    batch_queue_url: str | None = None
    payload_bucket: str | None = None
    # "test" keys for dev/local, "live" for prod: the environment is visible in the key itself.
    api_key_env: str = "test"
    aws_region: str = Field(default="eu-west-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    # Set to reach moto/LocalStack instead of AWS (botocore honours it too).
    aws_endpoint_url: str | None = None
    # DynamoDB alone elsewhere (botocore's per-service variable): the local emulator's DynamoDB Local.
    aws_endpoint_url_dynamodb: str | None = None
    # API Gateway and Lambda cap payloads at 6 MB; we refuse bigger bodies with a clear 413.
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0)
    # How long the authorizer may keep a verified key in memory before looking it up again.
    auth_cache_ttl_seconds: float = Field(default=30.0, ge=0, le=60)
    # Local tooling only: accept API keys without our checksum (a DEMO_API_KEY chosen by hand).
    api_key_checksum_required: bool = True
    # Webhook deliveries: the queue every attempt goes through, and where exhausted ones land.
    webhook_queue_url: str | None = None
    webhook_dlq_url: str | None = None
    # Local mode only: lets webhooks target http://127.0.0.1 receivers (tests, `make run` demos).
    # Never set in a deployed stage: there every webhook must be https to a public address.
    webhook_allow_local_http: bool = False
    # Longest SQS DelaySeconds a retry uses (SQS caps it at 900; longer waits are chained).
    # Tests that fake the clock set 0 so a scheduled message is visible at once.
    webhook_max_delay_seconds: int = Field(default=900, ge=0, le=900)
    # SHADE station-day fan-out: the scheduler and the worker put work on this queue.
    shade_queue_url: str | None = None
    # Fine-tuning jobs: the queue the worker consumes.
    fine_tune_queue_url: str | None = None
    # Where clients PUT a presigned upload when it is not where this process reaches S3 (the local
    # emulator: its moto server, http://127.0.0.1:4566). Unset: the S3 endpoint of the stack.
    s3_public_endpoint_url: str | None = None
    # Ask/explain: "grounded" (offline, deterministic) unless Bedrock is configured.
    explain_provider: str = "grounded"
    bedrock_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    # Identity: Cognito user pool tokens. The JWKS URL is separate from the issuer because
    # locally (moto) the issuer names the real AWS URL while the keys are served by the emulator.
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_issuer: str | None = None
    cognito_jwks_url: str | None = None
    # Plan limits override (JSON: {"free": {"storageBytes": ..., "aiTokensPerMonth": ...}}), merged
    # over chargewatch.services.usage.PLAN_LIMITS.
    plan_limits_json: str | None = Field(default=None, validation_alias="PLAN_LIMITS")
    # GET /api/tenants/{id}/switch redirect targets.
    switch_redirect_success: str = "/excel"
    switch_redirect_unauthenticated: str = "/"
    switch_redirect_forbidden: str = "/onboarding"

    @field_validator("explain_provider", mode="before")
    @classmethod
    def _provider_name(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: the process environment)."""
        if environ is None:
            return cls()
        saved = dict(os.environ)
        try:  # pydantic-settings reads os.environ; a given mapping stands in for it
            os.environ.clear()
            os.environ.update(environ)
            return cls()
        finally:
            os.environ.clear()
            os.environ.update(saved)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()


def reload_settings() -> Settings:
    """Re-read the environment (tests and the local emulator change it at run time)."""
    get_settings.cache_clear()
    return get_settings()
